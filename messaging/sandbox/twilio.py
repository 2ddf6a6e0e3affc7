"""The sandbox's Twilio: what it remembers, the rules it applies like Twilio, and the signed form
webhooks it posts.

Like the Meta emulator (`emulator.py`) it is single-process and keeps its chats in module memory
behind one lock, never held during HTTP. The "Twilio account" is read from the ORM: an
integration account of platform `twilio` whose Account SID and Auth Token the client presents, and
its channels (one per WhatsApp sender, `whatsapp:+E164`). Status threads join the Meta emulator's
set, so `emulator.reset()` stops them too.

Wire shapes: shared/reference/twilio-whatsapp.md and twilio-content-and-history.md.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from email.utils import formatdate

import requests
from django.conf import settings
from django.urls import reverse

from messaging.providers.twilio import TwilioProvider, signature_for
from messaging.sandbox import emulator
from messaging.sandbox.emulator import Entry, tiny_png

logger = logging.getLogger(__name__)

PLATFORM = TwilioProvider.key
TEXT_LIMIT = TwilioProvider.capabilities.max_text_length
API_VERSION = "2010-04-01"

# Customer numbers (by their last digits) that make the sandbox answer like Twilio on a bad day.
ERROR_NUMBERS = {
    "1211": "every send is refused at once with 21211 (invalid 'To' number)",
    "3016": "free text fails with 63016 (outside the 24-hour window); Content templates go through",
    "3024": "messages are sent, then come back undelivered with 63024 (invalid recipient)",
}
STATUS_ERRORS = {
    63016: "Failed to send freeform message because you are outside the allowed window. If you "
    "are using WhatsApp, please use a Message Template.",
    63024: "Invalid message recipient",
}


def _content(sid, name, language, category, body, *, status="approved", reason="", actions=()):
    kind = "twilio/quick-reply" if actions else "twilio/text"
    spec = {"body": body} | ({"actions": list(actions)} if actions else {})
    variables = {str(n): f"sample {n}" for n in range(1, body.count("{{") + 1)}
    return {
        "sid": sid,
        "friendly_name": name,
        "language": language,
        "variables": variables,
        "types": {kind: spec},
        "approval": {
            "type": "whatsapp",
            "name": name,
            "category": category,
            "content_type": kind,
            "status": status,
            "rejection_reason": reason,
            "allow_category_change": False,
        },
    }


DEMO_CONTENT = [
    _content(
        "HX00000000000000000000000000000001",
        "ticket_update",
        "en",
        "UTILITY",
        "Hello {{1}}, there is news on your request {{2}}: {{3}}",
    ),
    _content(
        "HX00000000000000000000000000000002",
        "ticket_update",
        "it",
        "UTILITY",
        "Ciao {{1}}, ci sono novità sulla tua richiesta {{2}}: {{3}}",
    ),
    _content(
        "HX00000000000000000000000000000003",
        "order_status",
        "en",
        "UTILITY",
        "Hi {{1}}, your order {{2}} is now: {{3}}.",
    ),
    _content(
        "HX00000000000000000000000000000004",
        "welcome_quick_reply",
        "en",
        "MARKETING",
        "Hi {{1}}, thanks for contacting us! How can we help?",
        actions=[
            {"title": "Order status", "id": "order_status"},
            {"title": "Talk to an agent", "id": "agent"},
        ],
    ),
    _content(
        "HX00000000000000000000000000000005",
        "appointment_reminder",
        "en",
        "UTILITY",
        "Hi {{1}}, see you on {{2}}.",
        status="pending",
    ),
    _content(
        "HX00000000000000000000000000000006",
        "promo_spring",
        "en",
        "MARKETING",
        "{{1}}, 20% off everything until Sunday!",
        status="rejected",
        reason="INVALID_FORMAT. Template body cannot start or end with a variable parameter.",
    ),
]
PLACEHOLDER = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


class TwilioError(Exception):
    """A synchronous REST error: the views turn it into Twilio's error body."""

    def __init__(self, code: int, message: str, http_status: int = 400):
        super().__init__(f"{code} {message}")
        self.code, self.message, self.http_status = code, message, http_status

    def body(self) -> dict:
        return {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.http_status,
        }


