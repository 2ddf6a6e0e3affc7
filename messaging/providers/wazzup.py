"""Wazzup API v3: one account connects many messengers, and Switchboard is its CRM.

Wire reference: shared/reference/wazzup-v3.md. Webhook parsing and our records in Wazzup's shapes
live in `wazzup_parse.py`; this module verifies webhooks and calls the API (send, channels,
webhooks, CRM entities, the chat iframe). Wazzup signs nothing: its posts carry the token we put
in the webhook URL (`?key=`), or a Bearer crmKey where one is configured.
"""

from __future__ import annotations

import hmac
import secrets as secrets_module
from collections.abc import Mapping
from urllib.parse import urlencode

from django.conf import settings as django_settings

from messaging import http
from messaging.providers.base import (
    AddressTransport,
    Capabilities,
    ChannelInfo,
    ContactRecord,
    DealRecord,
    MediaFile,
    MediaLimit,
    MessageType,
    OutboundMessage,
    Provider,
    ProviderError,
    SendResult,
    WebhookItem,
    WebhookRejected,
)
from messaging.providers.wazzup_parse import (
    ACTIVE_STATE,
    address_chat,
    contact_wire,
    deal_wire,
    parse_body,
)
from messaging.webhook_request import WebhookRequest

TOKEN_PARAMETER = "key"  # noqa: S105 (the query parameter's name, not a secret)
# Wazzup transport -> (our Transport value, the chatType its chats have). Sections 1 and 6.
TRANSPORTS = {
    "whatsapp": ("whatsapp", "whatsapp"),
    "wapi": ("waba", "whatsapp"),
    "telegram": ("telegram", "telegram"),
    "tgapi": ("telegram", "telegram"),
    "instagram": ("instagram", "instagram"),
    "viber": ("viber", "viber"),
    "vk": ("vk", "vk"),
    "avito": ("avito", "avito"),
    "max": ("max", "max"),
    "maxbot": ("max", "max"),
}

_MB = 1024 * 1024
# contentUri is fetched by Wazzup at once, up to 10 MB (section 6, n8n); per-messenger type
# limits are not documented, so only the size is checked here (I).
_MEDIA = {
    kind: MediaLimit(frozenset(), 10 * _MB)
    for kind in (MessageType.IMAGE, MessageType.AUDIO, MessageType.VIDEO, MessageType.DOCUMENT)
}
# Section 6: WhatsApp 10,000 characters, Instagram 1,000, WABA and Telegram 4,096. WABA keeps
# Meta's 24-hour customer-service window (the 24_HOURS_EXCEEDED status error). Other messengers'
# limits are not documented: 4,096 and no window (I).
CAPABILITIES_BY_TRANSPORT = {
    "whatsapp": Capabilities(service_window_hours=None, max_text_length=10_000, media=_MEDIA),
    "wapi": Capabilities(service_window_hours=24, max_text_length=4096, media=_MEDIA),
    "telegram": Capabilities(service_window_hours=None, max_text_length=4096, media=_MEDIA),
    "tgapi": Capabilities(service_window_hours=None, max_text_length=4096, media=_MEDIA),
    "instagram": Capabilities(service_window_hours=None, max_text_length=1000, media=_MEDIA),
}
DEFAULT_CAPABILITIES = Capabilities(service_window_hours=None, max_text_length=4096, media=_MEDIA)

# Send error codes (section 6). Anything unknown: permanent on a 4xx, transient on a 5xx.
ALREADY_SENT = frozenset({"REPEATED_CRM_MESSAGE_ID", "repeatedCrmMessageId"})
TRANSIENT_CODES = frozenset({"UNKNOWN_ERROR", "UNKNOWN_ERROR_WITH_TRACE_ID"})
CHANNEL_CODES = frozenset(
    {
        "CHANNEL_NOT_FOUND",
        "CHANNEL_BLOCKED",
        "CHANNEL_WAPI_REJECTED",
        "CHANNEL_NO_MONEY",
        "BALANCE_IS_EMPTY",
        "MESSAGE_CHANNEL_UNAVAILABLE",
        "CHANNEL_LIMIT_EXCEEDED",
    }
)
SIDECAR_NOTE = (
    "Wazzup answered 403: this is a Sidecar key, which may not use the CRM routes (users, "
    "contacts, deals, pipelines, chat window). Create a full API key under "
    "Integration with CRM."
)


