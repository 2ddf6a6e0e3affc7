"""A Wazzup API v3 emulator: what it remembers, the rules it applies like Wazzup, the webhooks
it posts to Switchboard's real URL (with the URL's ?key= token, the way Wazzup authenticates).

Single-process and in memory, like the WhatsApp sandbox (emulator.py): a restart forgets users,
contacts, deals, pipelines, chats and subscriptions. Every API key works, except that a key
starting with "bad" is refused (401) and one starting with "sidecar" is a Sidecar key (403 on the
CRM routes). Each key sees the same two channels, a WhatsApp number and a Telegram bot.

Reference: shared/reference/wazzup-v3.md. The lock is never held during HTTP: Switchboard calls
this API while handling the webhooks it posts.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

WHATSAPP_CHANNEL_ID = "5a0e5b52-7f1e-4c1a-9d0b-0000000000a1"
TELEGRAM_CHANNEL_ID = "5a0e5b52-7f1e-4c1a-9d0b-0000000000b2"
CHANNELS = [
    {
        "channelId": WHATSAPP_CHANNEL_ID,
        "transport": "whatsapp",
        "plainId": "79011112233",
        "state": "active",
    },
    {
        "channelId": TELEGRAM_CHANNEL_ID,
        "transport": "telegram",
        "plainId": "switchboard_sandbox_bot",
        "state": "active",
    },
]
TRANSPORT_CHAT_TYPE = {"whatsapp": "whatsapp", "wapi": "whatsapp", "telegram": "telegram"}
TEXT_LIMITS = {"whatsapp": 10_000, "telegram": 4096}
BATCH_LIMIT = 100
WEBHOOK_TIMEOUT_SECONDS = 30


class ApiError(Exception):
    def __init__(self, status: int, code: str = "", description: str = "", data=None):
        super().__init__(code or str(status))
        self.status, self.code, self.description, self.data = status, code, description, data

    def body(self) -> dict:
        if not self.code:
            return {}
        body = {"status": self.status, "error": self.code, "description": self.description}
        if self.data is not None:
            body["data"] = self.data
        return body


@dataclass
class Bubble:
    """One message in a sandbox chat, as the customer's phone shows it."""

    message_id: str
    direction: str  # "in" (customer -> business) or "out"
    text: str
    at: str
    author: str = ""
    status: str = ""


@dataclass
class Account:
    users: dict = field(default_factory=dict)
    contacts: dict = field(default_factory=dict)
    deals: dict = field(default_factory=dict)
    pipelines: dict = field(default_factory=dict)
    webhooks_uri: str = ""
    crm_message_ids: dict = field(default_factory=dict)  # crmMessageId -> messageId
    chats: dict = field(default_factory=dict)  # (channelId, chatId) -> [Bubble]
    requests: list = field(default_factory=list)  # (method, path, body) as received


_lock = threading.Lock()
_accounts: dict[str, Account] = {}
_threads: list[threading.Thread] = []


def reset() -> None:
    with _lock:
        _accounts.clear()
        threads = list(_threads)
        _threads.clear()
    for thread in threads:
        thread.join(timeout=5)


def account(api_key: str) -> Account:
    with _lock:
        return _accounts.setdefault(api_key, Account())


def authenticate(authorization: str, *, crm_route: bool) -> Account:
    if not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
        raise ApiError(401)
    key = authorization[7:].strip()
    if key.startswith("bad"):
        raise ApiError(401)
    if crm_route and key.startswith("sidecar"):
        raise ApiError(403)
    return account(key)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# CRM entities (sections 2-5)

ENTITY_ERRORS = {
    "users": "INVALID_USERS_DATA",
    "contacts": "INVALID_CONTACTS_DATA",
    "deals": "INVALID_DEALS_DATA",
}
REQUIRED = {
    "users": ("id", "name"),
    "contacts": ("id", "responsibleUserId", "name", "contactData"),
    "deals": ("id", "responsibleUserId", "name", "contacts", "uri", "closed"),
    "pipelines": ("id", "name"),
}


def entities_post(acc: Account, route: str, body) -> None:
    if not isinstance(body, list):
        raise ApiError(400, "VALIDATION_ERROR", "The body must be an array")
    if len(body) > BATCH_LIMIT:
        raise ApiError(400, "TOO_MANY_ENTITIES", "Too many entities in one request")
    bad = []
    for index, item in enumerate(body):
        fields = [
            name for name in REQUIRED[route] if not isinstance(item, dict) or name not in item
        ]
        responsible = item.get("responsibleUserId") if isinstance(item, dict) else None
        if route == "contacts" and responsible and responsible not in acc.users:
            fields.append("responsibleUserId")
        if route == "pipelines" and isinstance(item, dict) and item.get("stages") == []:
            fields.append("stages")
        if fields:
            bad.append({"index": index, "fields": fields})
    if bad:
        code = ENTITY_ERRORS.get(route, "VALIDATION_ERROR")
        raise ApiError(400, code, f"Invalid {route} data", bad)
    store = getattr(acc, route)
    with _lock:
        for item in body:
            store[str(item["id"])] = item


