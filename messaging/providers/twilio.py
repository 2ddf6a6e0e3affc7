"""Twilio Programmable Messaging for WhatsApp.

Wire references: shared/reference/twilio-whatsapp.md (send, errors, webhooks, X-Twilio-Signature,
the account check) and twilio-content-and-history.md (Content templates). Webhook parsing lives in
`twilio_parse.py`; this module verifies webhooks and talks to Twilio's two hosts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from django.conf import settings as django_settings

from messaging import http
from messaging.providers.base import (
    AddressTransport,
    Capabilities,
    MediaFile,
    MediaLimit,
    MessageType,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    TemplateInfo,
    TemplateKind,
    WebhookItem,
    WebhookRejected,
    json_object,
)
from messaging.providers.twilio_parse import CALLBACK_PARAMETER, ERROR_TITLES, parse_form
from messaging.webhook_request import WebhookRequest

SIGNATURE_HEADER = "X-Twilio-Signature"
API_VERSION = "2010-04-01"
CONTENT_PAGE_SIZE = 100

ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
SENDER = re.compile(r"whatsapp:\+[1-9][0-9]{6,14}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
DEFAULT_PORTS = {"https": 443, "http": 80}

# Error codes (reference section 2 and 8). 20003 is a wrong or revoked SID or token.
CREDENTIAL_CODES = frozenset({20003})
TRANSIENT_CODES = frozenset({20429, 63018})
PERMANENT_CODES = frozenset({20404, 21211, 63003, 63007, 63015, 63016, 63024, 63049})
AUTHENTICATE_TEXT = (
    "SID or token is wrong (or the Auth Token was revoked): check the Account SID and the Auth "
    "Token in the Twilio console"
)

_MB = 1024 * 1024
# WhatsApp's media limits, as Twilio passes them on (I: the reference gives none of its own).
CAPABILITIES = Capabilities(
    service_window_hours=24,
    max_text_length=1600,  # Body (reference section 1)
    template_kind=TemplateKind.TWILIO_CONTENT,
    media={
        MessageType.AUDIO: MediaLimit(
            frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}), 16 * _MB
        ),
        MessageType.DOCUMENT: MediaLimit(frozenset(), 16 * _MB),
        MessageType.IMAGE: MediaLimit(frozenset({"image/jpeg", "image/png"}), 5 * _MB),
        MessageType.VIDEO: MediaLimit(frozenset({"video/mp4", "video/3gpp"}), 16 * _MB),
    },
    read_receipts=False,  # Twilio has no "mark as read" call
)

# Content approval states as we store them (MessageTemplate.status, Meta's spelling).
APPROVAL_STATUSES = {
    "approved": "APPROVED",
    "rejected": "REJECTED",
    "pending": "PENDING",
    "received": "PENDING",
    "paused": "PAUSED",
    "disabled": "DISABLED",
    "unsubmitted": "UNSUBMITTED",
}


def signature_for(url: str, params: Mapping[str, list[str]], auth_token: str) -> str:
    """The X-Twilio-Signature Twilio computes: HMAC-SHA1 over the URL it called followed by each
    parameter name and value, names sorted, a repeated name's distinct values sorted; base64."""
    text = url
    for name in sorted(params):
        for value in sorted(set(params[name])):
            text += name + value
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, and with its default port added or removed: Twilio's own validators
    accept either, because which one Twilio signs is not consistent (reference section 5)."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.username or parts.password:
        return variants
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=host)))
    return variants


def to_address(value: str) -> str:
    """An E.164 phone as Twilio's WhatsApp address."""
    return value if value.startswith("whatsapp:") else f"whatsapp:{value}"


