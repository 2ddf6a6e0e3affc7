from django.contrib import admin
from django.urls import include, path

from config import health
from config.api_errors import api_server_error
from messaging import document_views, webhooks

admin.site.site_header = "Switchboard"
admin.site.site_title = "Switchboard"
admin.site.index_title = "Operator console"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("inbox/", include("tickets.urls")),
    path("webhooks/whatsapp/<uuid:account_key>/", webhooks.whatsapp, name="webhook-whatsapp"),
    path("api/", include("config.api_urls")),
    path("documents/<str:signed>/", document_views.document_fetch, name="document-fetch"),
]


def handler500(request, *args, **kwargs):
    # API clients get the API's error shape; people get Django's page.
    if request.path.startswith("/api/"):
        return api_server_error(request)
    from django.views.defaults import server_error

    return server_error(request)


# The sandbox views answer 404 unless SANDBOX_ENABLED, so including them always is safe.
urlpatterns.append(path("sandbox/", include("messaging.sandbox.urls")))
