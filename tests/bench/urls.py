"""Every route of config.urls, plus the ceiling view (reachable only under bench.settings)."""

from django.urls import include, path

from tests.bench import ceiling

urlpatterns = [
    path("", include("config.urls")),
    path("bench/ceiling/<uuid:account_key>/", ceiling.webhook, name="bench-ceiling"),
]
