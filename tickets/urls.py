from django.urls import path

from tickets import chat_window_views, views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox_index, name="index"),
    path("list.json", views.inbox_list_json, name="list-json"),
    path("availability", views.availability_view, name="availability"),
    path("preferences", views.inbox_preferences_view, name="preferences"),
    path("c/<int:pk>/", views.conversation_page, name="conversation"),
    path("c/<int:pk>/poll.json", views.conversation_poll, name="poll"),
    path("c/<int:pk>/reply", views.conversation_reply_view, name="reply"),
    path("c/<int:pk>/template", views.conversation_template_view, name="template"),
    path("c/<int:pk>/transfer", views.conversation_transfer_view, name="transfer"),
    path("c/<int:pk>/close", views.conversation_close_view, name="close"),
    path("m/<int:pk>/media", views.message_media, name="media"),
    path("chat-window/", chat_window_views.chat_window_view, name="chat-window"),
]
