"""The one seam for outbound HTTP. Tests patch `request`; providers and connectors call it."""

from urllib.parse import urlsplit

import requests
from django.conf import settings

USER_AGENT = "Switchboard/0.1"


class _Session(requests.Session):
    """requests reads the proxy environment and matches no_proxy on every request, a good part
    of a send's CPU at a channel's full rate; the environment does not change while we run, so
    it is read once per host."""

    def __init__(self):
        super().__init__()
        self._environment: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        if key not in self._environment:
            self._environment[key] = super().merge_environment_settings(
                url, proxies, stream, verify, cert
            )
        found = self._environment[key]
        return {**found, "proxies": dict(found["proxies"])}


_session = _Session()
# Kept-alive connections per host, shared by a delivery drain's sending threads (see
# services/delivery.py, OUTBOUND_SEND_THREADS each): enough that none of them opens a fresh
# connection per send, with two channels of one provider sending at once.
_session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=64))
_session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=64))


class RemoteError(Exception):
    """A call to a remote platform (messaging provider or connector) failed.

    `permanent` errors will fail again if retried; the others may succeed later, after
    `retry_after` seconds when the platform said so. `credentials_invalid` marks the account
    unhealthy. `code` is the platform's own error code when it gave one; `raw` its answer.
    The subclasses differ only in their default: a provider error is transient unless marked
    permanent, a connector error permanent unless marked transient.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | str | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
        credentials_invalid: bool = False,
        raw: dict | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.permanent = permanent
        self.retry_after = retry_after
        self.credentials_invalid = credentials_invalid
        self.raw = raw or {}

    @property
    def transient(self) -> bool:
        return not self.permanent


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
