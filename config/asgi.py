"""One ASGI server for HTTP and the inbox's WebSocket (uvicorn in the Procfile)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi = get_asgi_application()  # sets Django up before the consumers are imported

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from config.live_origin import SameOriginOnly  # noqa: E402
from tickets.consumers import InboxConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi,
        # Same-origin pages only (a foreign site cannot ride the agent's session cookie).
        "websocket": SameOriginOnly(
            AuthMiddlewareStack(URLRouter([path("inbox/live", InboxConsumer.as_asgi())]))
        ),
    }
)