def chat_type_for(channel_config: Mapping) -> str:
    transport = str(channel_config.get("transport") or "")
    return TRANSPORTS.get(transport, (transport, transport))[1]


class WazzupProvider(Provider):
    key = "wazzup"
    label = "Wazzup"
    # "on": push our users, contacts, deals and funnels to Wazzup (integrations/crm_mirror).
    setting_fields = ("crm_push",)
    secret_fields = ("api_key", "webhook_token")
    channel_setting_fields = ("transport", "state")
    kept_headers = ()  # the Authorization header is a secret: never stored
    recipient_transports = (
        AddressTransport.WHATSAPP,
        AddressTransport.TELEGRAM,
        AddressTransport.WAZZUP,
    )
    capabilities = DEFAULT_CAPABILITIES
    lists_channels = True
    subscribes_webhooks = True
    has_chat_window = True

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        errors = {}
        if not str(secrets.get("api_key") or "").strip():
            errors["api_key"] = "Required: the API key from Wazzup's Integration with CRM page."
        if str(settings.get("crm_push") or "") not in ("", "on"):
            errors["crm_push"] = 'Type "on" to push users, contacts and deals, or leave empty.'
        return errors

    @classmethod
    def capabilities_for(cls, *, channel_config: Mapping) -> Capabilities:
        transport = str(channel_config.get("transport") or "")
        return CAPABILITIES_BY_TRANSPORT.get(transport, DEFAULT_CAPABILITIES)

    # Webhooks

    def verify_request(self, request: WebhookRequest) -> None:
        expected = str(self.secrets.get("webhook_token") or "")
        if not expected:
            raise WebhookRejected("No webhook token is configured: connect the webhooks first.")
        given = request.query.get(TOKEN_PARAMETER) or ""
        authorization = request.headers.get("Authorization") or ""
        if not given and authorization.lower().startswith("bearer "):
            given = authorization[7:].strip()
        if not given:
            raise WebhookRejected("No ?key= token and no Bearer key on the request.")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise WebhookRejected("The webhook token does not match.")

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookItem]:
        return parse_body(request.body)

    def needs_answer(self, request: WebhookRequest) -> bool:
        # createContact / createDeal come alone in their body (section 7.2).
        head = request.body[:200]
        return b'"createContact"' in head or b'"createDeal"' in head

    def answer(self, items: list) -> dict | None:
        for item in items:
            if isinstance(item, ContactRecord):
                return contact_wire(item)
            if isinstance(item, DealRecord):
                return deal_wire(item)
        return None

    def webhook_secrets_new(self) -> dict:
        if self.secrets.get("webhook_token"):
            return {}
        return {"webhook_token": secrets_module.token_urlsafe(32)}

    def webhooks_subscribe(self, *, url: str) -> str:
        token = str(self.secrets.get("webhook_token") or "")
        if not token:
            raise ProviderError("No webhook token: store one first.", permanent=True)
        separator = "&" if "?" in url else "?"
        body = {
            "webhooksUri": f"{url}{separator}{urlencode({TOKEN_PARAMETER: token})}",
            "subscriptions": {
                "messagesAndStatuses": True,
                "contactsAndDealsCreation": True,
                "channelsUpdates": True,
                "templateStatus": False,
            },
        }
        if len(body["webhooksUri"]) > 200:
            raise ProviderError(
                "The webhook URL is longer than the 200 characters Wazzup accepts.", permanent=True
            )
        self._json("PATCH", "webhooks", json=body)
        return "Wazzup accepted the webhook address and its test call."

    # API calls

    def verify_credentials(self) -> str:
        channels = self.channels_list()
        try:
            self._request("GET", "users")
        except ProviderError as exc:
            if exc.raw.get("status") == 403:
                raise ProviderError(SIDECAR_NOTE, permanent=True, raw=exc.raw) from None
            raise
        active = sum(1 for channel in channels if channel.healthy)
        return f"{len(channels)} channel(s), {active} active."

    def channels_list(self) -> list[ChannelInfo]:
        data = self._json("GET", "channels")
        if not isinstance(data, list):
            raise ProviderError("GET /v3/channels did not answer a list.", raw={"body": data})
        found = []
        for raw in data:
            if not isinstance(raw, dict) or not raw.get("channelId"):
                continue
            transport = str(raw.get("transport") or "")
            ours = TRANSPORTS.get(transport, ("", ""))[0]
            plain_id = str(raw.get("plainId") or "")
            state = str(raw.get("state") or "")
            label = str(raw.get("name") or plain_id or raw["channelId"])
            found.append(
                ChannelInfo(
                    external_id=str(raw["channelId"]),
                    transport=ours,
                    name=f"Wazzup {transport} {label}".strip()[:120],
                    state=state,
                    healthy=state == ACTIVE_STATE,
                    display_id=plain_id[:32],
                    config={"transport": transport, "state": state},
                )
            )
        return found

    def send(self, *, sender_id: str, message: OutboundMessage) -> SendResult:
        body = message_body(
            message, channel_id=sender_id, chat_type=chat_type_for(self.channel_config)
        )
        try:
            data = self._json("POST", "message", json=body)
        except ProviderError as exc:
            if exc.raw.get("error") in ALREADY_SENT:
                # An earlier attempt went out and its answer was lost. Wazzup does not say the
                # id it gave, so the message keeps ours: later statuses for it are not matched.
                return SendResult(provider_message_id=f"crm:{body['crmMessageId']}", raw=exc.raw)
            raise
        if not isinstance(data, dict) or not data.get("messageId"):
            raise ProviderError(
                "Wazzup answered without a messageId.", permanent=True, raw={"body": data}
            )
        return SendResult(provider_message_id=str(data["messageId"]), raw=data)

    def media_fetch(self, *, media_id: str) -> MediaFile:
        # Inbound media ids are Wazzup's contentUri: a public, short-lived link (section 7.3).
        try:
            response = http.request("GET", media_id)
        except http.HttpFailure as exc:
            raise ProviderError(str(exc)) from exc
        if response.status_code >= 400:
            raise ProviderError(
                f"Media link answered HTTP {response.status_code}.",
                permanent=response.status_code in (403, 404, 410),
            )
        return MediaFile(
            content=response.content,
            mime_type=response.headers.get("Content-Type", "").split(";")[0],
        )

    def chat_window_url(
        self,
        *,
        user_id: str,
        user_name: str,
        chats: tuple = (),
        name: str = "",
        channel_external_id: str = "",
    ) -> str:
        """POST /v3/iframe (section 8): scope "card" with the client's chats, else "global"."""
        body = {"user": {"id": user_id, "name": user_name or user_id}, "scope": "global"}
        filters = [chat for chat in map(address_chat, chats) if chat]
        if filters:
            body["scope"] = "card"
            body["filter"] = [{**chat, "name": name} if name else chat for chat in filters]
            chat_type = chat_type_for(self.channel_config)
            active = next((c for c in filters if c["chatType"] == chat_type), None)
            if channel_external_id and active:
                body["activeChat"] = {"channelId": channel_external_id, **active}
        return self.iframe_url(body=body)

    def iframe_url(self, *, body: dict) -> str:
        """A fresh chat-window link (section 8): never stored, fetched per opening."""
        data = self._json("POST", "iframe", json=body)
        if not isinstance(data, dict) or not data.get("url"):
            raise ProviderError("Wazzup answered without an iframe url.", raw={"body": data})
        return str(data["url"])

    def entities_post(self, *, route: str, records: list[dict]) -> None:
        """POST one batch (at most 100) to users, contacts, deals or pipelines."""
        self._request("POST", route, json=records)

    def entities_delete(self, *, route: str, ids: list[str]) -> None:
        self._request("PATCH", f"{route}/bulk_delete", json=ids)

    # Plumbing

    def _url(self, path: str) -> str:
        return f"{django_settings.WAZZUP_API_BASE_URL.rstrip('/')}/v3/{path}"

    def _json(self, method: str, path: str, **kwargs):
        response = self._request(method, path, **kwargs)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError:
            raise ProviderError(
                f"Wazzup answered HTTP {response.status_code} without JSON.",
                raw={"status": response.status_code, "body": response.text[:500]},
            ) from None

    def _request(self, method: str, path: str, **kwargs):
        api_key = str(self.secrets.get("api_key") or "")
        if not api_key:
            raise ProviderError("No Wazzup API key configured.", credentials_invalid=True)
        try:
            response = http.request(
                method,
                self._url(path),
                headers={"Authorization": f"Bearer {api_key}"},
                **kwargs,
            )
        except http.HttpFailure as exc:
            # Sends carry crmMessageId, so trying again after a lost answer is safe: no
            # raw["timeout"] that would park the message as "outcome unknown".
            raise ProviderError(str(exc)) from exc
        if response.status_code >= 400:
            raise error_from_response(response)
        return response


