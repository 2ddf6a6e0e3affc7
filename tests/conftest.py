import pytest
from django.db import connection

pytest_plugins = ["tests.browser", "tests.live_asgi"]


def pytest_collection_modifyitems(config, items):
    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (as .ci/run does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def forget_webhook_accounts():
    # Per-process caches must not carry an account from one test's rolled-back data to the next.
    from messaging.webhook_accounts import webhook_accounts_forget

    webhook_accounts_forget()
    yield
    webhook_accounts_forget()


@pytest.fixture(autouse=True)
def live_traffic_stopped():
    # Nothing a test started may outlive it: the sandbox's status threads would post to a server
    # (and a database) the next test no longer has, and a kept-alive outbound connection holds a
    # live-server thread, with its database connection, open past the end of the session.
    yield
    from messaging import http
    from messaging.sandbox import emulator, telegram, wazzup

    emulator.reset()
    telegram.reset()
    wazzup.reset()
    http.session_close()
