"""What the sandbox remembers, the rules it applies like Meta, and the webhooks it sends.

The sandbox is single-process by design: it runs inside `manage.py runserver` and keeps everything
(chats per (phone_number_id, wa_id), sent wamids, media, customer message ids) in module memory
behind one lock. A restart forgets it all, and several worker processes would each see their own
copy. The ORM is read only to find the "subscription" Meta would know for a number: the channel,
its account's webhook URL, app secret and access token.

The lock is never held during HTTP: Switchboard may call the sandbox's Graph API while it is
handling a webhook the sandbox is still waiting on, in the same process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field

import phonenumbers
import requests
from django.conf import settings
from django.urls import reverse

from crm.addresses import BSUID_RE
from messaging.providers.whatsapp_cloud import WhatsAppCloudProvider

logger = logging.getLogger(__name__)

WEBHOOK_TIMEOUT_SECONDS = 10
RETRY_ATTEMPTS = 3
RETRY_SPACING_SECONDS = 1.0
TEXT_LIMIT = WhatsAppCloudProvider.capabilities.max_text_length
# A WhatsApp username: letters, digits, dots and underscores (the sandbox takes it lower-case).
USERNAME_RE = re.compile(r"^(?=.*[a-z_])[a-z0-9._]{3,35}$")
TYPING_SECONDS = 25

SEND_TYPES = frozenset(
    {
        "text",
        "template",
        "image",
        "video",
        "audio",
        "document",
        "sticker",
        "reaction",
        "interactive",
        "location",
        "contacts",
    }
)
MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})
MEDIA_MIME_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "video/mp4",
        "video/3gpp",
        "audio/aac",
        "audio/amr",
        "audio/mpeg",
        "audio/mp4",
        "audio/ogg",
        "text/plain",
        "text/csv",
    }
)

# Demo customer numbers (by their last digits) that make the sandbox answer like Meta on a bad day.
ERROR_NUMBERS = {
    "1047": "non-template messages fail with 131047 (24-hour window closed); templates go through",
    "0429": "every send is refused at once with 130429 (throughput limit)",
    "1026": "messages are sent, then fail with 131026 (undeliverable)",
}

STATUS_ERRORS = {
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    131026: (
        "Message undeliverable",
        "Message Undeliverable.",
    ),
}


def _template(tid, name, language, category, components, status="APPROVED"):
    return {
        "id": tid,
        "name": name,
        "language": language,
        "status": status,
        "category": category,
        "parameter_format": "POSITIONAL",
        "components": components,
    }


def _body(text, *example):
    component = {"type": "BODY", "text": text}
    if example:
        component["example"] = {"body_text": [list(example)]}
    return component


DEMO_TEMPLATES = [
    _template(
        "1298374650200001",
        "ticket_update",
        "en_US",
        "UTILITY",
        [
            _body(
                "Hello {{1}}, there is news on your request {{2}}: {{3}}",
                "Olivia",
                "#4821",
                "a technician will call you tomorrow",
            )
        ],
    ),
    _template(
        "1298374650200002",
        "ticket_update",
        "it",
        "UTILITY",
        [
            _body(
                "Ciao {{1}}, ci sono novità sulla tua richiesta {{2}}: {{3}}",
                "Olivia",
                "#4821",
                "un tecnico ti chiamerà domani",
            )
        ],
    ),
    _template(
        "1298374650200003",
        "order_status",
        "en_US",
        "UTILITY",
        [_body("Hi {{1}}, your order {{2}} is now: {{3}}.", "Olivia", "#1001", "shipped")],
    ),
    _template(
        "1298374650200004",
        "order_status",
        "it",
        "UTILITY",
        [_body("Ciao {{1}}, il tuo ordine {{2}} ora è: {{3}}.", "Olivia", "#1001", "spedito")],
    ),
    _template(
        "1298374650200005",
        "cart_reminder",
        "en_US",
        "MARKETING",
        [
            {"type": "HEADER", "format": "TEXT", "text": "You left something behind"},
            _body("Hi {{1}}, your cart is still waiting for you.", "Olivia"),
            {"type": "FOOTER", "text": "Reply STOP to opt out"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Show my cart"}]},
        ],
    ),
    _template(
        "1298374650200006",
        "cart_reminder",
        "it",
        "MARKETING",
        [
            {"type": "HEADER", "format": "TEXT", "text": "Hai dimenticato qualcosa"},
            _body("Ciao {{1}}, il tuo carrello ti sta ancora aspettando.", "Olivia"),
            {"type": "FOOTER", "text": "Rispondi STOP per non ricevere più messaggi"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Mostra il carrello"}]},
        ],
    ),
    _template(
        "1298374650200007",
        "welcome_back",
        "en_US",
        "UTILITY",
        [_body("Welcome back! How can we help you today?")],
    ),
    _template(
        "1298374650200008",
        "welcome_back",
        "it",
        "UTILITY",
        [_body("Bentornato! Come possiamo aiutarti oggi?")],
    ),
    _template(
        "1298374650200009",
        "appointment_reminder",
        "en_US",
        "UTILITY",
        [_body("Hi {{1}}, see you on {{2}}.", "Olivia", "July 16")],
        status="PENDING",
    ),
    # Sent to a customer known only by user id, this one fails with 131062 (phones only).
    _template(
        "1298374650200010",
        "login_code",
        "en_US",
        "AUTHENTICATION",
        [_body("{{1}} is your verification code.", "482913")],
    ),
]

PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


class GraphError(Exception):
    """A synchronous Graph API error: the views turn it into Meta's error body."""

    def __init__(self, code, message, details, *, http_status=400, error_type="OAuthException"):
        super().__init__(f"({code}) {message}")
        self.code = code
        self.message = message
        self.details = details
        self.http_status = http_status
        self.error_type = error_type

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message if self.code == 190 else f"(#{self.code}) {self.message}",
                "type": self.error_type,
                "code": self.code,
                "error_data": {"messaging_product": "whatsapp", "details": self.details},
                "fbtrace_id": secrets.token_urlsafe(17)[:23],
            }
        }


