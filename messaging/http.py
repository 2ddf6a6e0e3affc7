"""The one seam for outbound HTTP. Tests patch `request`; providers and connectors call it."""

import requests
from django.conf import settings

USER_AGENT = "Switchboard/0.1"

_session = requests.Session()


class HttpFailure(Exception):
    """The request never got an HTTP answer (connection refused, timeout, DNS)."""

    def __init__(self, message: str, *, timeout: bool = False):
        super().__init__(message)
        self.timeout = timeout


def request(method: str, url: str, *, timeout: float | None = None, **kwargs) -> requests.Response:
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        return _session.request(
            method,
            url,
            headers=headers,
            timeout=timeout or settings.HTTP_TIMEOUT_SECONDS,
            **kwargs,
        )
    except requests.Timeout as exc:
        raise HttpFailure(f"{method} {url}: timed out", timeout=True) from exc
    except requests.RequestException as exc:
        raise HttpFailure(f"{method} {url}: {type(exc).__name__}") from exc


def session_close() -> None:
    """Drop the pooled connections (they reopen on the next request)."""
    _session.close()
