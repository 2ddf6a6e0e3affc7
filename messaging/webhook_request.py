"""The whole webhook request, as a provider needs it to verify and parse.

Providers sign different parts: Meta signs the raw body, Twilio the full URL plus the form
parameters, Telegram sends a secret header. So every provider gets all of it, read once and never
re-serialised. `request.POST` is never touched: Django would parse (and buffer) the body again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpRequest, QueryDict
from django.utils.datastructures import CaseInsensitiveMapping

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str  # "GET" | "POST"
    # As the provider signed it: PUBLIC_BASE_URL (the address configured at the provider, which a
    # proxy in front of us may not pass on) + path + query string.
    url: str
    headers: Mapping[str, str]  # case-insensitive
    body: bytes  # raw bytes, exactly as received
    form: QueryDict  # the parsed body for form-encoded requests; empty otherwise
    query: QueryDict  # GET parameters (Meta's hub.* handshake)


def _form(body: bytes, content_type: str) -> QueryDict:
    if content_type.split(";", 1)[0].strip().lower() == FORM_CONTENT_TYPE and body:
        return QueryDict(body)
    return QueryDict()


def webhook_request_from_django(request: HttpRequest) -> WebhookRequest:
    query_string = request.META.get("QUERY_STRING", "")
    url = settings.PUBLIC_BASE_URL + request.path + (f"?{query_string}" if query_string else "")
    body = request.body
    return WebhookRequest(
        method=request.method or "",
        url=url,
        headers=request.headers,
        body=body,
        form=_form(body, request.headers.get("Content-Type", "")),
        query=request.GET,
    )


def webhook_request_from_event(event) -> WebhookRequest:
    """A stored `WebhookEvent` replayed for parsing. The URL is not stored, so parsing must never
    need it (only verification does, and that happened when the request came in); its query
    string is."""
    headers = CaseInsensitiveMapping(event.headers or {})
    body = bytes(event.body)
    return WebhookRequest(
        method="POST",
        url="",
        headers=headers,
        body=body,
        form=_form(body, headers.get("Content-Type", "")),
        query=QueryDict(getattr(event, "query", "") or ""),
    )


def webhook_request(
    body: bytes = b"",
    *,
    headers: Mapping[str, str] | None = None,
    method: str = "POST",
    url: str = "",
    query: str | Mapping[str, str] = "",
) -> WebhookRequest:
    """Build one by hand (tests, tools); `query` is a query string or a dict of parameters."""
    headers = CaseInsensitiveMapping(dict(headers or {}))
    if not isinstance(query, str):
        query = urlencode(query)
    return WebhookRequest(
        method=method,
        url=url,
        headers=headers,
        body=body,
        form=_form(body, headers.get("Content-Type", "")),
        query=QueryDict(query),
    )
