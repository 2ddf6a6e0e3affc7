"""Wazzup v3 webhook bodies into normalized items, and our records into Wazzup's shapes.

Wire reference: shared/reference/wazzup-v3.md, section 7. One body may hold `messages` and
`statuses` together; `createContact`, `createDeal`, `channelsUpdates` and the `test` call come
alone. Wazzup documents no retries or ordering (I), so every item is safe to apply twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from messaging.providers.base import (
    MAX_ID_LENGTH,
    Address,
    AddressTransport,
    ChannelStateUpdate,
    ContactCreateRequest,
    ContactRecord,
    DealCreateRequest,
    DealRecord,
    DeliveryStatus,
    ErrorInfo,
    IgnoredItem,
    InboundMessage,
    MalformedPayload,
    MessageChange,
    MessageType,
    StatusUpdate,
    UnparsedItem,
    WebhookItem,
)

# Wazzup message types (section 7.3) -> ours. vcard and geo carry their data in `text`/`raw`.
MESSAGE_TYPES = {
    "text": MessageType.TEXT,
    "image": MessageType.IMAGE,
    "audio": MessageType.AUDIO,
    "video": MessageType.VIDEO,
    "document": MessageType.DOCUMENT,
    "vcard": MessageType.CONTACTS,
    "geo": MessageType.LOCATION,
    "wapi_template": MessageType.TEMPLATE,
    "missing_call": MessageType.SYSTEM,
    "unsupported": MessageType.UNSUPPORTED,
}
STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "error": DeliveryStatus.FAILED,
}
# Channel states (section 1): only `active` sends; every other one is a warning to show.
ACTIVE_STATE = "active"

# chatType values whose chatId is a phone number's digits (section 3).
PHONE_CHAT_TYPES = frozenset({"whatsapp", "viber"})


def chat_addresses(chat_type: str, chat_id: str, *, username: str = "") -> tuple[Address, ...]:
    """The addresses one Wazzup chat stands for. A WhatsApp chat id is the phone's digits, so it
    is the contact's phone (found again whichever channel they write to); a Telegram chat id is
    the Telegram user id; anything else is kept as "chatType:chatId"."""
    chat_type, chat_id = str(chat_type or ""), str(chat_id or "")
    if chat_type == "whatsapp" and chat_id.isdigit():
        return (Address(AddressTransport.WHATSAPP, f"+{chat_id}"),)
    if chat_type == "telegram" and chat_id:
        return (Address(AddressTransport.TELEGRAM, chat_id, username),)
    if chat_type and (chat_id or username):
        return (Address(AddressTransport.WAZZUP, f"{chat_type}:{chat_id or username}", username),)
    return ()


def parse_body(body: bytes) -> list[WebhookItem]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload("the body is not a JSON object")
    items: list[WebhookItem] = []
    if data.get("test") is True:
        items.append(IgnoredItem("Wazzup's test call after PATCH /v3/webhooks", raw=data))
    for raw in _list(data, "messages", items):
        items.append(_item_or_unparsed(_message, raw))
    for raw in _list(data, "statuses", items):
        items.append(_item_or_unparsed(_status, raw))
    for raw in _list(data, "channelsUpdates", items):
        items.append(_item_or_unparsed(_channel_update, raw))
    if "createContact" in data:
        items.append(_item_or_unparsed(_create_contact, data["createContact"]))
    if "createDeal" in data:
        items.append(_item_or_unparsed(_create_deal, data["createDeal"]))
    known = {"test", "messages", "statuses", "channelsUpdates", "createContact", "createDeal"}
    for key in sorted(set(data) - known):
        # templateStatus and anything newer: the shape is not confirmed (section 7.6).
        items.append(IgnoredItem(f"Wazzup webhook field {key!r} is not handled", raw=data))
    if not items:
        raise MalformedPayload("no messages, statuses, channelsUpdates or create request")
    return items


def _list(data: dict, key: str, items: list) -> list[dict]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        items.append(UnparsedItem(f"{key} is not a list", raw={key: value}))
        return []
    return value


def _item_or_unparsed(parse, raw):
    if not isinstance(raw, dict):
        return UnparsedItem(f"not an object: {str(raw)[:80]}", raw={"item": raw})
    try:
        return parse(raw)
    except (KeyError, TypeError, ValueError) as exc:
        reason = f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        return UnparsedItem(reason, raw=raw, channel_external_id=str(raw.get("channelId") or ""))


def _id(raw: dict, key: str) -> str:
    value = raw[key]
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{key} is not an id: {str(value)[:80]!r}")
    return value


def _time(value) -> datetime:
    if not isinstance(value, str) or not value:
        return datetime.now(UTC)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _message(raw: dict) -> InboundMessage | MessageChange:
    message_id = _id(raw, "messageId")
    channel_id = _id(raw, "channelId")
    chat_type = str(raw["chatType"])
    chat_id = str(raw.get("chatId") or "")
    contact = raw.get("contact") if isinstance(raw.get("contact"), dict) else {}
    username = str(contact.get("username") or "")
    addresses = chat_addresses(chat_type, chat_id, username=username)
    if not addresses:
        raise ValueError("no chatId to reply to")
    kind = MESSAGE_TYPES.get(str(raw.get("type") or ""), MessageType.UNKNOWN)
    text = raw.get("text") if isinstance(raw.get("text"), str) else ""
    payload = _payload(kind, raw, text)
    quoted = raw.get("quotedMessage") if isinstance(raw.get("quotedMessage"), dict) else {}
    errors = []
    if isinstance(raw.get("error"), dict):
        error = raw["error"]
        errors.append(
            ErrorInfo(None, str(error.get("error") or ""), str(error.get("description") or ""))
        )
    message = InboundMessage(
        provider_message_id=message_id,
        channel_external_id=channel_id,
        sender=chat_id if chat_type == "whatsapp" else "",
        sender_name=str(contact.get("name") or ""),
        timestamp=_time(raw.get("dateTime")),
        type=kind,
        text=text,
        payload=payload,
        reply_to=str(quoted.get("messageId") or "")[:MAX_ID_LENGTH],
        errors=errors,
        raw=raw,
        addresses=addresses,
        sender_handle=username,
        is_echo=raw.get("isEcho") is True,
        author_id=str(raw.get("authorId") or ""),
        author_name=str(raw.get("authorName") or ""),
    )
    if raw.get("isEdited") is True or raw.get("isDeleted") is True:
        return MessageChange(
            channel_external_id=channel_id,
            provider_message_id=message_id,
            deleted=raw.get("isDeleted") is True,
            message=message,
            raw=raw,
        )
    return message


def _payload(kind: str, raw: dict, text: str) -> dict:
    if kind in MessageType.MEDIA:
        url = str(raw.get("contentUri") or "")
        # Wazzup gives a short-lived link, not a media id: the link is what we fetch (I).
        return {
            "media_id": url,
            "mime_type": "",
            "sha256": "",
            "filename": "",
            "caption": text,
            "voice": False,
            "animated": False,
            "url": url,
        }
    if kind == MessageType.LOCATION:
        return {"latitude": None, "longitude": None, "name": "", "address": text, "url": ""}
    if kind == MessageType.CONTACTS:
        return {"contacts": [{"vcard": text}]}
    if kind in (MessageType.SYSTEM, MessageType.UNSUPPORTED, MessageType.UNKNOWN):
        return {"wazzup_type": str(raw.get("type") or "")}
    return {}


def _status(raw: dict) -> StatusUpdate | IgnoredItem:
    message_id = _id(raw, "messageId")
    wire = str(raw["status"])
    if wire == "edited":
        # The edit itself comes as a messages[] item with isEdited; this only confirms it.
        return IgnoredItem(f"status 'edited' of {message_id}", raw=raw)
    errors = []
    if isinstance(raw.get("error"), dict):
        error = raw["error"]
        errors.append(
            ErrorInfo(None, str(error.get("error") or ""), str(error.get("description") or ""))
        )
    return StatusUpdate(
        provider_message_id=message_id,
        # Wazzup statuses do not name the channel: the message id finds it (services).
        channel_external_id="",
        status=STATUSES.get(wire, DeliveryStatus.UNKNOWN),
        timestamp=_time(raw.get("timestamp")),
        errors=errors,
        raw=raw,
    )


def _channel_update(raw: dict) -> ChannelStateUpdate:
    state = str(raw["state"])
    return ChannelStateUpdate(
        channel_external_id=_id(raw, "channelId"),
        state=state,
        healthy=state == ACTIVE_STATE,
        transport=str(raw.get("transport") or ""),
        display_id=str(raw.get("plainId") or ""),
        raw=raw,
    )


def _create_contact(raw: dict) -> ContactCreateRequest:
    addresses = []
    for chat in raw.get("contactData") or []:
        if isinstance(chat, dict):
            addresses += chat_addresses(
                chat.get("chatType"), chat.get("chatId"), username=str(chat.get("username") or "")
            )
    if not addresses:
        raise ValueError("createContact without a usable contactData entry")
    return ContactCreateRequest(
        addresses=tuple(addresses),
        name=str(raw.get("name") or ""),
        responsible_id=str(raw.get("responsibleUserId") or ""),
        by_user=raw.get("source") == "byUser",
        raw=raw,
    )


def _create_deal(raw: dict) -> DealCreateRequest:
    contacts = tuple(str(each) for each in raw.get("contacts") or [] if each)
    if not contacts:
        raise ValueError("createDeal without contacts")
    return DealCreateRequest(
        contact_ids=contacts,
        responsible_id=str(raw.get("responsibleUserId") or ""),
        by_user=raw.get("source") == "byUser",
        raw=raw,
    )


# Our records in Wazzup's shapes (sections 3 and 4)


def address_chat(address: Address) -> dict | None:
    """One of our addresses as a Wazzup contactData entry; None when Wazzup has no chat type
    for it (a WhatsApp user id)."""
    if address.transport == AddressTransport.WHATSAPP:
        return {"chatType": "whatsapp", "chatId": address.value.removeprefix("+")}
    if address.transport == AddressTransport.TELEGRAM:
        chat = {"chatType": "telegram", "chatId": address.value}
        if address.handle:
            chat["username"] = address.handle.removeprefix("@")
        return chat
    if address.transport == AddressTransport.WAZZUP and ":" in address.value:
        chat_type, chat_id = address.value.split(":", 1)
        return {"chatType": chat_type, "chatId": chat_id}
    return None


def contact_wire(record: ContactRecord) -> dict:
    chats = [chat for chat in map(address_chat, record.addresses) if chat]
    body = {
        "id": record.id[:100],
        "responsibleUserId": record.responsible_id[:100],
        "name": (record.name or record.id)[:200],
        "contactData": chats,
    }
    if record.uri:
        body["uri"] = record.uri[:200]
    return body


def deal_wire(record: DealRecord) -> dict:
    return {
        "id": record.id[:100],
        "responsibleUserId": record.responsible_id[:100],
        "name": (record.name or record.id)[:200],
        "contacts": list(record.contact_ids),
        "uri": record.uri[:200],
        "closed": record.closed,
    }
