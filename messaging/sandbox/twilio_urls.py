"""The sandbox's Twilio, under /sandbox/twilio/: `api/` stands for https://api.twilio.com
(TWILIO_API_BASE_URL), `content/` for https://content.twilio.com (TWILIO_CONTENT_API_BASE_URL),
and the rest is the customer's phone."""

from django.urls import path, re_path

from messaging.sandbox import twilio_views as views

app_name = "twilio"

ACCOUNT = r"^api/2010-04-01/Accounts/(?P<account_sid>AC[0-9a-fA-F]{32})"
CHAT = r"^chat/(?P<sender>[0-9]+)/(?P<phone>[0-9]+)/"
MEDIA = r"/Messages/(?P<message_sid>[A-Z]{2}[0-9a-f]{32})/Media/(?P<media_sid>ME[0-9a-f]{32})$"

urlpatterns = [
    path("", views.index, name="index"),
    re_path(CHAT + r"$", views.chat, name="chat"),
    re_path(CHAT + r"state$", views.chat_state, name="chat_state"),
    re_path(CHAT + r"send$", views.chat_send, name="chat_send"),
    re_path(ACCOUNT + r"\.json$", views.account, name="account"),
    re_path(ACCOUNT + r"/Messages\.json$", views.messages, name="messages"),
    re_path(
        ACCOUNT
        + r"/Messages/(?P<message_sid>[A-Z]{2}[0-9a-f]{32})/Media/(?P<media_sid>ME[0-9a-f]{32})$",
        views.media,
        name="media",
    ),
    re_path(r"^content/v1/Content$", views.content_list, name="content_list"),
    re_path(
        r"^content/v1/Content/(?P<content_sid>HX[0-9a-fA-F]{32})/ApprovalRequests$",
        views.content_approvals,
        name="content_approvals",
    ),
]