def missing(name: str) -> GraphError:
    return GraphError(131008, "Required parameter is missing", f"The parameter {name} is required.")


def invalid(details: str) -> GraphError:
    return GraphError(131009, "Parameter value is not valid", details)


def no_such_object(object_id: str, method: str = "get") -> GraphError:
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        "Unknown object id.",
        error_type="GraphMethodException",
    )


# --- The subscription: what Meta knows about a number (read from the ORM) --------------------


@dataclass(frozen=True)
class Subscription:
    phone_number_id: str
    display_number: str
    channel_name: str
    waba_id: str
    webhook_url: str
    app_secret: str
    access_token: str


def _subscription(channel) -> Subscription:
    account = channel.account
    secret_values = account.secrets or {}
    return Subscription(
        phone_number_id=channel.external_id,
        display_number=digits(channel.display_number),
        channel_name=channel.name,
        waba_id=str((account.settings or {}).get("waba_id", "")),
        # The URL accounts were set up with at Meta (the provider's alias), as Meta would post.
        webhook_url=settings.PUBLIC_BASE_URL
        + reverse("webhook-whatsapp", kwargs={"account_key": account.key}),
        app_secret=secret_values.get("app_secret", ""),
        access_token=secret_values.get("access_token", ""),
    )


def subscription_for_number(phone_number_id: str) -> Subscription | None:
    from messaging.models import Channel

    channel = (
        Channel.objects.select_related("account")
        .filter(provider=WhatsAppCloudProvider.key, external_id=phone_number_id)
        .first()
    )
    return _subscription(channel) if channel else None


def account_for_waba(waba_id: str):
    from integrations.models import IntegrationAccount

    return IntegrationAccount.objects.filter(
        platform=WhatsAppCloudProvider.key, settings__waba_id=waba_id
    ).first()


def sandbox_channels():
    from messaging.models import Channel

    return Channel.objects.select_related("account").filter(
        provider=WhatsAppCloudProvider.key, account__is_active=True
    )


def bearer_matches(authorization: str, token: str) -> bool:
    scheme, _, given = (authorization or "").partition(" ")
    # An account without a token must refuse everyone, not accept an empty bearer.
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def invalid_token() -> GraphError:
    return GraphError(
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "The access token is missing or not valid for this object.",
        http_status=401,
    )