def entities_delete(acc: Account, route: str, ids) -> None:
    if not isinstance(ids, list):
        raise ApiError(400, "VALIDATION_ERROR", "The body must be an array of ids")
    if len(ids) > BATCH_LIMIT:
        raise ApiError(400, "TOO_MANY_ENTITIES", "Too many entities in one request")
    store = getattr(acc, route)
    with _lock:
        for each in ids:
            store.pop(str(each), None)


# Webhooks (section 7)


def webhooks_patch(acc: Account, body) -> dict:
    uri = body.get("webhooksUri") if isinstance(body, dict) else None
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")) or len(uri) > 200:
        raise ApiError(400, "uriNotValid", "webhooksUri is not a valid URI")
    status = post_json(uri, {"test": True})
    if status != 200:
        raise ApiError(400, "testPostNotPassed", "Test POST to webhooksUri did not return 200")
    acc.webhooks_uri = uri
    return {"ok": True}


def post_json(uri: str, payload: dict) -> int | None:
    """POST a webhook like Wazzup: JSON, no signature; the token is in the URI."""
    try:
        response = requests.post(
            uri,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        logger.warning("sandbox wazzup webhook to %s failed: %s", uri, exc)
        return None
    return response.status_code


def post_webhook(acc: Account, payload: dict) -> tuple[int | None, dict | None]:
    if not acc.webhooks_uri:
        raise ApiError(400, "NO_WEBHOOKS", "Connect the webhooks first (PATCH /v3/webhooks)")
    try:
        response = requests.post(
            acc.webhooks_uri,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
    except requests.RequestException as exc:
        logger.warning("sandbox wazzup webhook failed: %s", exc)
        return None, None
    try:
        answer = response.json()
    except ValueError:
        answer = None
    return response.status_code, answer if isinstance(answer, dict) else None


# Messages (section 6) and what the customer does


def channel(channel_id: str) -> dict | None:
    return next((c for c in CHANNELS if c["channelId"] == channel_id), None)


def message_accept(acc: Account, body) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, "INVALID_MESSAGE_DATA", "Invalid message data", {"fields": ["body"]})
    missing = [name for name in ("channelId", "chatType", "chatId") if not body.get(name)]
    if missing:
        raise ApiError(400, "INVALID_MESSAGE_DATA", "Invalid message data", {"fields": missing})
    found = channel(body["channelId"])
    if found is None:
        raise ApiError(400, "CHANNEL_NOT_FOUND", "Channel not found")
    if TRANSPORT_CHAT_TYPE.get(found["transport"]) != body["chatType"]:
        data = {
            "channelId": found["channelId"],
            "transport": found["transport"],
            "chatType": body["chatType"],
        }
        raise ApiError(400, "WRONG_TRANSPORT", "Wrong transport for this chatType", data)
    has_text, has_content = bool(body.get("text")), bool(body.get("contentUri"))
    if has_text and has_content:
        raise ApiError(400, "MESSAGE_ONLY_TEXT_OR_CONTENT", "Send text or contentUri, not both")
    if not has_text and not has_content:
        raise ApiError(400, "MESSAGE_NOTHING_TO_SEND", "Nothing to send")
    if has_text and len(body["text"]) > TEXT_LIMITS.get(found["transport"], 4096):
        raise ApiError(400, "MESSAGE_TEXT_TOO_LONG", "Text too long")
    crm_id = body.get("crmMessageId")
    with _lock:
        if crm_id and crm_id in acc.crm_message_ids:
            raise ApiError(
                400,
                "REPEATED_CRM_MESSAGE_ID",
                "You have already sent message with the same crmMessageId",
                {"crmMessageId": crm_id},
            )
        message_id = str(uuid.uuid4())
        if crm_id:
            acc.crm_message_ids[crm_id] = message_id
        author = acc.users.get(str(body.get("crmUserId") or ""), {}).get("name", "")
        acc.chats.setdefault((found["channelId"], str(body["chatId"])), []).append(
            Bubble(
                message_id=message_id,
                direction="out",
                text=body.get("text") or body.get("contentUri"),
                at=now_iso(),
                author=author,
                status="sent",
            )
        )
        acc.requests.append(("POST", "message", body))
    _statuses_later(acc, message_id)
    return {"messageId": message_id, "chatId": str(body["chatId"])}


def _statuses_later(acc: Account, message_id: str) -> None:
    delay = float(getattr(settings, "SANDBOX_STATUS_DELAY", 1.0))

    def run():
        for status in ("delivered", "read"):
            time.sleep(delay)
            with _lock:
                for bubbles in acc.chats.values():
                    for bubble in bubbles:
                        if bubble.message_id == message_id:
                            bubble.status = status
            if acc.webhooks_uri:
                post_json(
                    acc.webhooks_uri,
                    {
                        "statuses": [
                            {"messageId": message_id, "timestamp": now_iso(), "status": status}
                        ]
                    },
                )

    thread = threading.Thread(target=run, daemon=True, name=f"wazzup-status-{message_id}")
    with _lock:
        _threads.append(thread)
    thread.start()


def customer_writes(
    acc: Account, *, channel_id: str, chat_id: str, name: str, text: str, username: str = ""
) -> str:
    """The customer writes to a channel: a messages[] webhook, like Wazzup's."""
    found = channel(channel_id)
    if found is None:
        raise ApiError(400, "CHANNEL_NOT_FOUND", "Channel not found")
    message_id = str(uuid.uuid4())
    contact = {"name": name}
    if username:
        contact["username"] = username
    message = {
        "messageId": message_id,
        "dateTime": now_iso(),
        "channelId": channel_id,
        "chatType": TRANSPORT_CHAT_TYPE[found["transport"]],
        "chatId": chat_id,
        "type": "text",
        "isEcho": False,
        "status": "inbound",
        "text": text,
        "contact": contact,
    }
    with _lock:
        acc.chats.setdefault((channel_id, chat_id), []).append(
            Bubble(message_id=message_id, direction="in", text=text, at=message["dateTime"])
        )
    post_webhook(acc, {"messages": [message]})
    return message_id


def agent_writes_from_phone(
    acc: Account, *, channel_id: str, chat_id: str, user_id: str, text: str
) -> str:
    """An agent answers from their phone or the Wazzup app: an echo (isEcho: true)."""
    found = channel(channel_id)
    if found is None:
        raise ApiError(400, "CHANNEL_NOT_FOUND", "Channel not found")
    message_id = str(uuid.uuid4())
    author = acc.users.get(user_id, {}).get("name", "")
    message = {
        "messageId": message_id,
        "dateTime": now_iso(),
        "channelId": channel_id,
        "chatType": TRANSPORT_CHAT_TYPE[found["transport"]],
        "chatId": chat_id,
        "type": "text",
        "isEcho": True,
        "status": "sent",
        "text": text,
        "authorId": user_id,
        "authorName": author,
        "sentFromApp": True,
        "contact": {"name": ""},
    }
    with _lock:
        acc.chats.setdefault((channel_id, chat_id), []).append(
            Bubble(message_id=message_id, direction="out", text=text, at=now_iso(), author=author)
        )
    post_webhook(acc, {"messages": [message]})
    return message_id


def create_contact(acc: Account, *, chat_type: str, chat_id: str, name: str, user_id: str):
    """A user presses "create contact" in the Wazzup chat: the CRM answers with the contact."""
    body = {
        "createContact": {
            "responsibleUserId": user_id,
            "name": name,
            "contactData": [{"chatType": chat_type, "chatId": chat_id}],
            "source": "byUser",
        }
    }
    status, answer = post_webhook(acc, body)
    if status == 200 and answer and answer.get("id"):
        with _lock:
            acc.contacts[str(answer["id"])] = answer
    return status, answer


def chat_bubbles(acc: Account, channel_id: str, chat_id: str) -> list[Bubble]:
    with _lock:
        return list(acc.chats.get((channel_id, chat_id), []))


def iframe_link(acc: Account, body, base_url: str) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("user"), dict):
        raise ApiError(400, "VALIDATION_ERROR", "user is required")
    if body.get("scope") not in ("global", "card"):
        raise ApiError(400, "VALIDATION_ERROR", "scope is global or card")
    if body["scope"] == "card" and not body.get("filter"):
        raise ApiError(400, "VALIDATION_ERROR", "filter is required for scope card")
    token = secrets.token_urlsafe(16)
    with _lock:
        _iframes[token] = body
    return {"url": f"{base_url}/sandbox/wazzup/iframe/{token}/"}


_iframes: dict[str, dict] = {}


def iframe_request(token: str) -> dict | None:
    with _lock:
        return _iframes.get(token)
