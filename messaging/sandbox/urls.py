"""Sandbox URLs. Graph paths take no trailing slash, like graph.facebook.com (one is tolerated)."""

from django.urls import include, path, re_path

from messaging.sandbox import views

app_name = "sandbox"

GRAPH = r"^graph/(?P<version>v[0-9.]+)/"
# The customer: a phone's digits, or a WhatsApp username (emulator.customer_key).
CHAT = r"^chat/(?P<phone_number_id>[^/]+)/(?P<wa_id>[0-9]+|[a-z0-9._]+)/"

urlpatterns = [
    path("", include("messaging.sandbox.wazzup_urls")),
    path("", views.index, name="index"),
    path("twilio/", include("messaging.sandbox.twilio_urls")),
    path("telegram/", include("messaging.sandbox.telegram_urls")),
    re_path(CHAT + r"$", views.chat, name="chat"),
    re_path(CHAT + r"state$", views.chat_state, name="chat_state"),
    re_path(CHAT + r"send$", views.chat_send, name="chat_send"),
    re_path(r"^media/(?P<media_id>[0-9]+)/download$", views.media_download, name="media_download"),
    re_path(GRAPH + r"(?P<phone_number_id>[^/]+)/messages/?$", views.graph_messages),
    re_path(GRAPH + r"(?P<phone_number_id>[^/]+)/media/?$", views.graph_media_upload),
    re_path(GRAPH + r"(?P<waba_id>[^/]+)/message_templates/?$", views.graph_templates),
    re_path(GRAPH + r"(?P<object_id>[^/]+)/?$", views.graph_object),
]
