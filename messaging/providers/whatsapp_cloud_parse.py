"""Reading Meta webhook bodies into the normalized types.

Wire shapes: shared/reference/meta-cloud-api.md sections 4 to 7. One POST can batch many entries,
changes, messages and statuses; an item that cannot be read becomes an `UnparsedItem` and the rest
of the batch goes on, so one odd message never costs us its neighbours.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from crm.addresses import BSUID_RE
from messaging.providers.base import (
    MAX_ID_LENGTH,
    MAX_ITEM_DEPTH,
    REFUSED_CHARACTERS,
    Address,
    AddressChange,
    AddressTransport,
    DeliveryStatus,
    ErrorInfo,
    ErrorMeaning,
    IgnoredItem,
    InboundMessage,
    MalformedPayload,
    MessageType,
    StatusUpdate,
    TemplateStatusUpdate,
    UnparsedItem,
    WebhookItem,
)

STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    # Voice messages report "played" after "read"; nobody downstream needs the distinction.
    "played": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
}

# Where a body too deep for the JSON parser is cut (see `_cut_too_deep`); well past any real
# item's depth, so the item holding the cut is refused for its depth.
CUT_DEPTH = 4 * MAX_ITEM_DEPTH
CHANNEL_ID_LENGTH = 64
# Error 131062, Meta's text is about "BSUID recipients": say what it means for the agent.
NEEDS_PHONE_CODE = 131062
# Marketing refusals (meta-cloud-api.md section 9): 131050 the user stopped marketing messages;
# 131049 Meta's per-user marketing limit, not to be retried at once. Meta gives no retry time;
# its guidance is to wait, so marketing to that person is held for a day.
MARKETING_OPTED_OUT_CODE = 131050
MARKETING_LIMITED_CODE = 131049
MARKETING_LIMITED_HOLD_SECONDS = 24 * 3600
NEEDS_PHONE_REASON = (
    "This template needs a phone number: the customer is known only by a WhatsApp username"
)


def parse_body(body: bytes) -> list[WebhookItem]:
    try:
        try:
            data = json.loads(body)
        except RecursionError:
            data = json.loads(_cut_too_deep(body))
    except ValueError as exc:
        raise MalformedPayload(f"Webhook body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload("Webhook body is not a JSON object.")
    if data.get("object") != "whatsapp_business_account":
        raise MalformedPayload(
            f"Webhook object is {data.get('object')!r}, expected 'whatsapp_business_account'."
        )
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise MalformedPayload("Webhook 'entry' is not a list.")

    items: list[WebhookItem] = []
    for entry in entries:
        items.extend(_entry_items(entry))
    return items


def _entry_items(entry) -> list[WebhookItem]:
    if not isinstance(entry, dict) or not isinstance(entry.get("changes"), list):
        return [UnparsedItem(error="Entry has no list of changes.", raw=_as_dict(entry))]
    items: list[WebhookItem] = []
    for change in entry["changes"]:
        try:
            items.extend(_change_items(entry, change))
        except Exception as exc:
            items.append(
                UnparsedItem(
                    error=f"Could not read change: {_describe(exc)}",
                    raw=_as_dict(change),
                    channel_external_id=_channel_of(change),
                )
            )
    return items


def _change_items(entry: dict, change: dict) -> list[WebhookItem]:
    field = change["field"]
    value = change["value"]
    if not isinstance(value, dict):
        raise ValueError("change value is not an object")
    if field == "messages":
        return _messages_items(value)
    if field == "user_id_update":
        return _user_id_update(value)
    if field == "message_template_status_update":
        _check_storable(value)
        return [_template_status(entry, value)]
    return [IgnoredItem(reason=f"Webhook field {field!r} is not handled.", raw=change)]


def _messages_items(value: dict) -> list[WebhookItem]:
    # Channels are routed by phone_number_id; without it nothing in this change can be placed.
    channel = str(value["metadata"]["phone_number_id"])
    if len(channel) > CHANNEL_ID_LENGTH or REFUSED_CHARACTERS.search(channel):
        raise ValueError(f"metadata.phone_number_id {_shown(channel)} is not a phone number id")
    # A sender's contact entry, by phone (wa_id) and by user id (BSUID): a username user comes
    # with the user id only (meta-cloud-api.md section 4a).
    names: dict[str, dict] = {}
    for contact in _list(value, "contacts"):
        if isinstance(contact, dict):
            for key in ("wa_id", "user_id"):
                if contact.get(key):
                    names.setdefault(str(contact[key]), contact)

    items: list[WebhookItem] = []
    for message in _list(value, "messages"):
        if _is_user_id_change(message):
            items.append(_system_user_id_change(message, channel))
            continue
        items.append(_one(_inbound, message, channel, names, what="message"))
    # Status payloads may carry contacts too, without a profile (section 4a).
    only = next(iter(names.values())) if len({id(c) for c in names.values()}) == 1 else None
    for status in _list(value, "statuses"):
        items.append(_one(_status, status, channel, names, only, what="status"))
    # System-level errors are reported as unparsed, not ignored: Meta is telling us it could not
    # hand over something (a message we will never see), and an operator should notice that.
    for error in _list(value, "errors"):
        info = _error_info(_as_dict(error))
        items.append(
            UnparsedItem(
                error=f"Meta reported a webhook error: {_error_text(info)}",
                raw=_as_dict(error),
                channel_external_id=channel,
            )
        )
    if not items:
        reason = "Change carries no messages, statuses or errors."
        items.append(IgnoredItem(reason=reason, raw=value))
    return items


def _one(reader, raw, channel: str, *args, what: str) -> WebhookItem:
    try:
        if not isinstance(raw, dict):
            raise ValueError(f"{what} is not an object")
        _check_storable(raw)
        item = reader(raw, channel, *args)
        _check_ids(item)
        return item
    except Exception as exc:
        ident = raw.get("id", "") if isinstance(raw, dict) else ""
        label = f"{what} {_shown(str(ident))}" if ident else what
        return UnparsedItem(
            error=f"Could not read {label}: {_describe(exc)}",
            raw=_as_dict(raw),
            channel_external_id=channel,
        )


def _inbound(message: dict, channel: str, names: dict[str, dict]) -> InboundMessage:
    wire_type = message["type"]
    sender = str(message.get("from") or "")
    user_id = str(message.get("from_user_id") or "")
    if BSUID_RE.match(sender):
        # A user id where a phone would be is still a user id: never read it as a number.
        sender, user_id = "", user_id or sender
    contact = names.get(sender) or names.get(user_id) or {}
    if not sender and not user_id and not contact.get("user_id"):
        raise KeyError("from")
    profile = contact.get("profile") or {}
    # Display names, not ids: drop what the database cannot store and keep the rest.
    username = REFUSED_CHARACTERS.sub("", str(profile.get("username") or ""))
    user_id = user_id or str(contact.get("user_id") or "")
    addresses = []
    if user_id:
        addresses.append(Address(AddressTransport.WHATSAPP_BSUID, user_id, username))
    if contact.get("parent_user_id"):
        addresses.append(
            Address(AddressTransport.WHATSAPP_PARENT_BSUID, str(contact["parent_user_id"]))
        )
    if sender:
        addresses.append(Address(AddressTransport.WHATSAPP, sender, "" if user_id else username))
    text, kind, payload = _content(wire_type, message)
    return InboundMessage(
        provider_message_id=str(message["id"]),
        channel_external_id=channel,
        sender=sender,
        sender_name=REFUSED_CHARACTERS.sub("", str(profile.get("name") or "")),
        addresses=tuple(addresses),
        sender_handle=username,
        timestamp=_timestamp(message["timestamp"]),
        type=kind,
        text=text,
        payload=payload,
        reply_to=str((message.get("context") or {}).get("id") or ""),
        errors=[_error_info(error) for error in message.get("errors") or []],
        raw=message,
    )


def _content(wire_type: str, message: dict) -> tuple[str, str, dict]:
    """Return (text, normalized type, payload) for one message."""
    if wire_type == "text":
        return message["text"]["body"], MessageType.TEXT, {}
    if wire_type in MessageType.MEDIA:
        media = message[wire_type]
        payload = {
            "media_id": str(media["id"]),
            "mime_type": media.get("mime_type", ""),
            "sha256": media.get("sha256", ""),
            "filename": media.get("filename", ""),
            "caption": media.get("caption", ""),
            "voice": bool(media.get("voice", False)),
            "animated": bool(media.get("animated", False)),
            "url": media.get("url", ""),
        }
        return payload["caption"], wire_type, payload
    if wire_type == "location":
        location = message["location"]
        payload = {
            "latitude": float(location["latitude"]),
            "longitude": float(location["longitude"]),
            "name": location.get("name", ""),
            "address": location.get("address", ""),
            "url": location.get("url", ""),
        }
        text = ", ".join(part for part in (payload["name"], payload["address"]) if part)
        return text, MessageType.LOCATION, payload
    if wire_type == "contacts":
        contacts = list(message["contacts"])
        names = [(c.get("name") or {}).get("formatted_name", "") for c in contacts]
        return ", ".join(n for n in names if n), MessageType.CONTACTS, {"contacts": contacts}
    if wire_type == "interactive":
        return _interactive(message["interactive"])
    if wire_type == "button":
        button = message["button"]
        payload = {"text": button.get("text", ""), "payload": button.get("payload", "")}
        return payload["text"], MessageType.BUTTON, payload
    if wire_type == "reaction":
        reaction = message["reaction"]
        # A missing or empty emoji is how Meta says the reaction was taken back.
        payload = {"message_id": str(reaction["message_id"]), "emoji": reaction.get("emoji") or ""}
        return payload["emoji"], MessageType.REACTION, payload
    if wire_type == "order":
        order = dict(message["order"])
        return order.get("text") or "", MessageType.ORDER, order
    if wire_type == "system":
        system = dict(message["system"])
        return system.get("body") or "", MessageType.SYSTEM, system
    # Unsupported messages usually carry no object of their own (only errors); newer ones and
    # types we do not know yet may, so keep whatever is there.
    content = message.get(wire_type)
    payload = dict(content) if isinstance(content, dict) else {}
    if wire_type == "unsupported":
        return "", MessageType.UNSUPPORTED, payload
    return "", MessageType.UNKNOWN, payload


def _interactive(interactive: dict) -> tuple[str, str, dict]:
    kind = interactive["type"]
    reply = interactive.get(kind) or {}
    if kind == "nfm_reply":
        # Flow answers: the submitted form stays in raw (interactive.nfm_reply.response_json).
        payload = {"kind": kind, "id": reply.get("name", ""), "title": reply.get("body", "")}
    else:
        payload = {"kind": kind, "id": str(reply.get("id", "")), "title": reply.get("title", "")}
    payload["description"] = reply.get("description", "")
    return payload["title"], MessageType.INTERACTIVE, payload


def _status(status: dict, channel: str, names: dict[str, dict], only: dict | None) -> StatusUpdate:
    # Either id may be missing: a username user's statuses carry recipient_user_id only.
    phone = str(status.get("recipient_id") or "")
    user_id = str(status.get("recipient_user_id") or "")
    if BSUID_RE.match(phone):
        phone, user_id = "", user_id or phone
    contact = names.get(phone) or names.get(user_id) or only or {}
    user_id = user_id or str(contact.get("user_id") or "")
    phone = phone or str(contact.get("wa_id") or "")
    addresses = []
    if user_id:
        addresses.append(Address(AddressTransport.WHATSAPP_BSUID, user_id))
    if contact.get("parent_user_id"):
        addresses.append(
            Address(AddressTransport.WHATSAPP_PARENT_BSUID, str(contact["parent_user_id"]))
        )
    if phone:
        addresses.append(Address(AddressTransport.WHATSAPP, phone))
    return StatusUpdate(
        provider_message_id=str(status["id"]),
        channel_external_id=channel,
        status=STATUSES.get(status["status"], DeliveryStatus.UNKNOWN),
        timestamp=_timestamp(status["timestamp"]),
        recipient=phone,
        recipient_addresses=tuple(addresses),
        callback_data=status.get("biz_opaque_callback_data", ""),
        errors=[_error_info(error) for error in status.get("errors") or []],
        raw=status,
    )


# A user's id changed. meta-cloud-api.md section 4a names the `user_id_update` webhook (and we
# also expect a `system` message of type `user_changed_user_id`, by analogy with
# `user_changed_number`) but documents no wire shape: these readers guess the likely field
# names, and anything they cannot read whole becomes an UnparsedItem so an operator sees it.
OLD_ID_KEYS = ("previous_user_id", "old_user_id", "previous", "old")
NEW_ID_KEYS = ("user_id", "new_user_id", "current_user_id", "current", "new")


def _user_id_update(value: dict) -> list[WebhookItem]:
    channel = _channel_of({"value": value})
    records = [value]
    for key, child in value.items():
        if key == "metadata":
            continue
        if isinstance(child, dict):
            records.append(child)
        elif isinstance(child, list):
            records.extend(each for each in child if isinstance(each, dict))
    items: list[WebhookItem] = []
    for record in records:
        change = _address_change(record, channel, raw=value)
        if change is not None:
            items.append(change)
    if not items:
        return [
            UnparsedItem(
                error="A user_id_update we cannot read: no old and new user id in it.",
                raw=value,
                channel_external_id=channel,
            )
        ]
    return items


def _address_change(record: dict, channel: str, *, raw: dict) -> AddressChange | None:
    old = _first_id(record, OLD_ID_KEYS)
    new = _first_id(record, NEW_ID_KEYS)
    if not old or not new or old == new:
        return None
    _check_storable(record)
    phone = str(record.get("wa_id") or "")
    return AddressChange(
        channel_external_id=channel,
        transport=AddressTransport.WHATSAPP_BSUID,
        old=old,
        new=new,
        phone="" if BSUID_RE.match(phone) else phone,
        raw=raw,
    )


def _first_id(record: dict, keys: tuple[str, ...]) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str | int) and BSUID_RE.match(str(value)):
            return str(value)
    return ""


def _is_user_id_change(message) -> bool:
    return (
        isinstance(message, dict)
        and message.get("type") == "system"
        and isinstance(message.get("system"), dict)
        and message["system"].get("type") == "user_changed_user_id"
    )


def _system_user_id_change(message: dict, channel: str) -> WebhookItem:
    system = message["system"]
    record = {
        "previous_user_id": _first_id(system, OLD_ID_KEYS) or message.get("from_user_id"),
        "user_id": _first_id(system, NEW_ID_KEYS),
        "wa_id": message.get("from") or system.get("wa_id") or "",
    }
    try:
        change = _address_change(record, channel, raw=message)
    except ValueError as exc:
        change, error = None, str(exc)
    else:
        error = "no old and new user id in it"
    if change is None:
        return UnparsedItem(
            error=f"A user_changed_user_id message we cannot read: {error}.",
            raw=message,
            channel_external_id=channel,
        )
    return change


def _template_status(entry: dict, value: dict) -> TemplateStatusUpdate:
    reason = value.get("reason") or ""
    return TemplateStatusUpdate(
        account_external_id=str(entry["id"]),
        template_external_id=str(value["message_template_id"]),
        name=value.get("message_template_name", ""),
        language=value.get("message_template_language", ""),
        status=value["event"],
        # Meta sends the literal "NONE" when there is no reason (approvals).
        reason="" if reason == "NONE" else reason,
        raw=value,
    )


def _check_storable(raw: dict) -> None:
    """Refuse an item the database would refuse (anywhere in it, since its raw form is kept):
    nesting past MAX_ITEM_DEPTH, characters PostgreSQL cannot store."""
    stack = [(raw, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_ITEM_DEPTH:
                raise ValueError(f"nested deeper than {MAX_ITEM_DEPTH} levels (at {path})")
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in pairs:
                key = str(key)
                if REFUSED_CHARACTERS.search(key):
                    raise ValueError(f"a field name under {path or 'the item'} {_refused(key)}")
                stack.append((child, f"{path}.{key}" if path else key, depth + 1))
        elif isinstance(value, str) and REFUSED_CHARACTERS.search(value):
            raise ValueError(f"{path} {_refused(value)}")


def _check_ids(item) -> None:
    if not item.provider_message_id:
        raise ValueError("id is empty")
    ids = [("id", item.provider_message_id)]
    if isinstance(item, InboundMessage):
        ids.append(("context.id", item.reply_to))
        if item.type == MessageType.REACTION:
            ids.append(("reaction.message_id", item.payload["message_id"]))
    for label, value in ids:
        if len(value) > MAX_ID_LENGTH:
            raise ValueError(
                f"{label} is {len(value)} characters long; an id has at most {MAX_ID_LENGTH}"
            )


def _refused(text: str) -> str:
    char = REFUSED_CHARACTERS.search(text).group()
    return f"contains U+{ord(char):04X}, a character the database cannot store"


def _shown(text: str, limit: int = 60) -> str:
    """A wire value fit for an error message: short, and storable."""
    short = text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
    return REFUSED_CHARACTERS.sub(lambda m: f"\\u{ord(m.group()):04x}", short)


def _cut_too_deep(body: bytes) -> str:
    """The body with every value nested past CUT_DEPTH replaced by {}: a body deeper than the
    JSON parser's stack would otherwise be lost whole, neighbours of the deep item included."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    parts, depth, kept_from, cut_at = [], 0, 0, None
    in_string = escaped = False
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth == CUT_DEPTH + 1 and cut_at is None:
                parts.append(text[kept_from:i])
                cut_at = i
        elif char in "]}":
            depth -= 1
            if cut_at is not None and depth == CUT_DEPTH:
                parts.append("{}")
                kept_from, cut_at = i + 1, None
    if cut_at is None:
        parts.append(text[kept_from:])
    return "".join(parts)