# --- In-memory state ------------------------------------------------------------------------


@dataclass
class Entry:
    """One bubble of a chat: `in` is customer to business, `out` is business to customer."""

    id: str
    direction: str
    type: str
    text: str
    timestamp: int
    status: str = ""
    error: str = ""
    reaction: str = ""
    reply_to: str = ""
    choices: list = field(default_factory=list)
    webhook_status: int | None = None
    body: bytes = b""


@dataclass
class Chat:
    phone_number_id: str
    wa_id: str  # the customer key in the chat's URL: the phone's digits, or the username
    name: str = ""
    phone: str = ""  # digits; "" for a username customer who has not shared a number
    username: str = ""
    user_id: str = ""  # the customer's BSUID for this business
    entries: list = field(default_factory=list)
    typing_until: float = 0.0


@dataclass
class Media:
    id: str
    phone_number_id: str
    data: bytes
    mime_type: str
    filename: str = ""

    @property
    def sha256_hex(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


_lock = threading.Lock()
_stopping = threading.Event()
_workers: set[threading.Thread] = set()
_chats: dict[tuple[str, str], Chat] = {}
_messages: dict[str, tuple[Chat, Entry]] = {}
_media: dict[str, Media] = {}
# (phone_number_id, BSUID or phone digits) -> customer key, to find the chat a send goes to.
_customers: dict[tuple[str, str], str] = {}


def reset() -> None:
    """Forget every chat, and stop the status threads still posting (a test server they post
    to may be going away)."""
    _stopping.set()
    for worker in list(_workers):
        worker.join(timeout=WEBHOOK_TIMEOUT_SECONDS)
    _stopping.clear()
    with _lock:
        _chats.clear()
        _messages.clear()
        _media.clear()
        _customers.clear()


def user_id_for(waba_id: str, key: str, *, phone: str = "") -> str:
    """The customer's BSUID, deterministic so a restart gives the same one: the phone's region
    (IT when unknown), a dot, and digits from the business and the customer."""
    region = "IT"
    if phone:
        with contextlib.suppress(phonenumbers.NumberParseException):
            code = phonenumbers.parse(f"+{phone}").country_code
            region = phonenumbers.region_code_for_country_code(code)
        region = "IT" if region == "ZZ" else region
    number = int(hashlib.sha256((waba_id + key).encode()).hexdigest(), 16) % 10**16
    return f"{region}.{number}"


def customer_key(text: str) -> str:
    """The chat key for what the tester typed: a phone's digits, or a username; "" for neither."""
    text = str(text or "").strip().lstrip("@").lower()
    if USERNAME_RE.match(text):
        return text
    return digits(text)


def customer(sub: Subscription, key: str, *, phone: str = "") -> Chat:
    """The chat of one customer, who they are filled in: a phone customer also has a BSUID, a
    username customer has only a BSUID until they share a number (`phone`)."""
    with _lock:
        chat = _chat(sub.phone_number_id, key)
        if not chat.user_id:
            if USERNAME_RE.match(key):
                chat.username = key
            else:
                chat.phone = key
            chat.user_id = user_id_for(sub.waba_id, key, phone=chat.phone)
        if phone and not chat.phone:
            chat.phone = digits(phone)
        for ident in (chat.user_id, chat.phone):
            if ident:
                _customers[(sub.phone_number_id, ident)] = key
        return chat


def _chat(phone_number_id: str, wa_id: str) -> Chat:
    """Call with the lock held."""
    key = (phone_number_id, wa_id)
    if key not in _chats:
        _chats[key] = Chat(phone_number_id, wa_id)
    return _chats[key]


def _add(phone_number_id: str, wa_id: str, entry: Entry, *, bubble: bool = True) -> Chat:
    with _lock:
        chat = _chat(phone_number_id, wa_id)
        if bubble:
            chat.entries.append(entry)
        _messages[entry.id] = (chat, entry)
        return chat


def snapshot(phone_number_id: str, wa_id: str) -> dict:
    """The chat as the customer's page shows it."""
    with _lock:
        chat = _chat(phone_number_id, wa_id)
        texts = {e.id: e.text for e in chat.entries}
        return {
            "name": chat.name,
            "typing": chat.typing_until > time.monotonic(),
            "messages": [
                {
                    "id": e.id,
                    "from": "customer" if e.direction == "in" else "business",
                    "type": e.type,
                    "text": e.text,
                    "time": time.strftime("%H:%M", time.localtime(e.timestamp)),
                    "status": e.status,
                    "error": e.error,
                    "reaction": e.reaction,
                    "reply_to_text": texts.get(e.reply_to, "") if e.reply_to else "",
                    "choices": [c["title"] for c in e.choices],
                    "webhook_status": e.webhook_status,
                }
                for e in chat.entries
            ],
        }


def store_media(phone_number_id: str, data: bytes, mime_type: str, filename: str = "") -> Media:
    media_id = str(10**15 + secrets.randbelow(9 * 10**15))
    media = Media(media_id, phone_number_id, data, mime_type, filename)
    with _lock:
        _media[media.id] = media
    return media


def get_media(media_id: str) -> Media | None:
    with _lock:
        return _media.get(media_id)


def delete_media(media_id: str) -> bool:
    with _lock:
        return _media.pop(media_id, None) is not None


def mark_read(phone_number_id: str, message_id: str, typing: bool = False) -> bool:
    """Like Meta: marks the message and every earlier customer message in that chat."""
    with _lock:
        found = _messages.get(message_id)
        if not found or found[0].phone_number_id != phone_number_id or found[1].direction != "in":
            return False
        chat, target = found
        for entry in chat.entries:
            if entry.direction == "in":
                entry.status = "read"
            if entry is target:
                break
        if typing:
            chat.typing_until = time.monotonic() + TYPING_SECONDS
        return True


# --- Helpers ---------------------------------------------------------------------------------


def digits(value) -> str:
    return re.sub(r"\D", "", str(value or ""))


def new_wamid() -> str:
    return "wamid." + base64.b64encode(b"HBgM" + secrets.token_bytes(32)).decode()


def encode(payload: dict) -> bytes:
    # Meta sends compact JSON with non-ASCII escaped as \uXXXX; the signature covers these bytes.
    return json.dumps(payload, separators=(",", ":")).encode()


def signature(body: bytes, app_secret: str) -> str:
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def envelope(sub: Subscription, value: dict) -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": sub.waba_id,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": sub.display_number,
                                "phone_number_id": sub.phone_number_id,
                            },
                            **value,
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }


