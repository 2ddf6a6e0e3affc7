"""Settings for `make bench-push`: production-like (DEBUG off) plus a count of every SQL
statement the web process runs, read at /bench/queries (a view that runs none itself)."""

import os
import threading

os.environ.setdefault("DEBUG", "False")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")

from config.settings import *  # noqa: F403

ROOT_URLCONF = "tests.bench.push_urls"
WHITENOISE_USE_FINDERS = True  # the inbox's script and styles without a collectstatic step

QUERY_COUNT = {"n": 0}
_lock = threading.Lock()


def _count(execute, sql, params, many, context):
    with _lock:
        QUERY_COUNT["n"] += 1
    return execute(sql, params, many, context)


def _counted(sender, connection, **kwargs):
    if _count not in connection.execute_wrappers:
        connection.execute_wrappers.append(_count)


from django.db.backends.signals import connection_created  # noqa: E402

connection_created.connect(_counted)

# Served from the apps' folders: no collected manifest to look names up in.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
