"""The Wazzup sandbox: /sandbox/wazzup/v3/... answers like api.wazzup24.com/v3/."""

from django.urls import path

from messaging.sandbox import wazzup_views as views

urlpatterns = [
    path("wazzup/", views.index, name="wazzup_index"),
    path("wazzup/act/", views.act, name="wazzup_act"),
    path("wazzup/iframe/<str:token>/", views.iframe_page, name="wazzup_iframe"),
    path("wazzup/v3/channels", views.channels),
    path("wazzup/v3/webhooks", views.webhooks),
    path("wazzup/v3/message", views.message),
    path("wazzup/v3/iframe", views.iframe),
    path("wazzup/v3/<str:route>/bulk_delete", views.entities_bulk_delete),
    path("wazzup/v3/<str:route>", views.entities),
]
