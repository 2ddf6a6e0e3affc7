"""Reading Twilio's form-encoded webhooks (inbound messages and status callbacks) into the
normalized types.

Wire shapes: shared/reference/twilio-whatsapp.md sections 3 and 4. One POST is one message or one
status. Every field, known or not, stays in `raw`: Twilio adds fields over time (WhatsApp channel
extras, click-to-WhatsApp referrals) and an unknown one is never an error.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.http import QueryDict

from crm.addresses import BSUID_RE
from messaging.providers.base import (
    MAX_ID_LENGTH,
    REFUSED_CHARACTERS,
    Address,
    AddressTransport,
    DeliveryStatus,
    ErrorInfo,
    IgnoredItem,
    InboundMessage,
    MalformedPayload,
    MessageType,
    StatusUpdate,
    UnparsedItem,
    WebhookItem,
)

WHATSAPP_PREFIX = "whatsapp:"
# The query parameter of our StatusCallback URL that carries our message id.
CALLBACK_PARAMETER = "message"

# Twilio's message statuses (section 4). The ones before `sent` say nothing we do not know
# already (our message is queued or sending) and carry no error: they are ignored, not failures.
STATUSES = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    # Chatwoot once crashed on this one: a failure like `failed`, with its ErrorCode.
    "undelivered": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
EARLY_STATUSES = frozenset({"queued", "accepted", "scheduled", "sending"})
INBOUND_STATUSES = frozenset({"received", "receiving"})

# What an agent should read for the WhatsApp error codes the reference names (sections 2, 8).
ERROR_TITLES = {
    21211: "Invalid 'To' number",
    63003: "The recipient is not on WhatsApp",
    63007: "No WhatsApp sender is set up for this 'From' number",
    63015: "The sandbox recipient has not joined",
    63016: (
        "Outside the 24-hour customer-service window: free text is refused, send an approved "
        "Content template"
    ),
    63018: "WhatsApp rate limit for this sender",
    63024: "Invalid WhatsApp recipient",
    63049: "Meta chose not to deliver this marketing message",
}

# Media content types -> our message type. WhatsApp stickers are WebP images (I).
MEDIA_KINDS = {"image/webp": MessageType.STICKER}


def form_raw(form: QueryDict) -> dict:
    """The whole form as a dict: one value as a string, a repeated key as its list."""
    return {key: values[0] if len(values) == 1 else values for key, values in form.lists()}


def strip_channel(address: str) -> str:
    """`whatsapp:+447700900123` -> `+447700900123`."""
    address = (address or "").strip()
    if address.lower().startswith(WHATSAPP_PREFIX):
        return address[len(WHATSAPP_PREFIX) :]
    return address


def parse_form(form: QueryDict, *, query: QueryDict | None = None) -> list[WebhookItem]:
    raw = form_raw(form)
    if not raw:
        raise MalformedPayload("The webhook has no form parameters.")
    sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid") or ""
    if not sid:
        raise MalformedPayload("The webhook has no MessageSid.")
    try:
        _check_text(raw)
        if len(sid) > MAX_ID_LENGTH:
            raise ValueError(f"MessageSid is {len(sid)} characters long")
        status = form.get("MessageStatus") or ""
        sms_status = form.get("SmsStatus") or ""
        if not status and sms_status and sms_status not in INBOUND_STATUSES:
            status = sms_status  # an older callback names the status SmsStatus only
        if status:
            callback = (query or QueryDict()).get(CALLBACK_PARAMETER, "")
            return [_status(form, sid, status, raw, callback)]
        return _inbound(form, sid, raw)
    except (KeyError, ValueError, TypeError) as exc:
        return [
            UnparsedItem(
                error=f"Could not read Twilio message {sid[:64]}: {exc}",
                raw=raw,
                channel_external_id=form.get("To") or "",
            )
        ]


def _check_text(raw: dict) -> None:
    for key, value in raw.items():
        values = value if isinstance(value, list) else [value]
        if REFUSED_CHARACTERS.search(key) or any(REFUSED_CHARACTERS.search(v) for v in values):
            raise ValueError(f"parameter {key[:40]!r} holds a character that cannot be stored")


def _now() -> datetime:
    # Twilio's webhooks carry no time (I): the moment we read them is the best we know.
    return datetime.now(UTC)


def _status(form: QueryDict, sid: str, wire: str, raw: dict, callback: str) -> WebhookItem:
    if wire in EARLY_STATUSES:
        return IgnoredItem(reason=f"Twilio status {wire!r} changes nothing we know.", raw=raw)
    status = STATUSES.get(wire, DeliveryStatus.UNKNOWN)
    errors = []
    code_text = form.get("ErrorCode") or ""
    if code_text or status == DeliveryStatus.FAILED:
        code = int(code_text) if code_text.strip().isdigit() else None
        detail = form.get("ErrorMessage") or form.get("ChannelStatusMessage") or ""
        title = ERROR_TITLES.get(code) or detail or f"Twilio reported the message {wire}"
        errors.append(ErrorInfo(code=code, title=title, details=detail))
    recipient = strip_channel(form.get("To") or "")
    return StatusUpdate(
        provider_message_id=sid,
        # Our sender: the channel's external id (`whatsapp:+E164`).
        channel_external_id=form.get("From") or "",
        status=status,
        timestamp=_now(),
        recipient=recipient,
        recipient_addresses=_addresses(recipient, form.get("WaId") or ""),
        callback_data=callback if callback.isdigit() else "",
        errors=errors,
        raw=raw,
    )


def _addresses(sender: str, wa_id: str) -> tuple[Address, ...]:
    """A phone (WaId is its digits), or else what stands after `whatsapp:` as received.

    The reference documents no username fields for Twilio (I): should Twilio put a WhatsApp user
    id where the phone is, it is kept as a user id and never read as a number.
    """
    if BSUID_RE.match(sender):
        return (Address(AddressTransport.WHATSAPP_BSUID, sender),)
    phone = f"+{wa_id}" if wa_id.isdigit() else sender
    return (Address(AddressTransport.WHATSAPP, phone),) if phone else ()


def _media_kind(content_type: str) -> str:
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime in MEDIA_KINDS:
        return MEDIA_KINDS[mime]
    family = mime.split("/", 1)[0]
    if family in (MessageType.IMAGE, MessageType.AUDIO, MessageType.VIDEO):
        return family
    return MessageType.DOCUMENT


def _inbound(form: QueryDict, sid: str, raw: dict) -> list[WebhookItem]:
    channel = form["To"]
    sender = strip_channel(form["From"])
    addresses = _addresses(sender, form.get("WaId") or "")
    if not addresses:
        raise ValueError("the message has no sender")
    phone = addresses[0].value if addresses[0].transport == AddressTransport.WHATSAPP else ""
    body = form.get("Body") or ""
    common = {
        "channel_external_id": channel,
        "sender": phone,
        "sender_name": form.get("ProfileName") or "",
        "timestamp": _now(),
        "reply_to": form.get("OriginalRepliedMessageSid") or "",
        "raw": raw,
        "addresses": addresses,
    }
    media_count = int(form.get("NumMedia") or 0)
    if media_count > 0:
        items: list[WebhookItem] = []
        for n in range(media_count):
            url = form[f"MediaUrl{n}"]
            kind = _media_kind(form.get(f"MediaContentType{n}") or "")
            payload = {
                "media_id": url,  # what `TwilioProvider.media_fetch` downloads
                "mime_type": form.get(f"MediaContentType{n}") or "",
                "sha256": "",
                "filename": "",
                "caption": body if n == 0 else "",
                "voice": False,
                "animated": False,
                "url": url,
            }
            # WhatsApp sends one media per message (I); should more come, each becomes its own
            # message so none is lost, with an id derived from the message's.
            ident = sid if n == 0 else f"{sid}/{n}"
            items.append(
                InboundMessage(
                    provider_message_id=ident,
                    type=kind,
                    text=payload["caption"],
                    payload=payload,
                    **common,
                )
            )
        return items
    if form.get("Latitude") and form.get("Longitude"):
        payload = {
            "latitude": float(form["Latitude"]),
            "longitude": float(form["Longitude"]),
            "name": form.get("Label") or "",
            "address": form.get("Address") or "",
            "url": "",
        }
        text = ", ".join(part for part in (payload["name"], payload["address"]) if part)
        return [
            InboundMessage(
                provider_message_id=sid,
                type=MessageType.LOCATION,
                text=text,
                payload=payload,
                **common,
            )
        ]
    if form.get("ButtonPayload") or form.get("ButtonText"):
        payload = {"text": form.get("ButtonText") or body, "payload": form.get("ButtonPayload", "")}
        return [
            InboundMessage(
                provider_message_id=sid,
                type=MessageType.BUTTON,
                text=payload["text"],
                payload=payload,
                **common,
            )
        ]
    wire_type = form.get("MessageType") or "text"
    if not body and wire_type != "text":
        # A kind the reference does not describe (contacts, a sticker without media...): kept,
        # shown as unknown, the whole form in raw.
        return [
            InboundMessage(
                provider_message_id=sid,
                type=MessageType.UNKNOWN,
                payload={"message_type": wire_type},
                **common,
            )
        ]
    return [InboundMessage(provider_message_id=sid, type=MessageType.TEXT, text=body, **common)]