def authenticate() -> TwilioError:
    return TwilioError(20003, "Authenticate", 401)


def not_found(path: str) -> TwilioError:
    return TwilioError(20404, f"The requested resource {path} was not found", 404)


# --- The account: what Twilio knows (read from the ORM) ------------------------------------------


@dataclass(frozen=True)
class Line:
    """One WhatsApp sender of an account, as Twilio would post for it."""

    account_sid: str
    auth_token: str
    service_sid: str
    sender: str  # whatsapp:+E164
    channel_name: str
    webhook_url: str


def _line(channel) -> Line:
    account = channel.account
    return Line(
        account_sid=str((account.settings or {}).get("account_sid", "")),
        auth_token=str((account.secrets or {}).get("auth_token", "")),
        service_sid=str((account.settings or {}).get("messaging_service_sid", "")),
        sender=channel.external_id,
        channel_name=channel.name,
        webhook_url=settings.PUBLIC_BASE_URL
        + reverse("webhook", kwargs={"provider": PLATFORM, "account_key": account.key}),
    )


def lines():
    from messaging.models import Channel

    return Channel.objects.select_related("account").filter(
        provider=PLATFORM, account__is_active=True
    )


def line_for(sender: str) -> Line | None:
    channel = lines().filter(external_id=sender).first()
    return _line(channel) if channel else None


# The sandbox's Twilio knows the tokens Switchboard stores, so every stored token is right; one
# that starts with this plays a token revoked in the Twilio console since.
REVOKED_TOKEN_PREFIX = "revoked"  # noqa: S105 - a sandbox rule, not a secret


def account_authorized(account_sid: str, authorization: str):
    """The account with this SID whose token the Basic credentials carry; None otherwise."""
    from integrations.models import IntegrationAccount

    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        user, _, password = base64.b64decode(encoded.strip()).decode().partition(":")
    except ValueError:
        return None
    if scheme.lower() != "basic" or user != account_sid:
        return None
    if password.startswith(REVOKED_TOKEN_PREFIX):
        return None
    for account in IntegrationAccount.objects.filter(platform=PLATFORM):
        token = str((account.secrets or {}).get("auth_token", ""))
        sid = str((account.settings or {}).get("account_sid", ""))
        # An account without a token refuses everyone, never an empty password.
        if sid == account_sid and token and hmac.compare_digest(password, token):
            return account
    return None


def account_answer(account) -> dict:
    sid = account.settings["account_sid"]
    created = formatdate(account.created_at.timestamp(), usegmt=True).replace("GMT", "+0000")
    return {
        "sid": sid,
        "friendly_name": account.description,
        "status": "active",
        "type": "Full",
        "owner_account_sid": sid,
        "date_created": created,
        "date_updated": created,
        "uri": f"/{API_VERSION}/Accounts/{sid}.json",
        "subresource_uris": {"messages": f"/{API_VERSION}/Accounts/{sid}/Messages.json"},
    }


# --- In-memory state -----------------------------------------------------------------------------


@dataclass
class Chat:
    sender: str  # our WhatsApp sender, whatsapp:+E164
    phone: str  # the customer's digits
    name: str = ""
    entries: list = field(default_factory=list)


@dataclass
class Media:
    sid: str
    message_sid: str
    account_sid: str
    data: bytes
    mime_type: str


_lock = threading.Lock()
_chats: dict[tuple[str, str], Chat] = {}
_messages: dict[str, tuple[Chat, Entry]] = {}
_choices: dict[str, list] = {}
_media: dict[str, Media] = {}


def reset() -> None:
    emulator.reset()  # stops the status threads, ours among them
    with _lock:
        _chats.clear()
        _messages.clear()
        _choices.clear()
        _media.clear()