def deliver(url: str, body: bytes, app_secret: str, attempts: int = 1) -> int | None:
    """POST a signed webhook; the last HTTP status, or None when Switchboard never answered."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "facebookexternalua",
        "X-Hub-Signature-256": signature(body, app_secret),
    }
    status = None
    for attempt in range(1, attempts + 1):
        try:
            response = requests.post(
                url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS
            )
        except requests.RequestException as exc:
            status = None
            logger.warning("sandbox webhook to %s failed: %s", url, type(exc).__name__)
        else:
            status = response.status_code
            if status == 200:
                return status
            logger.warning("sandbox webhook to %s answered HTTP %s", url, status)
        if attempt < attempts:
            time.sleep(RETRY_SPACING_SECONDS)
    if attempts > 1:
        logger.warning("sandbox webhook to %s dropped after %s attempts", url, attempts)
    return status


def tiny_png(rgb=(37, 211, 102), size=8) -> bytes:
    """A solid-colour PNG, built by hand so the sandbox needs no image library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(rgb) * size for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# --- Business sends (the Graph API side) -------------------------------------------------------


def demo_template_infos() -> list:
    """The sandbox's templates as a sync would store them, for demo data loaded before the web
    server (and so the sandbox's Graph API) is up."""
    from messaging.providers.whatsapp_cloud import template_info_parse

    return [template_info_parse(template) for template in DEMO_TEMPLATES]


def find_template(name: str, language: str) -> dict | None:
    for template in DEMO_TEMPLATES:
        if (template["name"], template["language"], template["status"]) == (
            name,
            language,
            "APPROVED",
        ):
            return template
    return None