class TwilioProvider(Provider):
    key = "twilio"
    label = "Twilio WhatsApp"
    setting_fields = ("account_sid", "messaging_service_sid")
    secret_fields = ("auth_token",)
    kept_headers = ("x-twilio-signature", "i-twilio-idempotency-token")
    kept_query = (CALLBACK_PARAMETER,)
    recipient_transports = (AddressTransport.WHATSAPP,)
    capabilities = CAPABILITIES

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        errors = {}
        sid = str(settings.get("account_sid") or "").strip()
        if not sid:
            errors["account_sid"] = "Required."
        elif not ACCOUNT_SID.fullmatch(sid):
            errors["account_sid"] = "The Account SID: AC followed by 32 hexadecimal characters."
        service = str(settings.get("messaging_service_sid") or "").strip()
        if service and not SERVICE_SID.fullmatch(service):
            errors["messaging_service_sid"] = (
                "A Messaging Service SID: MG followed by 32 hexadecimal characters (or empty)."
            )
        if not str(secrets.get("auth_token") or "").strip():
            errors["auth_token"] = "Required."  # noqa: S105 - an error text
        return errors

    @classmethod
    def setup_urls(cls, webhook_url: str) -> list[tuple[str, str]]:
        # Statuses come to the same URL: each send names it as its StatusCallback (with our
        # message id), and a Messaging Service's own status callback setting takes it as is.
        return [
            ('WhatsApp sender or Messaging Service, "A message comes in" (HTTP POST)', webhook_url),
            ("Status callback URL", webhook_url),
        ]

    # Webhooks

    def verify_request(self, request: WebhookRequest) -> None:
        token = self.secrets.get("auth_token") or ""
        if not token:
            raise WebhookRejected("Cannot verify the webhook: no Auth Token is configured.")
        given = _header(request.headers, SIGNATURE_HEADER).strip()
        if not given:
            raise WebhookRejected(f"Missing {SIGNATURE_HEADER} header.")
        if not _BASE64.fullmatch(given):
            raise WebhookRejected(f"Malformed {SIGNATURE_HEADER} header: not base64.")
        params: Mapping[str, list[str]] = dict(request.form.lists())
        content_type = _header(request.headers, "Content-Type").split(";", 1)[0].strip().lower()
        if content_type == "application/json":
            # A JSON body is signed through its hash in the URL, and the URL alone is signed.
            expected = _query_value(request.url, "bodySHA256")
            digest = hashlib.sha256(request.body).hexdigest()
            if not expected or not hmac.compare_digest(expected.lower(), digest):
                raise WebhookRejected("bodySHA256 in the URL does not match the JSON body.")
            params = {}
        matched = False
        for url in url_variants(request.url):
            # Compare every variant, so the time taken says nothing about which one matched.
            matched |= hmac.compare_digest(
                given.encode(), signature_for(url, params, token).encode()
            )
        if not matched:
            raise WebhookRejected(
                f"{SIGNATURE_HEADER} does not match (wrong Auth Token, altered parameters, or a "
                "URL other than the one configured at Twilio: check PUBLIC_BASE_URL)."
            )

    def dedupe_key(self, request: WebhookRequest) -> str | None:
        # Twilio retries a timed-out webhook with the same parameters, but a status callback and
        # its message share the MessageSid: a delivery is the SID and the status together.
        sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
        if not sid:
            return None
        status = request.form.get("MessageStatus") or request.form.get("SmsStatus") or ""
        return f"{sid}:{status}"

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookItem]:
        return parse_form(request.form, query=request.query)

    # REST calls

    def send(self, *, sender_id: str, message: OutboundMessage) -> SendResult:
        data = self._json(
            "POST",
            self._api_url(f"Accounts/{self._account_sid()}/Messages.json"),
            data=message_form(message, sender_id=sender_id, service_sid=self._service_sid()),
        )
        sid = data.get("sid")
        if not sid:
            # Twilio may well have accepted it: failing for good beats sending it twice.
            raise ProviderError("Twilio answered without a message sid.", permanent=True, raw=data)
        return SendResult(provider_message_id=str(sid), raw=data)

    def verify_credentials(self) -> str:
        sid = self._account_sid()
        data = self._json("GET", self._api_url(f"Accounts/{sid}.json"))
        status = str(data.get("status") or "")
        name = data.get("friendly_name") or sid
        if status and status != "active":
            raise ProviderError(
                f"Twilio account {name!r} is {status}: only an active account can send.",
                permanent=True,
            )
        kind = f", {data['type']}" if data.get("type") else ""
        return f"Twilio account {name!r} ({status or 'status unknown'}{kind})."

    def iter_templates(self) -> Iterator[TemplateInfo]:
        """Every Content template with its WhatsApp approval, following the Content API's pages."""
        url = f"{django_settings.TWILIO_CONTENT_API_BASE_URL}/v1/Content"
        params = {"PageSize": CONTENT_PAGE_SIZE}
        seen = set()
        while url:
            seen.add(url)
            data = self._json("GET", self._content_url(url), params=params)
            for item in data.get("contents") or []:
                approval = self._approval(item)
                yield content_template_info(item, approval)
            url = (data.get("meta") or {}).get("next_page_url")
            params = None  # next_page_url already carries the query
            if url in seen:
                raise ProviderError("Content API paging points back to a page already read.")

    def media_fetch(self, *, media_id: str) -> MediaFile:
        # The account's credentials go to Twilio's API host only; a media URL elsewhere (a CDN
        # redirect target) is fetched without them, and requests drops them on such a redirect.
        auth = self._auth() if _same_origin(media_id, django_settings.TWILIO_API_BASE_URL) else None
        response = self._request("GET", media_id, auth=auth)
        mime = response.headers.get("Content-Type", "").split(";", 1)[0].strip()
        return MediaFile(content=response.content, mime_type=mime)

    # Plumbing

    def _approval(self, item: dict) -> dict:
        link = (item.get("links") or {}).get("approval_fetch")
        if not link:
            sid = item.get("sid", "")
            link = (
                f"{django_settings.TWILIO_CONTENT_API_BASE_URL}/v1/Content/{sid}/ApprovalRequests"
            )
        data = self._json("GET", self._content_url(link))
        whatsapp = data.get("whatsapp")
        return whatsapp if isinstance(whatsapp, dict) else {}

    def _content_url(self, url: str) -> str:
        """Twilio's absolute links point at content.twilio.com; keep them on the configured host
        (the sandbox in development)."""
        base = django_settings.TWILIO_CONTENT_API_BASE_URL
        parts = urlsplit(url)
        if parts.path.startswith("/v1/") and not _same_origin(url, base):
            return base + parts.path + (f"?{parts.query}" if parts.query else "")
        return url

    def _api_url(self, path: str) -> str:
        return f"{django_settings.TWILIO_API_BASE_URL}/{API_VERSION}/{path}"

    def _account_sid(self) -> str:
        sid = str(self.settings.get("account_sid") or "").strip()
        if not sid:
            raise ProviderError(
                "No Twilio Account SID configured.", permanent=True, credentials_invalid=True
            )
        return sid

    def _service_sid(self) -> str:
        return str(self.settings.get("messaging_service_sid") or "").strip()

    def _auth(self) -> tuple[str, str]:
        token = self.secrets.get("auth_token") or ""
        if not token:
            raise ProviderError(
                "No Twilio Auth Token configured.", permanent=True, credentials_invalid=True
            )
        return (self._account_sid(), token)

    def _json(self, method: str, url: str, **kwargs) -> dict:
        response = self._request(method, url, auth=self._auth(), **kwargs)
        return json_object(response, service="Twilio")

    def _request(self, method: str, url: str, *, auth, **kwargs):
        try:
            response = http.request(method, url, auth=auth, **kwargs)
        except http.HttpFailure as exc:
            message = f"Twilio could not be reached: {exc}"
            if exc.timeout:
                # A read timeout can come after Twilio accepted the message: the status callback,
                # which carries our id, settles it (raw["timeout"] tells the caller).
                message += " (the request may have reached Twilio)"
            raise ProviderError(message, raw={"timeout": exc.timeout}) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def message_form(message: OutboundMessage, *, sender_id: str, service_sid: str = "") -> dict:
    """The form of POST /Accounts/{Sid}/Messages.json for one outbound message."""
    if not message.to:
        raise ProviderError(
            "Twilio sends WhatsApp messages to phone numbers only: this contact has none.",
            permanent=True,
        )
    form: dict[str, str] = {"To": to_address(message.to)}
    if service_sid:
        form["MessagingServiceSid"] = service_sid
    else:
        form["From"] = to_address(sender_id)
    kind = message.type
    if kind == MessageType.TEXT:
        form["Body"] = message.text
    elif kind in MessageType.MEDIA:
        media = message.media or {}
        if not media.get("link"):
            raise ProviderError(
                "Twilio fetches media from a public URL: give a link, not an uploaded id.",
                permanent=True,
            )
        if media.get("caption"):
            form["Body"] = media["caption"]
        form["MediaUrl"] = media["link"]
    elif kind == MessageType.TEMPLATE:
        call = message.template
        if call is None or not call.external_id:
            raise ProviderError(
                "This template has no Content SID: sync the account's templates, then retry.",
                permanent=True,
            )
        form["ContentSid"] = call.external_id
        if call.body_params:
            params = call.body_params
            if isinstance(params, Mapping):
                variables = {str(k): str(v) for k, v in params.items()}
            else:
                variables = {str(n): str(v) for n, v in enumerate(params, start=1)}
            form["ContentVariables"] = json.dumps(variables)
    else:
        raise ProviderError(f"Twilio cannot send {kind} messages on WhatsApp.", permanent=True)
    if message.status_url:
        form["StatusCallback"] = status_callback_url(message.status_url, message.callback_data)
    return form