def _chat(sender: str, phone: str) -> Chat:
    """Call with the lock held."""
    key = (sender, phone)
    if key not in _chats:
        _chats[key] = Chat(sender, phone)
    return _chats[key]


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def snapshot(sender: str, phone: str) -> dict:
    """The chat as the customer's page shows it (the shape the sandbox's chat script reads)."""
    with _lock:
        chat = _chat(sender, phone)
        texts = {e.id: e.text for e in chat.entries}
        return {
            "name": chat.name,
            "typing": False,
            "messages": [
                {
                    "id": e.id,
                    "from": "customer" if e.direction == "in" else "business",
                    "type": e.type,
                    "text": e.text,
                    "time": time.strftime("%H:%M", time.localtime(e.timestamp)),
                    "status": e.status,
                    "error": e.error,
                    "reaction": "",
                    "reply_to_text": texts.get(e.reply_to, "") if e.reply_to else "",
                    "choices": [c["title"] for c in e.choices],
                    "webhook_status": e.webhook_status,
                }
                for e in chat.entries
            ],
        }


def get_media(account_sid: str, message_sid: str, media_sid: str) -> Media | None:
    with _lock:
        media = _media.get(media_sid)
    if media and (media.account_sid, media.message_sid) == (account_sid, message_sid):
        return media
    return None


# --- Signed form webhooks ------------------------------------------------------------------------


def post_form(url: str, params: dict, auth_token: str) -> int | None:
    """POST a form webhook signed as Twilio signs it; Switchboard's HTTP status, or None."""
    signature = signature_for(url, {k: [v] for k, v in params.items()}, auth_token)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": secrets.token_hex(16),
    }
    try:
        response = requests.post(
            url, data=params, headers=headers, timeout=emulator.WEBHOOK_TIMEOUT_SECONDS
        )
    except requests.RequestException as exc:
        logger.warning("sandbox Twilio webhook to %s failed: %s", url, type(exc).__name__)
        return None
    if response.status_code != 200:
        logger.warning("sandbox Twilio webhook to %s answered %s", url, response.status_code)
    return response.status_code


# --- Business sends (the REST side) --------------------------------------------------------------


def find_content(sid: str) -> dict | None:
    return next((c for c in DEMO_CONTENT if c["sid"] == sid), None)


def _render_content(content: dict, variables: dict) -> tuple[str, list]:
    spec = next(iter(content["types"].values()))

    def fill(match):
        return str(variables.get(match.group(1), match.group(0)))

    choices = [
        {"title": a["title"], "payload": a.get("id", a["title"])} for a in spec.get("actions", [])
    ]
    return PLACEHOLDER.sub(fill, spec.get("body", "")), choices


def _check_variables(content: dict, raw: str) -> dict:
    try:
        variables = json.loads(raw) if raw else {}
    except ValueError:
        raise TwilioError(21656, "The ContentVariables Parameter is invalid.") from None
    if not isinstance(variables, dict):
        raise TwilioError(21656, "The ContentVariables Parameter is invalid.")
    body = next(iter(content["types"].values())).get("body", "")
    wanted = set(PLACEHOLDER.findall(body))
    if not wanted <= {str(k) for k in variables}:
        missing = ", ".join(sorted(wanted - {str(k) for k in variables}))
        raise TwilioError(21656, f"The ContentVariables Parameter is invalid: missing {missing}.")
    return variables


