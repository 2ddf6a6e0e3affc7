from django.urls import path

from accounts import auth_views
from tickets import chat_window_views, report_views, views

app_name = "inbox"

urlpatterns = [
    path("", views.inbox_index, name="index"),
    path("list.json", views.inbox_list_json, name="list-json"),
    path("availability", views.availability_view, name="availability"),
    path("c/<int:pk>/", views.conversation_page, name="conversation"),
    path("c/<int:pk>/poll.json", views.conversation_poll, name="poll"),
    path("c/<int:pk>/reply", views.conversation_reply_view, name="reply"),
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
