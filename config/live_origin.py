"""The inbox's WebSocket opens only from Switchboard's own pages: the browser's Origin must be
the host it connects to (or a CSRF-trusted origin behind a proxy). Unlike a form post, a socket
has no CSRF token, so without this any site could open one with the agent's session cookie."""

from urllib.parse import urlparse

from channels.security.websocket import WebsocketDenier
from django.conf import settings


class SameOriginOnly:
    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin1")
        host = headers.get(b"host", b"").decode("latin1")
        allowed = origin and (
            urlparse(origin).netloc == host or origin in settings.CSRF_TRUSTED_ORIGINS
        )
        if not allowed:
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)