def _param_text(param: dict) -> str:
    kind = param.get("type", "text")
    if kind == "text":
        return str(param.get("text", ""))
    if kind in ("currency", "date_time"):
        return str((param.get(kind) or {}).get("fallback_value", ""))
    return str(param.get(kind, f"[{kind}]"))


def _sent_params(components: list, kind: str) -> list:
    params = []
    for component in components:
        if str(component.get("type", "")).lower() == kind:
            params.extend(component.get("parameters") or [])
    return params


def check_template(template_request: dict) -> dict:
    name = template_request.get("name")
    language = template_request.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not name:
        raise missing("template['name']")
    if not code:
        raise missing("template['language']['code']")
    template = find_template(name, code)
    if template is None:
        raise GraphError(
            132001,
            "Template name does not exist in the translation",
            f"template name ({name}) does not exist in {code}",
        )
    sent = template_request.get("components") or []
    for component in template["components"]:
        kind = component["type"].lower()
        if kind not in ("header", "body"):
            continue
        expected = len(set(PLACEHOLDER.findall(component.get("text", ""))))
        given = len(_sent_params(sent, kind))
        if given != expected:
            raise GraphError(
                132000,
                "Number of parameters does not match the expected number of params",
                f"{kind}: number of localizable_params ({given}) does not match the expected "
                f"number of params ({expected})",
            )
    if _sent_params(sent, "header") and not any(
        c["type"] == "HEADER" for c in template["components"]
    ):
        raise GraphError(
            132000,
            "Number of parameters does not match the expected number of params",
            "header: the template has no header",
        )
    return template


def check_send(payload: dict) -> None:
    if payload.get("messaging_product") != "whatsapp":
        raise GraphError(100, "The parameter messaging_product is required.", "messaging_product")
    # Meta takes `to` (a phone) or `recipient` (a BSUID); `to` wins when both are given.
    if payload.get("to"):
        if not digits(payload["to"]):
            raise invalid("Param to must be a phone number.")
    elif payload.get("recipient"):
        if not BSUID_RE.match(str(payload["recipient"])):
            raise invalid("Param recipient must be a business-scoped user id.")
    else:
        raise missing("to")
    kind = payload.get("type")
    if not kind:
        raise missing("type")
    if kind not in SEND_TYPES:
        raise invalid(f"Param type must be one of {', '.join(sorted(SEND_TYPES))}")
    content = payload.get(kind)
    if not content:
        raise missing(kind)
    if not isinstance(content, list if kind == "contacts" else dict):
        raise invalid(f"Param {kind} has the wrong shape.")
    if kind == "text":
        body = content.get("body") if isinstance(content, dict) else None
        if not body:
            raise missing("text['body']")
        if len(body) > TEXT_LIMIT:
            raise invalid(f"Param text['body'] must be at most {TEXT_LIMIT} characters long.")
    elif kind in MEDIA_TYPES and not (content.get("id") or content.get("link")):
        raise missing(f"{kind}['id'] or {kind}['link']")
    elif kind == "reaction" and not content.get("message_id"):
        raise missing("reaction['message_id']")
    elif kind == "location" and (
        content.get("latitude") is None or content.get("longitude") is None
    ):
        raise missing("location['latitude'] and location['longitude']")
    elif kind == "interactive" and not content.get("type"):
        raise missing("interactive['type']")


def _render_template(template: dict, sent: list) -> tuple[str, list]:
    lines, choices = [], []
    for component in template["components"]:
        kind = component["type"]
        if kind in ("HEADER", "BODY") and "text" in component:
            params = [_param_text(p) for p in _sent_params(sent, kind.lower())]
            names = list(dict.fromkeys(PLACEHOLDER.findall(component["text"])))

            def fill(match, params=params, names=names):
                index = names.index(match.group(1))
                return params[index] if index < len(params) else match.group(0)

            text = PLACEHOLDER.sub(fill, component["text"])
            lines.append(f"*{text}*" if kind == "HEADER" else text)
        elif kind == "FOOTER":
            lines.append(component["text"])
        elif kind == "BUTTONS":
            buttons = [c for c in sent if str(c.get("type", "")).lower() == "button"]
            for index, button in enumerate(component["buttons"]):
                if button["type"] != "QUICK_REPLY":
                    lines.append(f"🔗 {button['text']}")
                    continue
                payload = button["text"]
                for b in buttons:
                    if str(b.get("index")) == str(index) and b.get("parameters"):
                        payload = b["parameters"][0].get("payload", payload)
                choices.append({"kind": "button", "title": button["text"], "payload": payload})
    return "\n".join(lines), choices


