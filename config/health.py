"""`GET /healthz`: is the database reachable, and is the task broker?"""

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from django_q.brokers import get_broker


def _database_state() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "vendor": connection.vendor}


def _broker_state() -> dict:
    try:
        broker = get_broker()
        # The ORM broker's ping() is always true; queue_size() touches the real queue for both.
        if not broker.ping():
            return {"ok": False, "error": "broker did not answer ping"}
        queued = broker.queue_size()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "broker": broker.info(), "queued": queued}


@never_cache
@require_GET
def healthz(request):
    checks = {"database": _database_state(), "broker": _broker_state()}
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503
    )