def accept_send(account, form) -> dict:
    """Validate a Messages.json POST like Twilio, record it, start its status callbacks; the
    201 body."""
    to = form.get("To", "")
    if not re.fullmatch(r"whatsapp:\+[1-9][0-9]{6,14}", to):
        raise TwilioError(21211, f"Invalid 'To' Phone Number: {to or '(empty)'}")
    phone = to.removeprefix("whatsapp:+")
    if phone.endswith("1211"):
        raise TwilioError(21211, f"Invalid 'To' Phone Number: {to}")
    sender = form.get("From", "")
    channels = lines().filter(account=account)
    if form.get("MessagingServiceSid"):
        if form["MessagingServiceSid"] != (account.settings or {}).get("messaging_service_sid"):
            raise TwilioError(21705, "The Messaging Service Sid is invalid.")
        channel = channels.first()
    else:
        channel = channels.filter(external_id=sender).first()
    if channel is None:
        raise TwilioError(63007, f"Twilio could not find a Channel with the From address {sender}")
    line = _line(channel)
    body = form.get("Body", "")
    media_urls = form.getlist("MediaUrl")
    content_sid = form.get("ContentSid", "")
    if not (body or media_urls or content_sid):
        raise TwilioError(21619, "A text message body, media URL or ContentSid is required.")
    if len(body) > TEXT_LIMIT:
        raise TwilioError(21617, f"The concatenated message body exceeds the {TEXT_LIMIT} limit.")
    choices = []
    if content_sid:
        content = find_content(content_sid)
        if content is None or content["approval"]["status"] != "approved":
            raise TwilioError(63027, f"Template {content_sid} does not exist or is not approved.")
        text, choices = _render_content(
            content, _check_variables(content, form.get("ContentVariables", ""))
        )
    elif media_urls:
        text = f"📎 {body or media_urls[0]}"
    else:
        text = body
    sid = new_sid("MM" if media_urls else "SM")
    entry = Entry(
        id=sid, direction="out", type="text", text=text, timestamp=int(time.time()), choices=[]
    )
    entry.status = "queued"
    entry.choices = [{"kind": "button", **c} for c in choices]
    with _lock:
        chat = _chat(line.sender, phone)
        chat.entries.append(entry)
        _messages[sid] = (chat, entry)
    callback = form.get("StatusCallback", "") or line.webhook_url
    start_statuses(line, sid, to, callback, status_plan(phone, templated=bool(content_sid)))
    now = formatdate(usegmt=True).replace("GMT", "+0000")
    return {
        "account_sid": line.account_sid,
        "api_version": API_VERSION,
        "body": text,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": line.sender,
        "messaging_service_sid": form.get("MessagingServiceSid") or None,
        "num_media": str(len(media_urls)),
        "num_segments": "1",
        "price": None,
        "price_unit": None,
        "sid": sid,
        "status": "accepted" if form.get("MessagingServiceSid") else "queued",
        "to": to,
        "uri": f"/{API_VERSION}/Accounts/{line.account_sid}/Messages/{sid}.json",
    }


def status_plan(phone: str, *, templated: bool) -> list:
    """(delay in seconds before scaling, status, error code) for one accepted message."""
    if phone.endswith("3016") and not templated:
        return [(0.3, "failed", 63016)]
    if phone.endswith("3024"):
        return [(0.3, "sent", None), (1.0, "undelivered", 63024)]
    return [(0.3, "sent", None), (1.0, "delivered", None), (2.0, "read", None)]


def start_statuses(line: Line, sid: str, to: str, url: str, plan: list) -> None:
    scale = float(getattr(settings, "SANDBOX_STATUS_DELAY", 1.0))
    worker = threading.Thread(
        target=_emit_statuses,
        args=(line, sid, to, url, plan, scale),
        name=f"sandbox-twilio-status-{sid[-8:]}",
        daemon=True,
    )
    emulator._workers.add(worker)
    worker.start()


def _emit_statuses(line, sid, to, url, plan, scale) -> None:
    try:
        started = time.monotonic()
        for delay, status, error_code in plan:
            if emulator._stopping.wait(max(0.0, started + delay * scale - time.monotonic())):
                return
            params = {
                "ChannelPrefix": "whatsapp",
                "ApiVersion": API_VERSION,
                "MessageStatus": status,
                "SmsSid": sid,
                "SmsStatus": status,
                "To": to,
                "From": line.sender,
                "MessageSid": sid,
                "AccountSid": line.account_sid,
                "StructuredMessage": "false",
            }
            if error_code:
                params["ErrorCode"] = str(error_code)
                params["ChannelStatusMessage"] = STATUS_ERRORS[error_code]
            else:
                params["EventType"] = status.upper()
            with _lock:
                found = _messages.get(sid)
                if found:
                    found[1].status = "failed" if error_code else status
                    found[1].error = (
                        f"{error_code} {STATUS_ERRORS[error_code]}" if error_code else ""
                    )
            post_form(url, params, line.auth_token)
    finally:
        emulator._workers.discard(threading.current_thread())


# --- Customer sends (the human side) -------------------------------------------------------------