def _render_interactive(content: dict) -> tuple[str, list]:
    header = content.get("header") or {}
    lines = [f"*{header['text']}*"] if header.get("text") else []
    lines.append((content.get("body") or {}).get("text", ""))
    if (content.get("footer") or {}).get("text"):
        lines.append(content["footer"]["text"])
    action = content.get("action") or {}
    choices = []
    if content.get("type") == "button":
        for button in action.get("buttons", []):
            reply = button.get("reply") or {}
            choices.append({"kind": "button_reply", "id": reply.get("id"), "title": reply["title"]})
    elif content.get("type") == "list":
        for section in action.get("sections", []):
            for row in section.get("rows", []):
                choices.append({"kind": "list_reply", **row})
    elif action.get("parameters", {}).get("display_text"):
        lines.append(f"🔗 {action['parameters']['display_text']}")
    return "\n".join(line for line in lines if line), choices


MEDIA_ICONS = {"image": "📷", "video": "🎬", "audio": "🎵", "document": "📄", "sticker": "🏷"}


def describe(payload: dict, template: dict | None = None) -> tuple[str, list]:
    """What the customer's phone would show for a send request, and the taps it offers."""
    kind = payload["type"]
    content = payload[kind]
    if kind == "text":
        return content["body"], []
    if kind == "template":
        return _render_template(template, content.get("components") or [])
    if kind == "interactive":
        return _render_interactive(content)
    if kind in MEDIA_TYPES:
        label = content.get("caption") or content.get("filename") or content.get("link") or ""
        return f"{MEDIA_ICONS[kind]} {kind} {label}".strip(), []
    if kind == "location":
        where = " ".join(str(content.get(k) or "") for k in ("name", "address")).strip()
        return f"📍 {where} ({content['latitude']}, {content['longitude']})".strip(), []
    if kind == "contacts":
        names = [(c.get("name") or {}).get("formatted_name", "?") for c in content]
        return "👤 " + ", ".join(names), []
    return f"[{kind}]", []


def _send_target(sub: Subscription, payload: dict) -> tuple[Chat, dict]:
    """The chat a send goes to, and its `contacts[]` entry in Meta's answer."""
    if payload.get("to"):
        to = str(payload["to"])
        wa_id = digits(to)
        with _lock:
            key = _customers.get((sub.phone_number_id, wa_id), wa_id)
        return customer(sub, key, phone=wa_id), {"input": to, "wa_id": wa_id}
    recipient = str(payload["recipient"])
    with _lock:
        key = _customers.get((sub.phone_number_id, recipient))
    if key is None:
        raise invalid(f"Param recipient {recipient} is no customer of this business.")
    return customer(sub, key), {"input": recipient, "user_id": recipient}


def status_plan(wa_id: str, is_template: bool) -> list:
    """(delay in seconds before scaling, status, error code) for one accepted message."""
    if wa_id.endswith("1047") and not is_template:
        return [(0.3, "failed", 131047)]
    if wa_id.endswith("1026"):
        return [(0.3, "sent", None), (1.0, "failed", 131026)]
    return [(0.3, "sent", None), (1.0, "delivered", None), (2.0, "read", None)]