def _error_info(error: dict) -> ErrorInfo:
    code = error.get("code")
    code = int(code) if code is not None else None
    details = (error.get("error_data") or {}).get("details") or error.get("message") or ""
    title = error.get("title") or error.get("message") or ""
    if code == NEEDS_PHONE_CODE:
        title = NEEDS_PHONE_REASON
    return ErrorInfo(code=code, title=title, details=details, **error_meaning(code))


def error_meaning(code: int | None) -> dict:
    """The consent meaning of a Graph API error code, as ErrorInfo/ProviderError arguments."""
    if code == MARKETING_OPTED_OUT_CODE:
        return {"meaning": ErrorMeaning.MARKETING_OPTED_OUT}
    if code == MARKETING_LIMITED_CODE:
        return {
            "meaning": ErrorMeaning.MARKETING_LIMITED,
            "hold_seconds": MARKETING_LIMITED_HOLD_SECONDS,
        }
    return {}


def _error_text(info: ErrorInfo) -> str:
    text = f"{info.code} {info.title}" if info.code is not None else info.title
    return f"{text}: {info.details}" if info.details and info.details != info.title else text


def _timestamp(value) -> datetime:
    return datetime.fromtimestamp(int(value), tz=UTC)


def _list(value: dict, key: str) -> list:
    items = value.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ValueError(f"{key!r} is not a list")
    return items


def _channel_of(change) -> str:
    try:
        return str(change["value"]["metadata"]["phone_number_id"])
    except (KeyError, TypeError):
        return ""


def _as_dict(raw) -> dict:
    return raw if isinstance(raw, dict) else {"raw": raw}


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc) or type(exc).__name__
