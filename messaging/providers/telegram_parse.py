"""Telegram Bot API webhooks: one Update per request, read into the normalized types.

Wire reference: shared/reference/telegram-bot.md, section 4. Only private chats are conversations:
group, supergroup and channel traffic, and update kinds we do not handle, come back as
`IgnoredItem`s with the reason, so they stay visible on the stored event.

Ids: a contact is the Telegram user (`from.id`); a message id is only unique inside its chat, so
our provider message id is "<chat id>:<message id>".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from messaging.providers.base import (
    MAX_ID_LENGTH,
    Address,
    AddressTransport,
    IgnoredItem,
    InboundMessage,
    MalformedPayload,
    MessageEdit,
    MessageType,
    UnparsedItem,
    WebhookItem,
)

START_COMMAND = "/start"
# Update kinds we read; `setWebhook` asks Telegram for exactly these (allowed_updates).
HANDLED_UPDATES = ("message", "edited_message", "callback_query")


def message_id_of(chat_id, message_id) -> str:
    return f"{chat_id}:{message_id}"


def update_id_of(body: bytes) -> int | None:
    """The update's id, or None when the body is not an Update (never raises)."""
    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(update, dict):
        return None
    update_id = update.get("update_id")
    return update_id if isinstance(update_id, int) and not isinstance(update_id, bool) else None


def parse_update(body: bytes, *, bot_id: str) -> list[WebhookItem]:
    try:
        update = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedPayload(f"The body is not JSON: {exc}") from None
    if not isinstance(update, dict) or update_id_of(body) is None:
        raise MalformedPayload("The body is not a Telegram Update (no integer update_id).")
    kinds = [key for key in update if key != "update_id"]
    if not kinds:
        return [IgnoredItem(reason="The update carries nothing besides its id.", raw=update)]
    kind = kinds[0]
    value = update[kind]
    if kind not in HANDLED_UPDATES:
        reason = f"Telegram updates of kind {kind!r} are not handled."
        return [IgnoredItem(reason=reason, raw=update)]
    if not isinstance(value, dict):
        return [UnparsedItem(error=f"{kind} is not an object.", raw=update)]
    try:
        if kind == "callback_query":
            return [_callback_query(value, update=update, bot_id=bot_id)]
        chat = value.get("chat") or {}
        if chat.get("type") != "private":
            return [_not_private(chat, kind=kind, update=update)]
        if kind == "edited_message":
            return [_edit(value, update=update, bot_id=bot_id)]
        return [_message(value, update=update, bot_id=bot_id)]
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
        return [UnparsedItem(error=f"Unreadable {kind}: {detail}", raw=update)]


def _not_private(chat: dict, *, kind: str, update: dict) -> IgnoredItem:
    chat_type = chat.get("type") or "unknown"
    title = chat.get("title") or chat.get("id")
    return IgnoredItem(
        reason=f"A {kind.replace('_', ' ')} in a {chat_type} chat ({title}): Switchboard only "
        "handles private chats with the bot.",
        raw=update,
    )


def _timestamp(value) -> datetime:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"date {value!r} is not a unix time")
    return datetime.fromtimestamp(value, tz=UTC)


def _sender(user: dict) -> tuple[str, str, tuple[Address, ...]]:
    """(user id, display name, addresses). The username is display data: it can change."""
    user_id = user["id"]
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise ValueError(f"user id {user_id!r} is not a number")
    name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p)
    handle = user.get("username") or ""
    handle = f"@{handle}" if handle else ""
    return str(user_id), name, (Address(AddressTransport.TELEGRAM, str(user_id), handle),)


def _checked_id(value: str) -> str:
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"id {value[:40]!r}... is longer than {MAX_ID_LENGTH} characters")
    return value


def _message(message: dict, *, update: dict, bot_id: str) -> InboundMessage:
    sender, name, addresses = _sender(message["from"])
    chat_id = message["chat"]["id"]
    kind, text, payload = content_of(message)
    inbound = InboundMessage(
        provider_message_id=_checked_id(message_id_of(chat_id, message["message_id"])),
        channel_external_id=bot_id,
        sender=sender,
        sender_name=name,
        timestamp=_timestamp(message["date"]),
        type=kind,
        text=text,
        payload=payload,
        raw=update,
        addresses=addresses,
        sender_handle=addresses[0].handle,
    )
    reply = message.get("reply_to_message")
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        inbound.reply_to = _checked_id(message_id_of(chat_id, reply["message_id"]))
    if payload.get("command") == "start" and payload.get("start_payload"):
        inbound.link_token = payload["start_payload"]
    contact = message.get("contact")
    if kind == MessageType.CONTACTS and _own_contact_card(contact, sender):
        # The user shared their own card (its user_id is theirs): the phone is theirs too.
        inbound.shared_phone = str(contact["phone_number"])
    return inbound


def _own_contact_card(contact, sender: str) -> bool:
    return (
        isinstance(contact, dict)
        and bool(contact.get("phone_number"))
        and str(contact.get("user_id") or "") == sender
    )


