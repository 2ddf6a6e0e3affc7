from django.urls import path

from accounts import auth_views
from tickets import chat_window_views, report_views, views, views_inbox

app_name = "inbox"

urlpatterns = [
    path("", views.inbox_index, name="index"),
    path("list.json", views.inbox_list_json, name="list-json"),
    path("availability", views.availability_view, name="availability"),
    path("preferences", views.inbox_preferences_view, name="preferences"),
    path("c/<int:pk>/", views.conversation_page, name="conversation"),
    path("c/<int:pk>/poll.json", views.conversation_poll, name="poll"),
    path("c/<int:pk>/reply", views_inbox.conversation_reply_view, name="reply"),
    path("c/<int:pk>/canned.json", views_inbox.canned_json, name="canned"),
    path("c/<int:pk>/note", views_inbox.note_add, name="note"),
    path("c/<int:pk>/notes.json", views_inbox.notes_json, name="notes"),
    path("c/<int:pk>/labels", views_inbox.label_change, name="labels"),
    path("c/<int:pk>/ticket", views_inbox.ticket_change, name="ticket"),
    path("c/<int:pk>/contact", views_inbox.contact_change, name="contact"),
    path("c/<int:pk>/template", views.conversation_template_view, name="template"),
    path("c/<int:pk>/transfer", views.conversation_transfer_view, name="transfer"),
    path("c/<int:pk>/close", views.conversation_close_view, name="close"),
    path("m/<int:pk>/media", views.message_media, name="media"),
    path("chat-window/", chat_window_views.chat_window_view, name="chat-window"),
    path("login/", auth_views.login_view, name="login"),
    path("logout/", auth_views.logout_view, name="logout"),
    path("language", auth_views.language_view, name="language"),
    path("password-reset/", auth_views.password_reset_view, name="password-reset"),
    path("password-reset/sent/", auth_views.password_reset_done_view, name="password-reset-done"),
    path(
        "password-reset/<uidb64>/<token>/",
        auth_views.password_reset_confirm_view,
        name="password-reset-confirm",
    ),
    path(
        "password-reset/done/",
        auth_views.password_reset_complete_view,
        name="password-reset-complete",
    ),
    path("reports/", report_views.reports_page, name="reports"),
    path("reports/<str:report>.csv", report_views.report_csv, name="report-csv"),
]
