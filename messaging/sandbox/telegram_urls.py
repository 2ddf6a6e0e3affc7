"""Sandbox URLs for Telegram: the Bot API as api.telegram.org lays it out, and the customer's
chat pages."""

from django.urls import path, re_path

from messaging.sandbox import telegram_views as views

app_name = "telegram"

TOKEN = r"(?P<token>[^/]+)"  # noqa: S105 (a URL pattern)
CHAT = r"^chat/(?P<bot_id>[0-9]+)/(?P<user_id>[0-9]+)/"

urlpatterns = [
    path("", views.index, name="index"),
    re_path(CHAT + r"$", views.chat, name="chat"),
    re_path(CHAT + r"state$", views.chat_state, name="chat_state"),
    re_path(CHAT + r"send$", views.chat_send, name="chat_send"),
    re_path(r"^file/bot" + TOKEN + r"/(?P<path>.+)$", views.file_download, name="file"),
    re_path(r"^bot" + TOKEN + r"/(?P<method>[A-Za-z]+)/?$", views.bot_method, name="bot_method"),
]
