from django.contrib import admin
from django.urls import include, path
from django.utils.translation import gettext_lazy
from django.views import defaults

from config import health
from config.api_errors import api_error_page, api_not_found, api_server_error, is_api_path
from messaging import document_views, live_relay, webhooks

admin.site.site_header = "Switchboard"
admin.site.site_title = "Switchboard"
admin.site.index_title = gettext_lazy("Operator console")

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("inbox/", include("tickets.urls")),
    path("live/relay", live_relay.live_relay_view, name="live-relay"),
    *webhooks.webhook_urlpatterns(),
    path("api/", include("config.api_urls")),
    path("documents/<str:signed>/", document_views.document_fetch, name="document-fetch"),
    path("widget/", include("messaging.widget_urls")),
]


# API clients get the API's error shape; people get Django's pages. These run for what Django
# itself refuses before or outside a DRF view (a bad Host header, an oversized upload, ...).


def handler400(request, exception=None, *args, **kwargs):
    if is_api_path(request):
        return api_error_page(request, status_code=400, message="Bad request.")
    return defaults.bad_request(request, exception)


def handler403(request, exception=None, *args, **kwargs):
    if is_api_path(request):
        return api_error_page(request, status_code=403, message="Forbidden.")
    return defaults.permission_denied(request, exception)


def handler404(request, exception=None, *args, **kwargs):
    if is_api_path(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request, *args, **kwargs):
    if is_api_path(request):
        return api_server_error(request)
    return defaults.server_error(request)


# The sandbox views answer 404 unless SANDBOX_ENABLED, so including them always is safe.
urlpatterns.append(path("sandbox/", include("messaging.sandbox.urls")))