SAMPLE_LOCATION = {
    "Latitude": "45.4641684",
    "Longitude": "9.1916211",
    "Label": "Piazza del Duomo",
    "Address": "Piazza del Duomo, 20122 Milano MI, Italy",
}


class CustomerError(ValueError):
    pass


def customer_sends(line: Line, phone: str, name: str, action: dict) -> tuple[Entry, int | None]:
    """Build the inbound form webhook for what the customer did, record it and post it signed."""
    kind = action.get("kind")
    sid = new_sid("SM")
    params = {
        "NumMedia": "0",
        "ProfileName": name,
        "WaId": phone,
        "SmsStatus": "received",
        "Body": "",
        "To": line.sender,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "AccountSid": line.account_sid,
        "From": f"whatsapp:+{phone}",
        "ApiVersion": API_VERSION,
    }
    if line.service_sid:
        params["MessagingServiceSid"] = line.service_sid
    reply_to = ""
    if kind == "text":
        text = str(action.get("text") or "").strip()
        if not text:
            raise CustomerError("Type a message first.")
        params.update(MessageType="text", Body=text)
        shown = text
    elif kind == "location":
        params.update(MessageType="location", **SAMPLE_LOCATION)
        shown = f"📍 {SAMPLE_LOCATION['Label']}"
    elif kind == "image":
        sid = new_sid("MM")
        media = Media(new_sid("ME"), sid, line.account_sid, tiny_png(), "image/png")
        with _lock:
            _media[media.sid] = media
        url = settings.PUBLIC_BASE_URL + reverse(
            "sandbox:twilio:media", args=[line.account_sid, sid, media.sid]
        )
        params.update(
            MessageType="image",
            Body="Sample photo",
            NumMedia="1",
            MediaUrl0=url,
            MediaContentType0="image/png",
        )
        shown = "📷 Sample photo"
    elif kind == "choice":
        with _lock:
            found = _messages.get(str(action.get("message_id")))
        if not found or found[0].sender != line.sender or found[0].phone != phone:
            raise CustomerError("That message is not in this chat.")
        try:
            choice = found[1].choices[int(action.get("choice"))]
        except (TypeError, ValueError, IndexError):
            raise CustomerError("No such choice.") from None
        reply_to = found[1].id
        params.update(
            MessageType="button",
            Body=choice["title"],
            ButtonText=choice["title"],
            ButtonPayload=choice["payload"],
            OriginalRepliedMessageSender=line.sender,
            OriginalRepliedMessageSid=reply_to,
        )
        shown = choice["title"]
    elif kind == "reaction":
        raise CustomerError("Reactions do not reach a business through Twilio in this sandbox.")
    else:
        raise CustomerError("Unknown action.")
    params.update(SmsMessageSid=sid, SmsSid=sid, MessageSid=sid)
    entry = Entry(
        id=sid,
        direction="in",
        type=params["MessageType"],
        text=shown,
        timestamp=int(time.time()),
        reply_to=reply_to,
        body=json.dumps(params).encode(),
    )
    with _lock:
        chat = _chat(line.sender, phone)
        chat.name = name
        chat.entries.append(entry)
        _messages[sid] = (chat, entry)
    status = post_form(line.webhook_url, params, line.auth_token)
    with _lock:
        entry.webhook_status = status
    return entry, status


def resend(line: Line, phone: str, message_id: str) -> tuple[Entry, int | None]:
    """Post a customer message's webhook again, as Twilio retries one that timed out."""
    with _lock:
        found = _messages.get(message_id)
    if not found or found[0].sender != line.sender or found[0].phone != phone:
        raise CustomerError("That message is not in this chat.")
    entry = found[1]
    if entry.direction != "in":
        raise CustomerError("Only customer messages are webhooks.")
    status = post_form(line.webhook_url, json.loads(entry.body), line.auth_token)
    with _lock:
        entry.webhook_status = status
    return entry, status


def demo_template_infos() -> list:
    """The sandbox's Content templates as a sync would store them, for demo data loaded before
    the web server (and so the sandbox's Content API) is up."""
    from messaging.providers.twilio import content_template_info

    return [content_template_info(c, c["approval"]) for c in DEMO_CONTENT]
