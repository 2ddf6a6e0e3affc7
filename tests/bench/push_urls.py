"""Every route of config.urls, plus the web process's SQL statement count (bench only)."""

from django.conf import settings
from django.http import JsonResponse
from django.urls import include, path


def queries(request):
    return JsonResponse({"queries": settings.QUERY_COUNT["n"]})


urlpatterns = [
    path("", include("config.urls")),
    path("bench/queries", queries),
]
