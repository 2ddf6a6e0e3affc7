"""The Telegram part of the sandbox: a Bot API that answers like api.telegram.org for the bot
channels Switchboard has, and customers who write to those bots.

A bot is a Telegram channel whose token the request carries. Its webhook (set with setWebhook) is
remembered here; after a restart the channel's own row says where it was connected, as Telegram
would remember it. Customer messages are posted to the webhook with the secret header, one
Update per request, exactly as Telegram posts them (shared/reference/telegram-bot.md).
"""

from __future__ import annotations

import hmac
import itertools
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field

import requests
from django.conf import settings
from django.urls import reverse

from messaging.providers.telegram import CAPABILITIES, SECRET_HEADER
from messaging.providers.telegram_parse import HANDLED_UPDATES
from messaging.sandbox.emulator import tiny_png

logger = logging.getLogger(__name__)

PROVIDER = "telegram"
TOKEN_RE = re.compile(r"^([0-9]{1,20}):[A-Za-z0-9_-]{20,}$")
WEBHOOK_TIMEOUT_SECONDS = 10
TEXT_LIMIT = CAPABILITIES.max_text_length
CAPTION_LIMIT = 1024
# A token whose secret part says "revoked" plays one revoked at @BotFather: every call is a 401.
REVOKED_MARK = "revoked"
SAMPLE_LOCATION = {"latitude": 45.464211, "longitude": 9.191383}


class BotApiError(Exception):
    """An error answer in the Bot API's shape: {ok: false, error_code, description, parameters?}."""

    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters

    def body(self) -> dict:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def unauthorized() -> BotApiError:
    return BotApiError(401, "Unauthorized")


@dataclass
class Bot:
    id: str
    token: str
    name: str
    username: str
    channel_key: str
    webhook_url: str = ""
    webhook_secret: str = ""


@dataclass
class Entry:
    id: int
    sender: str  # "customer" | "bot"
    text: str = ""
    kind: str = "text"
    date: int = 0
    reply_to: int | None = None
    edits: list[str] = field(default_factory=list)
    file_id: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "from": self.sender,
            "text": self.text,
            "kind": self.kind,
            "date": self.date,
            "reply_to": self.reply_to,
            "edits": list(self.edits),
            "file_id": self.file_id,
            **self.extra,
        }


@dataclass
class Customer:
    bot_id: str
    user_id: int
    first_name: str
    last_name: str = ""
    username: str = ""
    blocked: bool = False
    entries: list[Entry] = field(default_factory=list)
    last_status: int | None = None

    def user(self) -> dict:
        user = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        user["language_code"] = "en"
        return user

    def chat(self) -> dict:
        chat = {"id": self.user_id, "first_name": self.first_name, "type": "private"}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass
class StoredFile:
    file_id: str
    path: str
    data: bytes
    mime_type: str


_lock = threading.Lock()
_webhooks: dict[str, dict] = {}  # bot id -> {"url", "secret", "allowed_updates", ...}
_customers: dict[tuple[str, int], Customer] = {}
_files: dict[str, StoredFile] = {}
_open_queries: dict[str, tuple[str, int, int]] = {}  # callback query id -> (bot, user, message)
_update_ids = itertools.count(700000001)
_message_ids: dict[str, itertools.count] = {}


def reset() -> None:
    with _lock:
        _webhooks.clear()
        _customers.clear()
        _files.clear()
        _message_ids.clear()
        _open_queries.clear()


# Bots


def bot_for_token(token: str) -> Bot:
    """The bot whose token this is; 404 for a string that is not a token, 401 for a token no
    sandbox bot has (as Telegram answers)."""
    match = TOKEN_RE.fullmatch(token or "")
    if match is None:
        raise BotApiError(404, "Not Found")
    if REVOKED_MARK in token.split(":", 1)[1].lower():
        raise unauthorized()
    for bot in bots():
        if hmac.compare_digest(bot.token.encode(), token.encode()):
            return bot
    raise unauthorized()


def bots() -> list[Bot]:
    from messaging.models import Channel

    found = []
    for channel in Channel.objects.filter(provider=PROVIDER, account__is_active=True):
        token = str((channel.secrets or {}).get("bot_token") or "")
        match = TOKEN_RE.fullmatch(token)
        if match is None:
            continue
        found.append(
            Bot(
                id=match.group(1),
                token=token,
                name=channel.name,
                username=_username(channel.name),
                channel_key=str(channel.key),
                webhook_url=settings.PUBLIC_BASE_URL
                + reverse("webhook", args=[PROVIDER, channel.key])
                if (channel.config or {}).get("webhook_connected")
                else "",
                webhook_secret=str((channel.secrets or {}).get("webhook_secret") or ""),
            )
        )
    return found