def _media(file: dict, **extra) -> dict:
    # `thumbnail` since Bot API 6.6, `thumb` before: both are read.
    thumbnail = file.get("thumbnail") or file.get("thumb") or {}
    return {
        "thumbnail_id": thumbnail.get("file_id", "") if isinstance(thumbnail, dict) else "",
        "media_id": file["file_id"],
        "file_unique_id": file.get("file_unique_id", ""),
        "file_size": file.get("file_size"),
        "mime_type": file.get("mime_type", ""),
        "sha256": "",  # Telegram gives no checksum
        "filename": file.get("file_name", ""),
        "caption": "",
        "voice": False,
        "animated": False,
        "url": "",
        **extra,
    }


def content_of(message: dict) -> tuple[str, str, dict]:
    """(type, text a person reads, payload) of one Message."""
    caption = message.get("caption") or ""
    if "text" in message:
        text = str(message["text"])
        command, _, rest = text.partition(" ")
        # "/start@botname payload" is the same command addressed to the bot by name.
        if command.split("@", 1)[0] == START_COMMAND:
            return MessageType.TEXT, text, {"command": "start", "start_payload": rest.strip()}
        return MessageType.TEXT, text, {}
    if isinstance(message.get("photo"), list) and message["photo"]:
        # Several sizes, small to large: the last is the largest (reference section 4).
        largest = message["photo"][-1]
        payload = _media(largest, mime_type="image/jpeg", caption=caption)
        return MessageType.IMAGE, caption, payload
    if isinstance(message.get("document"), dict):
        return MessageType.DOCUMENT, caption, _media(message["document"], caption=caption)
    if isinstance(message.get("voice"), dict):
        voice = message["voice"]
        payload = _media(voice, mime_type=voice.get("mime_type") or "audio/ogg", voice=True)
        return MessageType.AUDIO, caption, {**payload, "duration": voice.get("duration")}
    if isinstance(message.get("audio"), dict):
        audio = message["audio"]
        payload = _media(audio, caption=caption, title=audio.get("title", ""))
        return MessageType.AUDIO, caption, payload
    if isinstance(message.get("video"), dict):
        return MessageType.VIDEO, caption, _media(message["video"], caption=caption)
    if isinstance(message.get("sticker"), dict):
        sticker = message["sticker"]
        animated = bool(sticker.get("is_animated") or sticker.get("is_video"))
        mime = (
            "video/webm"
            if sticker.get("is_video")
            else "application/x-tgsticker"
            if sticker.get("is_animated")
            else "image/webp"
        )
        payload = _media(sticker, mime_type=mime, animated=animated, emoji=sticker.get("emoji", ""))
        return MessageType.STICKER, sticker.get("emoji", ""), payload
    if isinstance(message.get("location"), dict):
        location = message["location"]
        payload = {
            "latitude": float(location["latitude"]),
            "longitude": float(location["longitude"]),
            "name": "",
            "address": "",
            "url": "",
        }
        return MessageType.LOCATION, "", payload
    if isinstance(message.get("contact"), dict):
        contact = message["contact"]
        name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
        text = f"{name} {contact.get('phone_number', '')}".strip()
        return MessageType.CONTACTS, text, {"contacts": [contact]}
    kinds = sorted(k for k in message if k not in ("message_id", "from", "chat", "date"))
    return MessageType.UNSUPPORTED, caption, {"fields": kinds}


def _edit(message: dict, *, update: dict, bot_id: str) -> MessageEdit:
    chat_id = message["chat"]["id"]
    _, text, _ = content_of(message)
    edited = message.get("edit_date", message["date"])
    return MessageEdit(
        channel_external_id=bot_id,
        provider_message_id=_checked_id(message_id_of(chat_id, message["message_id"])),
        text=text,
        edited_at=_timestamp(edited),
        raw=update,
    )


def _callback_query(query: dict, *, update: dict, bot_id: str) -> WebhookItem:
    """A tap on an inline keyboard button under one of our messages."""
    sender, name, addresses = _sender(query["from"])
    origin = query.get("message") if isinstance(query.get("message"), dict) else {}
    chat = origin.get("chat") or {}
    if chat and chat.get("type") != "private":
        return _not_private(chat, kind="callback_query", update=update)
    data = str(query.get("data") or "")
    title = _button_text(origin, data) or data
    inbound = InboundMessage(
        # A tap is not a message: its own id (unique per bot) names it.
        provider_message_id=_checked_id(f"callback:{query['id']}"),
        channel_external_id=bot_id,
        sender=sender,
        sender_name=name,
        # A callback query carries no date; the message it came from does (I: reference sec. 4).
        timestamp=_timestamp(origin["date"]) if "date" in origin else datetime.now(tz=UTC),
        type=MessageType.INTERACTIVE,
        text=title,
        payload={
            "kind": "callback_query",
            "id": data,
            "title": title,
            "description": "",
            "callback_query_id": str(query["id"]),
        },
        raw=update,
        addresses=addresses,
        sender_handle=addresses[0].handle,
        acknowledge_id=str(query["id"]),
    )
    if chat and origin.get("message_id") is not None:
        inbound.reply_to = _checked_id(message_id_of(chat["id"], origin["message_id"]))
    return inbound


def _button_text(message: dict, data: str) -> str:
    keyboard = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    for row in keyboard if isinstance(keyboard, list) else []:
        for button in row if isinstance(row, list) else []:
            if isinstance(button, dict) and button.get("callback_data") == data:
                return str(button.get("text") or "")
    return ""
