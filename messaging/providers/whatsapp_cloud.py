"""WhatsApp Cloud API (Meta Graph API) provider.

Wire reference: shared/reference/meta-cloud-api.md. Webhook parsing lives in
`whatsapp_cloud_parse.py`; this module verifies webhooks and talks to the Graph API.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterator, Mapping

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
    TemplateCall,
    TemplateInfo,
    TemplateKind,
    WebhookItem,
    WebhookRejected,
    json_object,
)
from messaging.providers.whatsapp_cloud_parse import (
    NEEDS_PHONE_CODE,
    NEEDS_PHONE_REASON,
    error_meaning,
    parse_body,
)
from messaging.webhook_request import WebhookRequest

SIGNATURE_HEADER = "X-Hub-Signature-256"
TEMPLATE_FIELDS = "id,name,language,status,category,components,parameter_format,rejected_reason"

# Error codes from meta-cloud-api.md section 9. Anything not listed is permanent on a 4xx and
# transient on a 5xx.
TRANSIENT_CODES = frozenset({4, 80007, 130429, 131000, 131016, 131056, 131057})
CREDENTIAL_CODES = frozenset({0, 190})
PAIR_RATE_LIMIT = 131056
PERMANENT_CODES = frozenset(
    {368, 131008, 131009, 131026, 131031, 131047, 131048, 131051, 131053, 131062}
    | {132000, 132001, 132015, 132016}
)

CAPTIONED_MEDIA = frozenset({MessageType.IMAGE, MessageType.VIDEO, MessageType.DOCUMENT})
BUTTON_PARAMETERS = {"quick_reply": "payload", "url": "text", "copy_code": "coupon_code"}

_DIGITS = re.compile(r"[0-9]+")
_VERSION = re.compile(r"v[0-9]+\.[0-9]+")
_SIGNATURE = re.compile(r"sha256=[0-9a-fA-F]{64}")
_CODE_PREFIX = re.compile(r"^\(#\d+\)\s*")

_MB = 1024 * 1024
# meta-cloud-api.md section 11 (size and type limits) and section 12 (the 24 h window).
CAPABILITIES = Capabilities(
    service_window_hours=24,
    max_text_length=4096,  # text.body
    template_kind=TemplateKind.META,
    # Error 131062: authentication templates go to phone numbers only, never to a BSUID.
    templates_needing_phone=frozenset({"AUTHENTICATION"}),
    media={
        MessageType.AUDIO: MediaLimit(
            frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"}), 16 * _MB
        ),
        MessageType.DOCUMENT: MediaLimit(frozenset(), 100 * _MB),
        MessageType.IMAGE: MediaLimit(frozenset({"image/jpeg", "image/png"}), 5 * _MB),
        # 100 KB static, 500 KB animated: the larger bound, Meta refuses an oversized static one.
        MessageType.STICKER: MediaLimit(frozenset({"image/webp"}), 500 * 1024),
        MessageType.VIDEO: MediaLimit(frozenset({"video/mp4", "video/3gpp"}), 16 * _MB),
    },
    rate_limit_backoff_base=4,  # 131056 pair rate limit: wait 4**attempts seconds
    read_receipts=True,
)


def signature_for(body: bytes, app_secret: str) -> str:
    """The X-Hub-Signature-256 value Meta sends for `body` (raw bytes, never re-serialised)."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class WhatsAppCloudProvider(Provider):
    key = "whatsapp_cloud"
    label = "WhatsApp Cloud API"
    setting_fields = ("app_id", "waba_id", "graph_version")
    secret_fields = ("app_secret", "verify_token", "access_token")
    kept_headers = ("x-hub-signature-256", "x-hub-signature")
    has_handshake = True
    # The URL every account was configured with at Meta before the one generic route existed.
    url_aliases = ("whatsapp",)
    recipient_transports = (
        AddressTransport.WHATSAPP,
        AddressTransport.WHATSAPP_BSUID,
        AddressTransport.WHATSAPP_PARENT_BSUID,
    )
    capabilities = CAPABILITIES

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        errors = {}
        for name in ("app_id", "waba_id"):
            value = str(settings.get(name) or "")
            if not value:
                errors[name] = "Required."
            elif not _DIGITS.fullmatch(value):
                errors[name] = "Digits only: the numeric id shown in Meta's dashboard."
        version = str(settings.get("graph_version") or "")
        if version and not _VERSION.fullmatch(version):
            errors["graph_version"] = "A Graph API version like v23.0 (or empty for the default)."
        for name in cls.secret_fields:
            if not str(secrets.get(name) or "").strip():
                errors[name] = "Required."
        return errors

    # Webhooks

    def handshake(self, request: WebhookRequest) -> str:
        params = request.query
        expected = self.secrets.get("verify_token") or ""
        if not expected:
            raise WebhookRejected("Handshake refused: no verify token is configured.")
        if params.get("hub.mode") != "subscribe":
            raise WebhookRejected(
                f"Handshake refused: hub.mode is {params.get('hub.mode')!r}, not 'subscribe'."
            )
        given = params.get("hub.verify_token") or ""
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRejected("Handshake refused: hub.verify_token does not match.")
        challenge = params.get("hub.challenge") or ""
        if not challenge:
            raise WebhookRejected("Handshake refused: hub.challenge is missing.")
        return challenge

    def verify_request(self, request: WebhookRequest) -> None:
        body, headers = request.body, request.headers
        app_secret = self.secrets.get("app_secret") or ""
        if not app_secret:
            raise WebhookRejected("Cannot verify the webhook: no app secret configured.")
        given = _header(headers, SIGNATURE_HEADER).strip()
        if not given:
            raise WebhookRejected(f"Missing {SIGNATURE_HEADER} header.")
        if not _SIGNATURE.fullmatch(given):
            raise WebhookRejected(
                f"Malformed {SIGNATURE_HEADER} header: expected 'sha256=' and 64 hex characters."
            )
        if not hmac.compare_digest(given.lower(), signature_for(body, app_secret)):
            raise WebhookRejected(
                f"{SIGNATURE_HEADER} does not match the body (wrong app secret or altered body)."
            )

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookItem]:
        return parse_body(request.body)

    # Graph API calls

    def send(self, *, sender_id: str, message: OutboundMessage) -> SendResult:
        data = self._json("POST", f"{sender_id}/messages", json=message_body(message))
        try:
            wamid = data["messages"][0]["id"]
        except (KeyError, IndexError, TypeError):
            # Meta may well have accepted it: failing for good beats sending it twice.
            raise ProviderError(
                "Graph API answered 200 without a message id.", permanent=True, raw=data
            ) from None
        return SendResult(provider_message_id=wamid, raw=data)

    def mark_read(self, *, sender_id: str, provider_message_id: str) -> None:
        body = {
            "messaging_product": "whatsapp",
            "status": "read",
            "message_id": provider_message_id,
        }
        self._json("POST", f"{sender_id}/messages", json=body)

    def iter_templates(self) -> Iterator[TemplateInfo]:
        url = self._url(f"{self._waba_id()}/message_templates")
        params = {"fields": TEMPLATE_FIELDS, "limit": 100}
        seen = set()
        while url:
            seen.add(url)
            data = self._json("GET", url, params=params)
            for item in data.get("data") or []:
                yield _template_info(item)
            url = (data.get("paging") or {}).get("next")
            params = None  # paging.next is a full URL that already carries the query
            if url in seen:
                raise ProviderError(
                    "Graph API paging points back to a page already read.", permanent=True
                )

    def media_fetch(self, *, media_id: str) -> MediaFile:
        info, response = self._download(media_id, accept_404=True)
        if response.status_code == 404:
            # The download URL expires after about 5 minutes: ask for a fresh one, once.
            info, response = self._download(media_id)
        return MediaFile(
            content=response.content,
            mime_type=info.get("mime_type") or response.headers.get("Content-Type", ""),
            sha256=info.get("sha256", ""),
        )

    def media_upload(self, *, sender_id: str, content: bytes, mime_type: str, filename: str) -> str:
        data = self._json(
            "POST",
            f"{sender_id}/media",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename, content, mime_type)},
        )
        if not data.get("id"):
            raise ProviderError("Graph API media upload answered without an id.", raw=data)
        return str(data["id"])

    def verify_credentials(self) -> str:
        data = self._json("GET", self._waba_id(), params={"fields": "id,name"})
        return f"WABA {data.get('id') or self._waba_id()} ({data.get('name', '')})"

    # Plumbing

    def _url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path
        base = django_settings.GRAPH_API_BASE_URL.rstrip("/")
        version = self.settings.get("graph_version") or django_settings.GRAPH_API_VERSION
        return f"{base}/{version}/{path}"

    def _waba_id(self) -> str:
        waba_id = self.settings.get("waba_id") or ""
        if not waba_id:
            raise ProviderError("No WABA id configured.", permanent=True)
        return waba_id

    def _download(self, media_id: str, *, accept_404: bool = False):
        info = self._json("GET", media_id)
        if not info.get("url"):
            raise ProviderError(f"Graph API gave no download URL for media {media_id}.", raw=info)
        return info, self._request("GET", info["url"], accept_404=accept_404)

    def _json(self, method: str, path: str, **kwargs) -> dict:
        response = self._request(method, path, **kwargs)
        return json_object(response, service="Graph API")

    def _request(self, method: str, path: str, *, accept_404: bool = False, **kwargs):
        token = self.secrets.get("access_token") or ""
        if not token:
            raise ProviderError(
                "No access token configured.", permanent=True, credentials_invalid=True
            )
        url = self._url(path)
        try:
            response = http.request(
                method, url, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        except http.HttpFailure as exc:
            message = str(exc)
            if exc.timeout:
                # A read timeout can come after Meta accepted the request: retrying a send
                # may deliver it twice, so the caller gets to decide (raw["timeout"]).
                message += " (the request may have reached Meta)"
            raise ProviderError(message, raw={"timeout": exc.timeout}) from exc
        if response.status_code == 404 and accept_404:
            return response
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def message_body(message: OutboundMessage) -> dict:
    """The JSON body of POST /{phone-number-id}/messages for one outbound message."""
    body = {"messaging_product": "whatsapp", "recipient_type": "individual"}
    body.update(_recipient(message))
    if message.reply_to:
        body["context"] = {"message_id": message.reply_to}
    kind = body["type"] = message.type
    try:
        if kind == MessageType.TEXT:
            body["text"] = {"preview_url": message.preview_url, "body": message.text}
        elif kind == MessageType.TEMPLATE:
            body["template"] = _template_object(message.template)
        elif kind in MessageType.MEDIA:
            body[kind] = _media_object(kind, message.media)
        elif kind == MessageType.REACTION:
            reaction = message.reaction or {}
            body["reaction"] = {
                "message_id": reaction["message_id"],
                "emoji": reaction.get("emoji", ""),
            }
        else:
            raise ValueError(f"messages of type {kind!r} are not supported")
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        message_text = f"Cannot build the WhatsApp message: {detail}"
        raise ProviderError(message_text, permanent=True) from None
    if message.callback_data:
        body["biz_opaque_callback_data"] = message.callback_data
    return body


def _recipient(message: OutboundMessage) -> dict:
    """`to` for a phone, else `recipient` for a user id; never both: Meta lets `to` win, and
    sending to phones keeps phones coming in webhooks (meta-cloud-api.md section 4a)."""
    if message.to:
        return {"to": message.to.removeprefix("+")}
    addresses = message.recipient_addresses
    for transport in (AddressTransport.WHATSAPP_BSUID, AddressTransport.WHATSAPP_PARENT_BSUID):
        if addresses.get(transport):
            return {"recipient": addresses[transport]}
    raise ProviderError("No WhatsApp phone or user id for this contact.", permanent=True)


def _template_object(call: TemplateCall | None) -> dict:
    if call is None:
        raise ValueError("a template message needs a template")
    if call.header_media and call.header_params:
        raise ValueError("a template header is either media or text, not both")
    components = []
    if call.header_media:
        components.append({"type": "header", "parameters": [_header_media(call.header_media)]})
    elif call.header_params:
        components.append({"type": "header", "parameters": _text_parameters(call.header_params)})
    if call.body_params:
        components.append({"type": "body", "parameters": _text_parameters(call.body_params)})
    for button in call.button_params:
        sub_type = button["sub_type"]
        if sub_type not in BUTTON_PARAMETERS:
            raise ValueError(f"unknown template button sub_type {sub_type!r}")
        parameter_type = BUTTON_PARAMETERS[sub_type]
        components.append(
            {
                "type": "button",
                "sub_type": sub_type,
                "index": str(button["index"]),
                "parameters": [{"type": parameter_type, parameter_type: str(button["value"])}],
            }
        )
    template = {"name": call.name, "language": {"code": call.language}}
    if components:
        template["components"] = components
    return template


def _text_parameters(params) -> list[dict]:
    # Templates with parameter_format NAMED need the name next to each value, so a mapping
    # {name: value} is accepted as well as the positional list.
    if isinstance(params, Mapping):
        return [
            {"type": "text", "parameter_name": name, "text": str(value)}
            for name, value in params.items()
        ]
    return [{"type": "text", "text": str(value)} for value in params]


def _header_media(media: dict) -> dict:
    kind = media["type"]
    if kind not in ("image", "video", "document"):
        raise ValueError(f"template header media type {kind!r} is not image, video or document")
    obj = _media_reference(media)
    if kind == "document" and media.get("filename"):
        obj["filename"] = media["filename"]
    return {"type": kind, kind: obj}


def _media_object(kind: str, media: dict | None) -> dict:
    if not media:
        raise ValueError(f"a {kind} message needs media")
    obj = _media_reference(media)
    # Meta rejects captions on audio and stickers, and filenames on anything but documents.
    if kind in CAPTIONED_MEDIA and media.get("caption"):
        obj["caption"] = media["caption"]
    if kind == MessageType.DOCUMENT and media.get("filename"):
        obj["filename"] = media["filename"]
    return obj


def _media_reference(media: dict) -> dict:
    if media.get("id"):
        return {"id": str(media["id"])}
    if media.get("link"):
        return {"link": media["link"]}
    raise ValueError("media needs an 'id' or a 'link'")


def template_info_parse(item: dict) -> TemplateInfo:
    """One template as the Graph API lists it, in our terms."""
    return _template_info(item)


def _template_info(item: dict) -> TemplateInfo:
    try:
        return TemplateInfo(
            external_id=str(item["id"]),
            name=item["name"],
            language=item["language"],
            category=item.get("category", ""),
            status=item.get("status", ""),
            components=item.get("components") or [],
            parameter_format=item.get("parameter_format") or "POSITIONAL",
            raw=item,
        )
    except KeyError as exc:
        raise ProviderError(
            f"Graph API listed a template without {exc.args[0]!r}.", permanent=True, raw=item
        ) from None


def error_from_response(response) -> ProviderError:
    """Map a Graph API error answer to a ProviderError (meta-cloud-api.md section 9)."""
    status = response.status_code
    retry_after = _retry_after(response.headers.get("Retry-After"))
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("code"), int):
        text = " ".join(response.text.split())[:200]
        return ProviderError(
            f"Graph API answered HTTP {status}: {text or 'empty body'}",
            permanent=status < 500,
            retry_after=retry_after,
            raw={"status": status, "body": text},
        )

    code = error["code"]
    title = _CODE_PREFIX.sub("", error.get("message") or "")
    details = (error.get("error_data") or {}).get("details") or ""
    message = f"{code} {title}: {details}" if details else f"{code} {title}"
    if code == NEEDS_PHONE_CODE:
        message = f"{code} {NEEDS_PHONE_REASON}"
    meaning = error_meaning(code)
    if code in CREDENTIAL_CODES or meaning:
        permanent = True
    elif code in TRANSIENT_CODES:
        permanent = False
    elif code in PERMANENT_CODES:
        permanent = True
    else:
        # Codes we do not know: trust Meta's own hint, then the HTTP status.
        permanent = not error.get("is_transient") and status < 500
    return ProviderError(
        message,
        code=code,
        permanent=permanent,
        retry_after=retry_after,
        credentials_invalid=code in CREDENTIAL_CODES,
        per_recipient=code == PAIR_RATE_LIMIT,
        raw=data,
        **meaning,
    )


def _retry_after(value: str | None) -> float | None:
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None  # an HTTP date; Graph sends seconds, so not worth parsing
    return seconds if seconds is not None and seconds >= 0 else None


def _header(headers: Mapping, name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value or ""
    return ""