def accept_send(sub: Subscription, payload: dict) -> dict:
    """Validate a send like Meta, record it, start its status webhooks; the 200 body."""
    check_send(payload)
    chat, answer_contact = _send_target(sub, payload)
    by_phone = "wa_id" in answer_contact
    wa_id = chat.phone if by_phone else ""
    if wa_id.endswith("0429"):
        raise GraphError(130429, "Rate limit hit", "Cloud API message throughput has been reached.")
    kind = payload["type"]
    template = check_template(payload["template"]) if kind == "template" else None
    if template is not None and template["category"] == "AUTHENTICATION" and not by_phone:
        raise GraphError(
            131062,
            "BSUID recipients not supported for this message",
            "Authentication templates can only be sent to a phone number.",
        )
    text, choices = describe(payload, template) if kind != "reaction" else ("", [])
    entry = Entry(
        id=new_wamid(),
        direction="out",
        type=kind,
        text=text,
        timestamp=int(time.time()),
        status="accepted",
        reply_to=(payload.get("context") or {}).get("message_id", ""),
        choices=choices,
    )
    # A reaction decorates the customer's message instead of adding a bubble.
    chat = _add(sub.phone_number_id, chat.wa_id, entry, bubble=kind != "reaction")
    with _lock:
        chat.typing_until = 0.0
        if kind == "reaction":
            target = _messages.get(payload["reaction"]["message_id"])
            if target and target[0] is chat:
                target[1].reaction = payload["reaction"].get("emoji", "")

    pricing = None
    if template is not None:
        pricing = {
            "billable": True,
            "pricing_model": "PMP",
            "category": template["category"].lower(),
            "type": "regular",
        }
    start_statuses(
        sub,
        entry.id,
        {"phone": chat.phone if by_phone else "", "user_id": chat.user_id},
        status_plan(wa_id, template is not None),
        callback_data=payload.get("biz_opaque_callback_data", ""),
        pricing=pricing,
    )
    message = {"id": entry.id}
    if template is not None:
        message["message_status"] = "accepted"
    return {
        "messaging_product": "whatsapp",
        "contacts": [answer_contact],
        "messages": [message],
    }


def start_statuses(sub, wamid, recipient, plan, *, callback_data="", pricing=None) -> None:
    """`recipient`: {"phone", "user_id"} of the customer the message went to."""
    scale = float(getattr(settings, "SANDBOX_STATUS_DELAY", 1.0))
    worker = threading.Thread(
        target=_emit_statuses,
        args=(sub, wamid, recipient, plan, scale, callback_data, pricing),
        name=f"sandbox-status-{wamid[-8:]}",
        daemon=True,
    )
    _workers.add(worker)
    worker.start()


def _emit_statuses(*args) -> None:
    try:
        _emit_statuses_in_order(*args)
    finally:
        _workers.discard(threading.current_thread())


def _emit_statuses_in_order(sub, wamid, recipient, plan, scale, callback_data, pricing) -> None:
    # One thread per message keeps its statuses in order even while a post is being retried.
    started = time.monotonic()
    for delay, status, error_code in plan:
        if _stopping.wait(max(0.0, started + delay * scale - time.monotonic())):
            return
        # recipient_id only with a phone; the BSUID always. Failed statuses of phone sends
        # carry the phone alone (meta-cloud-api.md section 4a).
        item = {"id": wamid, "status": status, "timestamp": str(int(time.time()))}
        contact = {}
        if recipient["phone"]:
            item["recipient_id"] = contact["wa_id"] = recipient["phone"]
        if recipient["user_id"] and not (recipient["phone"] and status == "failed"):
            item["recipient_user_id"] = contact["user_id"] = recipient["user_id"]
        if callback_data:
            item["biz_opaque_callback_data"] = callback_data
        if pricing and status in ("sent", "delivered"):
            item["pricing"] = pricing
        if error_code:
            title, details = STATUS_ERRORS[error_code]
            item["errors"] = [
                {
                    "code": error_code,
                    "title": title,
                    "message": title,
                    "error_data": {"details": details},
                    "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
                }
            ]
        with _lock:
            found = _messages.get(wamid)
            if found:
                found[1].status = status
                found[1].error = (
                    f"{error_code} {STATUS_ERRORS[error_code][0]}" if error_code else ""
                )
        body = encode(envelope(sub, {"statuses": [item], "contacts": [contact]}))
        deliver(sub.webhook_url, body, sub.app_secret, attempts=RETRY_ATTEMPTS)


# --- Customer sends (the human side) -----------------------------------------------------------