def bot_by_id(bot_id: str) -> Bot | None:
    return next((bot for bot in bots() if bot.id == str(bot_id)), None)


def _username(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "sandbox"
    return slug[:28] if slug.endswith("bot") else f"{slug[:28]}_bot"


def get_me(bot: Bot) -> dict:
    return {
        "id": int(bot.id),
        "is_bot": True,
        "first_name": bot.name,
        "username": bot.username,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
    }


# Webhooks


def set_webhook(bot: Bot, params: dict) -> None:
    url = str(params.get("url") or "")
    secret = str(params.get("secret_token") or "")
    if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise BotApiError(400, "Bad Request: secret token contains unallowed characters")
    allowed = params.get("allowed_updates")
    if isinstance(allowed, str):
        allowed = json.loads(allowed)
    with _lock:
        if not url:
            _webhooks[bot.id] = {"url": "", "secret": ""}
            return
        # Unlike Telegram, the sandbox takes http:// on any port: it runs next to Switchboard.
        _webhooks[bot.id] = {
            "url": url,
            "secret": secret,
            "allowed_updates": list(allowed) if allowed else list(HANDLED_UPDATES),
            "max_connections": int(params.get("max_connections") or 40),
            "last_error_message": "",
            "last_error_date": None,
        }


def delete_webhook(bot: Bot) -> None:
    with _lock:
        _webhooks[bot.id] = {"url": "", "secret": ""}


def webhook_of(bot: Bot) -> dict:
    with _lock:
        hook = _webhooks.get(bot.id)
    if hook is None:
        # Not set since the sandbox started: what the channel row says it was connected to.
        return {"url": bot.webhook_url, "secret": bot.webhook_secret if bot.webhook_url else ""}
    return hook


def webhook_info(bot: Bot) -> dict:
    hook = webhook_of(bot)
    info = {
        "url": hook.get("url", ""),
        "has_custom_certificate": False,
        "pending_update_count": 0,
    }
    if hook.get("url"):
        info["max_connections"] = hook.get("max_connections", 40)
        info["allowed_updates"] = hook.get("allowed_updates", list(HANDLED_UPDATES))
    if hook.get("last_error_message"):
        info["last_error_date"] = hook["last_error_date"]
        info["last_error_message"] = hook["last_error_message"]
    return info


def post_update(bot: Bot, update: dict) -> int | None:
    """POST one Update to the bot's webhook with its secret header; the HTTP status, or None when
    nothing answered (or no webhook is set)."""
    hook = webhook_of(bot)
    if not hook.get("url"):
        return None
    headers = {"Content-Type": "application/json"}
    if hook.get("secret"):
        headers[SECRET_HEADER] = hook["secret"]
    body = json.dumps(update, ensure_ascii=False).encode()
    try:
        response = requests.post(
            hook["url"], data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        _webhook_error(bot, f"Connection failed: {type(exc).__name__}")
        return None
    if response.status_code >= 300:
        _webhook_error(bot, f"Wrong response from the webhook: {response.status_code}")
    return response.status_code


def _webhook_error(bot: Bot, message: str) -> None:
    with _lock:
        hook = _webhooks.setdefault(bot.id, dict(webhook_of(bot)))
        hook["last_error_message"] = message
        hook["last_error_date"] = int(time.time())


# Customers


def customer(bot: Bot, user_id: int, *, name: str = "", username: str = "") -> Customer:
    with _lock:
        key = (bot.id, int(user_id))
        found = _customers.get(key)
        if found is None:
            first, _, last = (name or "Sandbox Customer").partition(" ")
            found = _customers[key] = Customer(
                bot_id=bot.id,
                user_id=int(user_id),
                first_name=first,
                last_name=last,
                username=username,
            )
        return found


def find_customer(bot_id: str, user_id) -> Customer | None:
    with _lock:
        try:
            return _customers.get((str(bot_id), int(user_id)))
        except (TypeError, ValueError):
            return None


def _next_message_id(bot_id: str, user_id: int) -> int:
    with _lock:
        counter = _message_ids.setdefault(f"{bot_id}:{user_id}", itertools.count(1))
        return next(counter)


def snapshot(found: Customer) -> dict:
    with _lock:
        return {
            "user_id": found.user_id,
            "name": f"{found.first_name} {found.last_name}".strip(),
            "username": found.username,
            "blocked": found.blocked,
            "last_status": found.last_status,
            "messages": [entry.as_dict() for entry in found.entries],
        }


def store_file(data: bytes, mime_type: str, folder: str, extension: str) -> StoredFile:
    with _lock:
        number = len(_files) + 1
        file_id = f"SBX{number:06d}{'A' * 24}"
        stored = StoredFile(file_id, f"{folder}/file_{number}.{extension}", data, mime_type)
        _files[file_id] = stored
        return stored


def file_by_id(file_id: str) -> StoredFile | None:
    with _lock:
        return _files.get(file_id)


def file_by_path(path: str) -> StoredFile | None:
    with _lock:
        return next((f for f in _files.values() if f.path == path), None)


class CustomerError(ValueError):
    pass


def customer_sends(bot: Bot, found: Customer, request: dict) -> tuple[dict, int | None]:
    """The customer does something in the chat: returns (the Update posted, its HTTP status)."""
    kind = request.get("kind", "text")
    if kind == "block":
        with _lock:
            found.blocked = bool(request.get("blocked", True))
        if found.blocked:
            return {}, None
        kind, request = "text", {"text": "/start"}  # unblocking restarts the bot, as in the app
    now = int(time.time())
    if kind == "edit":
        return _customer_edits(bot, found, str(request.get("text") or ""), now)
    if kind == "tap":
        return _customer_taps(bot, found, request, now)
    message_id = _next_message_id(bot.id, found.user_id)
    message = {"message_id": message_id, "from": found.user(), "chat": found.chat(), "date": now}
    entry = Entry(id=message_id, sender="customer", kind=kind, date=now)
    if kind == "text":
        text = str(request.get("text") or "").strip()
        if not text:
            raise CustomerError("Type a message first.")
        if len(text) > TEXT_LIMIT:
            raise CustomerError(f"Telegram messages hold at most {TEXT_LIMIT} characters.")
        message["text"] = entry.text = text
        if text.startswith("/"):
            command = text.split(" ", 1)[0]
            message["entities"] = [{"offset": 0, "length": len(command), "type": "bot_command"}]
    elif kind == "photo":
        stored = store_file(tiny_png((42, 171, 238), 64), "image/png", "photos", "png")
        sizes = [
            {"file_id": f"{stored.file_id}s", "file_unique_id": "AQADs", "width": 90,
             "height": 90, "file_size": 300},
            {"file_id": stored.file_id, "file_unique_id": "AQADl", "width": 64, "height": 64,
             "file_size": len(stored.data)},
        ]  # fmt: skip
        message["photo"] = sizes
        entry.file_id = stored.file_id
        entry.text = _caption(request, message)
    elif kind == "document":
        data = b"%PDF-1.4\n% sandbox document\n%%EOF\n"
        stored = store_file(data, "application/pdf", "documents", "pdf")
        message["document"] = {
            "file_name": str(request.get("filename") or "order.pdf"),
            "mime_type": "application/pdf",
            "file_id": stored.file_id,
            "file_unique_id": f"AgAD{stored.file_id[-6:]}",
            "file_size": len(data),
        }
        entry.file_id = stored.file_id
        entry.text = _caption(request, message)
    elif kind == "location":
        message["location"] = dict(SAMPLE_LOCATION)
        entry.text = "📍 {latitude}, {longitude}".format(**SAMPLE_LOCATION)
    elif kind == "contact":
        phone = re.sub(r"[^0-9+]", "", str(request.get("phone") or ""))
        if not phone:
            raise CustomerError("Type the phone number to share.")
        message["contact"] = {
            "phone_number": phone.lstrip("+"),
            "first_name": found.first_name,
            "user_id": found.user_id,
        }
        if found.last_name:
            message["contact"]["last_name"] = found.last_name
        entry.text = f"📇 {phone}"
    else:
        raise CustomerError(f"The sandbox customer cannot send {kind!r}.")
    reply_to = request.get("reply_to")
    if reply_to:
        original = _entry(found, int(reply_to))
        if original is not None:
            message["reply_to_message"] = _as_message(bot, found, original)
            entry.reply_to = original.id
    with _lock:
        found.entries.append(entry)
    update = {"update_id": next(_update_ids), "message": message}
    return update, _post(bot, found, update)


def _caption(request: dict, message: dict) -> str:
    caption = str(request.get("caption") or "").strip()[:CAPTION_LIMIT]
    if caption:
        message["caption"] = caption
    return caption


def _customer_edits(bot: Bot, found: Customer, text: str, now: int) -> tuple[dict, int | None]:
    text = text.strip()
    with _lock:
        mine = [e for e in found.entries if e.sender == "customer" and e.kind == "text"]
    if not mine:
        raise CustomerError("There is no text message of yours to edit.")
    if not text:
        raise CustomerError("Type the new text.")
    last = mine[-1]
    with _lock:
        last.edits.append(last.text)
        last.text = text
    message = _as_message(bot, found, last)
    message["edit_date"] = now
    update = {"update_id": next(_update_ids), "edited_message": message}
    return update, _post(bot, found, update)


def _customer_taps(bot: Bot, found: Customer, request: dict, now: int) -> tuple[dict, int | None]:
    entry = _entry(found, int(request.get("message_id") or 0))
    data = str(request.get("data") or "")
    if entry is None or not data:
        raise CustomerError("There is no such button.")
    query_id = str(next(_update_ids) * 1000 + found.user_id % 1000)
    with _lock:
        _open_queries[query_id] = (bot.id, found.user_id, entry.id)
        entry.extra["spinner"] = True
    update = {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": query_id,
            "from": found.user(),
            "message": _as_message(bot, found, entry),
            "chat_instance": f"-{found.user_id}{bot.id}",
            "data": data,
        },
    }
    return update, _post(bot, found, update)


def callback_answer(bot: Bot, query_id: str) -> bool:
    """answerCallbackQuery: the tapped button's spinner stops. False for an unknown query."""
    with _lock:
        query = _open_queries.pop(query_id, None)
        if query is None or query[0] != bot.id:
            return False
        found = _customers.get((query[0], query[1]))
        entry = next((e for e in found.entries if e.id == query[2]), None) if found else None
        if entry is not None:
            entry.extra["spinner"] = False
    return True


def _post(bot: Bot, found: Customer, update: dict) -> int | None:
    status = post_update(bot, update)
    with _lock:
        found.last_status = status
    return status


def _entry(found: Customer, message_id: int) -> Entry | None:
    with _lock:
        return next((e for e in found.entries if e.id == message_id), None)


def _as_message(bot: Bot, found: Customer, entry: Entry) -> dict:
    sender = (
        found.user()
        if entry.sender == "customer"
        else {"id": int(bot.id), "is_bot": True, "first_name": bot.name, "username": bot.username}
    )
    message = {"message_id": entry.id, "from": sender, "chat": found.chat(), "date": entry.date}
    if entry.kind == "text":
        message["text"] = entry.text
    elif entry.text:
        message["caption"] = entry.text
    if entry.extra.get("reply_markup"):
        message["reply_markup"] = entry.extra["reply_markup"]
    return message


# What the bot sends


SEND_METHODS = {
    "sendmessage": "text",
    "sendphoto": "photo",
    "senddocument": "document",
    "sendlocation": "location",
}


def bot_sends(bot: Bot, method: str, params: dict) -> dict:
    """Accept one send call and return its Message, or raise BotApiError as Telegram would."""
    kind = SEND_METHODS[method]
    found = find_customer(bot.id, params.get("chat_id"))
    if found is None:
        raise BotApiError(400, "Bad Request: chat not found")
    if found.blocked:
        raise BotApiError(403, "Forbidden: bot was blocked by the user")
    now = int(time.time())
    entry = Entry(id=_next_message_id(bot.id, found.user_id), sender="bot", kind=kind, date=now)
    if kind == "text":
        text = str(params.get("text") or "")
        if not text.strip():
            raise BotApiError(400, "Bad Request: message text is empty")
        if len(text) > TEXT_LIMIT:
            raise BotApiError(400, "Bad Request: message is too long")
        entry.text = text
    elif kind in ("photo", "document"):
        source = str(params.get(kind) or "")
        if not source:
            raise BotApiError(400, f"Bad Request: there is no {kind} in the request")
        entry.file_id = source
        entry.text = str(params.get("caption") or "")
        entry.extra["source"] = source
    else:
        try:
            latitude, longitude = float(params["latitude"]), float(params["longitude"])
        except (KeyError, TypeError, ValueError):
            raise BotApiError(400, "Bad Request: invalid location") from None
        entry.text = f"📍 {latitude}, {longitude}"
    entry.reply_to = _reply_of(params)
    markup = params.get("reply_markup")
    if isinstance(markup, str):
        markup = json.loads(markup)
    if isinstance(markup, dict):
        entry.extra["reply_markup"] = markup
    # Bot API 7.x and 6.9 names both work, as they do at Telegram.
    preview = params.get("link_preview_options") or {}
    entry.extra["preview_disabled"] = bool(
        (preview.get("is_disabled") if isinstance(preview, dict) else False)
        or params.get("disable_web_page_preview")
    )
    with _lock:
        found.entries.append(entry)
    message = _as_message(bot, found, entry)
    if entry.reply_to is not None:
        original = _entry(found, entry.reply_to)
        if original is not None:
            message["reply_to_message"] = _as_message(bot, found, original)
    return message


def _reply_of(params: dict) -> int | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, str):
        reply = json.loads(reply)
    if isinstance(reply, dict) and reply.get("message_id"):
        return int(reply["message_id"])
    if params.get("reply_to_message_id"):
        return int(params["reply_to_message_id"])
    return None
