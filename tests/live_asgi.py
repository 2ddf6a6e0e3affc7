"""An ASGI live server for browser tests of the inbox's WebSocket: uvicorn, as `make run` and
production serve it, in a thread of the test process (so it shares the test database and the
in-memory channel layer), with the sandbox pointed at it."""

import socket
import threading
import time

import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AsgiServer:
    def __init__(self):
        import uvicorn
        from channels.routing import ProtocolTypeRouter
        from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

        from config.asgi import application as served

        # As the WSGI live server does: static files from the apps, with DEBUG off.
        application = ProtocolTypeRouter(
            {
                "http": ASGIStaticFilesHandler(served.application_mapping["http"]),
                "websocket": served.application_mapping["websocket"],
            }
        )

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            ws="websockets-sansio",
            lifespan="off",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def asgi_server(transactional_db, settings):
    server = AsgiServer()
    server.start()
    url = server.url
    settings.SANDBOX_ENABLED = True
    settings.PUBLIC_BASE_URL = url
    settings.GRAPH_API_BASE_URL = f"{url}/sandbox/graph"
    settings.TWILIO_API_BASE_URL = f"{url}/sandbox/twilio/api"
    settings.TWILIO_CONTENT_API_BASE_URL = f"{url}/sandbox/twilio/content"
    settings.TELEGRAM_API_BASE_URL = f"{url}/sandbox/telegram"
    settings.WAZZUP_API_BASE_URL = f"{url}/sandbox/wazzup"
    settings.SANDBOX_STATUS_DELAY = 0.05
    yield url
    server.stop()


@pytest.fixture
def asgi_page_for(browser, asgi_server):
    """Log a user in on the ASGI server; returns the page once the inbox's socket is up."""
    contexts = []

    def login(user, *, live=True, permissions=()):
        context = browser.new_context(viewport={"width": 1280, "height": 860}, locale="en-US")
        if permissions:
            context.grant_permissions(list(permissions), origin=asgi_server)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        page.goto(f"{asgi_server}/inbox/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.wait_for_url(f"{asgi_server}/inbox/")
        if live:
            # Set once the socket is open and its catch-up read is over.
            page.wait_for_selector("html[data-live=up]", state="attached")
        return page

    yield login
    for context in contexts:
        context.close()