SAMPLE_LOCATION = {
    "latitude": 45.4641684,
    "longitude": 9.1916211,
    "name": "Piazza del Duomo",
    "address": "Piazza del Duomo, 20122 Milano MI, Italy",
}


class CustomerError(ValueError):
    pass


def customer_sends(
    sub: Subscription, wa_id: str, name: str, action: dict
) -> tuple[Entry, int | None]:
    """Build the inbound webhook for what the customer did, record it and post it.

    Returns the entry and Switchboard's HTTP status (None when it never answered).
    """
    kind = action.get("kind")
    context = None
    if kind == "text":
        text = str(action.get("text") or "").strip()
        if not text:
            raise CustomerError("Type a message first.")
        wire_type, content, shown = "text", {"body": text}, text
    elif kind == "location":
        wire_type, content = "location", dict(SAMPLE_LOCATION)
        shown = f"📍 {SAMPLE_LOCATION['name']}"
    elif kind == "image":
        media = store_media(sub.phone_number_id, tiny_png(), "image/png", "sample.png")
        sha = base64.b64encode(hashlib.sha256(media.data).digest()).decode()
        content = {
            "caption": "Sample photo",
            "mime_type": "image/png",
            "sha256": sha,
            "id": media.id,
        }
        wire_type, shown = "image", "📷 Sample photo"
    elif kind in ("reaction", "choice"):
        with _lock:
            found = _messages.get(str(action.get("message_id")))
        if not found or found[0].phone_number_id != sub.phone_number_id or found[0].wa_id != wa_id:
            raise CustomerError("That message is not in this chat.")
        target = found[1]
        if kind == "reaction":
            emoji = action.get("emoji", "👍")
            wire_type, content, shown = "reaction", {"message_id": target.id, "emoji": emoji}, ""
            with _lock:
                target.reaction = emoji
        else:
            try:
                choice = target.choices[int(action.get("choice"))]
            except (TypeError, ValueError, IndexError):
                raise CustomerError("No such choice.") from None
            context = {"from": sub.display_number, "id": target.id}
            shown = choice["title"]
            if choice["kind"] == "button":
                wire_type, content = "button", {"payload": choice["payload"], "text": shown}
            else:
                reply = {k: v for k, v in choice.items() if k != "kind"}
                wire_type, content = "interactive", {"type": choice["kind"], choice["kind"]: reply}
    else:
        raise CustomerError("Unknown action.")

    chat = customer(sub, wa_id)
    # `from` and `wa_id` only when Meta would show the phone; the BSUID always (section 4a).
    message = {"from": chat.phone} if chat.phone else {}
    message.update({"from_user_id": chat.user_id, "id": new_wamid()})
    message["timestamp"] = str(int(time.time()))
    if context:
        message["context"] = context
    message.update({"type": wire_type, wire_type: content})
    profile = {"name": name} | ({"username": chat.username} if chat.username else {})
    contact = {"profile": profile} | ({"wa_id": chat.phone} if chat.phone else {})
    contact["user_id"] = chat.user_id
    value = {"contacts": [contact], "messages": [message]}
    body = encode(envelope(sub, value))
    entry = Entry(
        id=message["id"],
        direction="in",
        type=wire_type,
        text=shown,
        timestamp=int(message["timestamp"]),
        reply_to=context["id"] if context else "",
        body=body,
    )
    chat = _add(sub.phone_number_id, wa_id, entry, bubble=wire_type != "reaction")
    with _lock:
        chat.name = name
    status = deliver(sub.webhook_url, body, sub.app_secret)
    with _lock:
        entry.webhook_status = status
    return entry, status


def resend(sub: Subscription, wa_id: str, message_id: str) -> tuple[Entry, int | None]:
    """Post a customer message's webhook again, byte for byte, the way Meta retries."""
    with _lock:
        found = _messages.get(message_id)
    if not found or found[0].phone_number_id != sub.phone_number_id or found[0].wa_id != wa_id:
        raise CustomerError("That message is not in this chat.")
    entry = found[1]
    if entry.direction != "in":
        raise CustomerError("Only customer messages are webhooks.")
    status = deliver(sub.webhook_url, entry.body, sub.app_secret)
    with _lock:
        entry.webhook_status = status
    return entry, status
