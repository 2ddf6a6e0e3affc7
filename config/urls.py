from django.contrib import admin
from django.urls import include, path

from config import health
from messaging import webhooks

admin.site.site_header = "Switchboard"
admin.site.site_title = "Switchboard"
admin.site.index_title = "Operator console"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("inbox/", include("tickets.urls")),
    path("webhooks/whatsapp/<uuid:account_key>/", webhooks.whatsapp, name="webhook-whatsapp"),
]

# The sandbox views answer 404 unless SANDBOX_ENABLED, so including them always is safe.
urlpatterns.append(path("sandbox/", include("messaging.sandbox.urls")))
