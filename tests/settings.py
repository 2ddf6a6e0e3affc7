"""The test override: a fast password hasher and tasks run inline. Everything else is real."""

from config.settings import *  # noqa: F403
from config.settings import Q_CLUSTER

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
Q_CLUSTER = {**Q_CLUSTER, "sync": True}
# Inline tasks run inside the test's transaction, which other threads' connections cannot see;
# tests of the threaded sender set it themselves on committed data.
OUTBOUND_SEND_THREADS = 1

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, as `make run` uses, not the shared-cache in-memory database: there the live server's
    # threads and the test's own queries take table locks on one another ("database table is
    # locked"), which WAL and the busy timeout never see.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "db.sqlite3-test")}  # noqa: F405