def status_callback_url(url: str, message_id: str) -> str:
    """Our webhook URL with our message id in its query, so a status settles a lost answer."""
    if not message_id:
        return url
    joiner = "&" if urlsplit(url).query else "?"
    return url + joiner + urlencode({CALLBACK_PARAMETER: message_id})


def content_template_info(item: dict, approval: Mapping) -> TemplateInfo:
    """One Content resource and its WhatsApp approval, as we store templates."""
    try:
        sid = str(item["sid"])
        language = str(item["language"])
    except KeyError as exc:
        raise ProviderError(
            f"The Content API listed a template without {exc.args[0]!r}.", permanent=True, raw=item
        ) from None
    variables = item.get("variables") or {}
    numbered = all(str(key).isdigit() for key in variables)
    wire_status = str(approval.get("status") or "unsubmitted").lower()
    return TemplateInfo(
        external_id=sid,
        name=str(item.get("friendly_name") or approval.get("name") or sid),
        language=language,
        category=str(approval.get("category") or ""),
        status=APPROVAL_STATUSES.get(wire_status, wire_status.upper()),
        components=content_components(item.get("types") or {}),
        parameter_format="POSITIONAL" if numbered else "NAMED",
        raw={**item, "approval": dict(approval)},
        rejected_reason=str(approval.get("rejection_reason") or ""),
    )