def message_body(message: OutboundMessage, *, channel_id: str, chat_type: str) -> dict:
    """The JSON of POST /v3/message. `crmMessageId` is always our message id."""
    if not message.callback_data:
        raise ProviderError("A Wazzup send needs our message id (crmMessageId).", permanent=True)
    body = {"channelId": channel_id, "chatType": chat_type, **_chat(message, chat_type)}
    if message.type == MessageType.TEXT:
        body["text"] = message.text
    elif message.type in MessageType.MEDIA:
        media = message.media or {}
        if not media.get("link"):
            raise ProviderError("Wazzup sends media by a public link only.", permanent=True)
        # Never text and contentUri together: a caption is not sent (section 6).
        body["contentUri"] = media["link"]
    else:
        raise ProviderError(f"Wazzup cannot send {message.type} messages.", permanent=True)
    if message.reply_to:
        body["refMessageId"] = message.reply_to
    if message.author_id:
        body["crmUserId"] = message.author_id
    body["crmMessageId"] = message.callback_data
    return body


def _chat(message: OutboundMessage, chat_type: str) -> dict:
    addresses = message.recipient_addresses
    if chat_type == "whatsapp":
        phone = message.to or addresses.get(AddressTransport.WHATSAPP, "")
        if phone:
            return {"chatId": phone.removeprefix("+")}
    elif chat_type == "telegram" and addresses.get(AddressTransport.TELEGRAM):
        return {"chatId": addresses[AddressTransport.TELEGRAM]}
    chat = str(addresses.get(AddressTransport.WAZZUP) or "")
    if chat.startswith(f"{chat_type}:"):
        return {"chatId": chat.split(":", 1)[1]}
    raise ProviderError(f"The contact has no {chat_type} chat on Wazzup.", permanent=True)


def error_from_response(response) -> ProviderError:
    """Map a Wazzup error answer (section 0 and 6) to a ProviderError."""
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    data = data if isinstance(data, dict) else {}
    code = str(data.get("error") or "")
    description = str(data.get("description") or "")
    raw = {**data, "status": status}
    retry_after = _retry_after(response.headers.get("Retry-After"))
    if status == 401:
        return ProviderError(
            "Wazzup answered 401: the API key is wrong or revoked.",
            permanent=True,
            credentials_invalid=True,
            raw=raw,
        )
    if status == 429:
        return ProviderError(
            "Wazzup rate limit (500 requests per 5 s).", retry_after=retry_after or 5, raw=raw
        )
    message = f"Wazzup {status} {code}: {description}".strip().rstrip(":")
    if code in TRANSIENT_CODES or status >= 500:
        return ProviderError(message, retry_after=retry_after, raw=raw)
    if code in CHANNEL_CODES:
        return ProviderError(message, permanent=True, channel_problem=True, raw=raw)
    return ProviderError(message, permanent=True, raw=raw)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0) if value else None
    except ValueError:
        return None