def content_components(types: Mapping) -> list[dict]:
    """A Content template's types in the components shape the rest of Switchboard reads: the
    body text (with its {{n}} variables), buttons, and the media URLs."""
    components: list[dict] = []
    for content_type, spec in types.items():
        if not isinstance(spec, dict):
            continue
        if spec.get("body") and not any(c["type"] == "BODY" for c in components):
            components.append({"type": "BODY", "text": str(spec["body"])})
        if spec.get("media"):
            components.append({"type": "MEDIA", "urls": list(spec["media"])})
        buttons = []
        for action in spec.get("actions") or []:
            if not isinstance(action, dict):
                continue
            if action.get("url"):
                buttons.append(
                    {"type": "URL", "text": action.get("title", ""), "url": action["url"]}
                )
            else:
                buttons.append({"type": "QUICK_REPLY", "text": action.get("title", "")})
        if buttons:
            components.append({"type": "BUTTONS", "buttons": buttons})
        components.append({"type": "CONTENT_TYPE", "content_type": content_type})
    return components


def error_from_response(response) -> ProviderError:
    """Map a Twilio REST error answer to a ProviderError (reference section 2)."""
    status = response.status_code
    retry_after = _retry_after(response.headers.get("Retry-After"))
    try:
        data = response.json()
    except ValueError:
        data = None
    code = data.get("code") if isinstance(data, dict) else None
    if not isinstance(code, int):
        text = " ".join(response.text.split())[:200]
        return ProviderError(
            f"Twilio answered HTTP {status}: {text or 'empty body'}",
            permanent=status < 500 and status not in (401, 429),
            retry_after=retry_after,
            credentials_invalid=status == 401,
            raw={"status": status, "body": text},
        )
    wire_message = str(data.get("message") or data.get("detail") or "")
    if code in CREDENTIAL_CODES:
        message = f"{code} {wire_message or 'Authenticate'}: {AUTHENTICATE_TEXT}."
    elif code in ERROR_TITLES:
        message = f"{code} {ERROR_TITLES[code]}: {wire_message}" if wire_message else str(code)
    else:
        message = f"{code} {wire_message}".strip()
    if code in CREDENTIAL_CODES:
        permanent = True
    elif code in TRANSIENT_CODES or status == 429 or status >= 500:
        permanent = False
    elif code in PERMANENT_CODES:
        permanent = True
    else:
        permanent = status < 500
    return ProviderError(
        message,
        code=code,
        permanent=permanent,
        retry_after=retry_after,
        credentials_invalid=code in CREDENTIAL_CODES,
        raw=data,
    )


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _query_value(url: str, name: str) -> str:
    from django.http import QueryDict

    return QueryDict(urlsplit(url).query).get(name, "")


def _header(headers: Mapping, name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value or ""
    return ""
