"""The contract every messaging provider implements, and the normalized types it speaks.

Providers only translate between the wire and these types: no ORM, no business rules. Services in
`messaging/services.py` only ever see the types below.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

from crm.addresses import Address, AddressTransport  # re-exported for providers
from messaging.http import RemoteError
from messaging.webhook_request import WebhookRequest

# What the store keeps of a provider's ids (message ids, reply and reaction targets). A longer id
# is not one the provider makes: the parser refuses the item rather than have the database do it.
MAX_ID_LENGTH = 128
# No provider sends an item nested this deep; storing one fails in the JSON encoder or the
# database, so the parser refuses it.
MAX_ITEM_DEPTH = 32
# Characters PostgreSQL refuses in text and jsonb: NUL, and lone UTF-16 surrogates (not UTF-8).
REFUSED_CHARACTERS = re.compile("[\x00\ud800-\udfff]")


class MessageType:
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACTS = "contacts"
    INTERACTIVE = "interactive"  # button_reply / list_reply / nfm_reply, in payload["kind"]
    BUTTON = "button"  # quick-reply tap on a template
    REACTION = "reaction"
    TEMPLATE = "template"  # outbound only
    ORDER = "order"
    SYSTEM = "system"
    UNSUPPORTED = "unsupported"
    UNKNOWN = "unknown"

    MEDIA = frozenset({IMAGE, AUDIO, VIDEO, DOCUMENT, STICKER})


class DeliveryStatus:
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"


class TemplateKind:
    """Which kind of message templates a provider sends (and the picker offers)."""

    NONE = ""  # no templates (a Telegram bot)
    META = "meta_components"  # header/body/button components synced from the WABA
    TWILIO_CONTENT = "twilio_content"


@dataclass(frozen=True)
class MediaLimit:
    mime_types: frozenset[str]  # empty = any type
    max_bytes: int


@dataclass(frozen=True)
class Capabilities:
    """What a channel can do, so services ask the channel instead of assuming WhatsApp."""

    # Hours after the customer's last message during which free text may be sent; None = any time.
    service_window_hours: int | None
    max_text_length: int
    template_kind: str = TemplateKind.NONE
    # Template categories a contact without a phone number cannot receive.
    templates_needing_phone: frozenset[str] = frozenset()
    # MessageType -> limit; a type missing here cannot be sent.
    media: Mapping[str, MediaLimit] = field(default_factory=dict)
    # A per-recipient rate limit waits base ** attempts seconds; None = the usual backoff.
    rate_limit_backoff_base: float | None = None
    read_receipts: bool = False


class ErrorMeaning:
    """What a provider's error code means for consent, so services never read vendor codes."""

    NONE = ""
    # The person stopped marketing messages on the platform: an opt-out.
    MARKETING_OPTED_OUT = "marketing_opted_out"
    # The platform's per-person marketing limit: skip, and hold marketing for `hold_seconds`.
    MARKETING_LIMITED = "marketing_limited"


@dataclass(frozen=True)
class ErrorInfo:
    code: int | None
    title: str = ""
    details: str = ""
    meaning: str = ErrorMeaning.NONE
    # With MARKETING_LIMITED: how long the platform wants marketing to this person held.
    hold_seconds: float | None = None


@dataclass
class InboundMessage:
    """One message a customer sent.

    `payload` holds the type's content, always with these keys per type:
    media types: {"media_id", "mime_type", "sha256", "filename", "caption", "voice", "animated",
    "url"};
    location: {"latitude", "longitude", "name", "address", "url"};
    contacts: {"contacts": [raw contact dicts]};
    interactive: {"kind", "id", "title", "description"};
    button: {"text", "payload"};
    reaction: {"message_id", "emoji"} (emoji "" means the reaction was removed);
    unsupported/unknown/system/order: whatever the wire gave, under its own keys.
    `text` is the body, caption, title or button text: what a person would read.
    """

    provider_message_id: str
    channel_external_id: str
    sender: str
    sender_name: str
    timestamp: datetime
    type: str
    text: str = ""
    payload: dict = field(default_factory=dict)
    reply_to: str = ""
    errors: list[ErrorInfo] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    # Every identifier the message carries, as received (`sender` may be "": a username user).
    addresses: tuple[Address, ...] = ()
    sender_handle: str = ""  # the username, for display
    # A token from a link we issued (a Telegram `/start <payload>` deep link): it names the known
    # contact the sender is, when its signature holds.
    link_token: str = ""
    # A phone the transport vouches is the sender's own (a Telegram contact card carrying their
    # user id): it joins their contact, or their contact joins the one that has it.
    shared_phone: str = ""
    # Something the provider wants answered once the message is stored (a Telegram button tap
    # shows a spinner until its callback query is answered): see `Provider.inbound_acknowledge`.
    acknowledge_id: str = ""
    # An echo: written by the business side outside Switchboard (an agent's phone, the
    # provider's own app) and reported so the thread is complete. Stored as an outbound message
    # by `author_id` (the provider's id of the agent, as we gave it: our user's id) when known;
    # `addresses` then name the customer it went to.
    is_echo: bool = False
    author_id: str = ""
    author_name: str = ""

    def __post_init__(self):
        # A message built with a phone sender only (older providers, tests) is a WhatsApp phone.
        if not self.addresses and self.sender:
            self.addresses = (Address(AddressTransport.WHATSAPP, self.sender, self.sender_handle),)


@dataclass
class StatusUpdate:
    provider_message_id: str
    channel_external_id: str
    status: str
    timestamp: datetime
    recipient: str = ""
    callback_data: str = ""
    errors: list[ErrorInfo] = field(default_factory=list)
    raw: dict = field(default_factory=dict)
    recipient_addresses: tuple[Address, ...] = ()  # recipient_id, recipient_user_id, contacts[]


@dataclass
class TemplateStatusUpdate:
    account_external_id: str
    template_external_id: str
    name: str
    language: str
    status: str
    reason: str = ""
    raw: dict = field(default_factory=dict)


@dataclass
class UnparsedItem:
    """One item of a batch that could not be read; the others go on."""

    error: str
    raw: dict = field(default_factory=dict)
    channel_external_id: str = ""


@dataclass
class IgnoredItem:
    """An authentic change we do not act on (other webhook fields)."""

    reason: str
    raw: dict = field(default_factory=dict)


@dataclass
class MessageEdit:
    """The customer changed the text (or caption) of a message they sent."""

    channel_external_id: str
    provider_message_id: str
    text: str
    edited_at: datetime
    raw: dict = field(default_factory=dict)


@dataclass
class AddressChange:
    """A transport renamed a user's id (WhatsApp `user_id_update`): the old address is gone."""

    channel_external_id: str
    transport: str
    old: str
    new: str
    phone: str = ""  # the phone the change came with, raw, when given
    raw: dict = field(default_factory=dict)


@dataclass
class MessageChange:
    """A message already sent was edited or deleted (by either side). `message` is the message as
    it reads now, so one we never stored is stored from it."""

    channel_external_id: str
    provider_message_id: str
    deleted: bool
    message: InboundMessage
    raw: dict = field(default_factory=dict)


@dataclass
class ChannelStateUpdate:
    """A channel's state at the provider changed (logged out, out of money, back to active).
    `healthy` says whether it can send; `state` is the provider's word for it, shown as is."""

    channel_external_id: str
    state: str
    healthy: bool
    transport: str = ""  # the provider's transport name, when given
    display_id: str = ""  # the phone number or username of the channel, when given
    raw: dict = field(default_factory=dict)


@dataclass
class ContactRecord:
    """A contact as a provider that acts as our CRM's mirror sees it (Wazzup): our ids, the
    responsible agent's user id, the messenger addresses, a link back to our page."""

    id: str
    name: str
    responsible_id: str
    addresses: tuple[Address, ...] = ()
    uri: str = ""


@dataclass
class DealRecord:
    id: str
    name: str
    responsible_id: str
    contact_ids: tuple[str, ...] = ()
    closed: bool = False
    uri: str = ""


@dataclass
class ContactCreateRequest:
    """The provider asks us to create a contact now and answer with it (`Provider.answer`).
    `responsible_id` is the user the provider proposes; `by_user` is True when an agent asked
    for it, False when the provider created it for a new client by itself."""

    addresses: tuple[Address, ...]
    name: str
    responsible_id: str = ""
    by_user: bool = False
    raw: dict = field(default_factory=dict)


@dataclass
class DealCreateRequest:
    """The provider asks us to create a deal for these contacts (our ids) and answer with it."""

    contact_ids: tuple[str, ...]
    responsible_id: str = ""
    by_user: bool = False
    raw: dict = field(default_factory=dict)


# Items that need an answer in the webhook's own response (`Provider.answer`).
ANSWERED_ITEMS = (ContactCreateRequest, DealCreateRequest)

WebhookItem = (
    InboundMessage
    | StatusUpdate
    | MessageChange
    | ChannelStateUpdate
    | ContactCreateRequest
    | DealCreateRequest
    | TemplateStatusUpdate
    | AddressChange
    | MessageEdit
    | UnparsedItem
    | IgnoredItem
)


@dataclass
class TemplateCall:
    name: str
    language: str
    body_params: list[str] = field(default_factory=list)
    header_params: list[str] = field(default_factory=list)
    # {"type": "image"|"video"|"document", "link" or "id", "filename"?}
    header_media: dict | None = None
    # [{"index": 0, "sub_type": "quick_reply"|"url"|"copy_code", "value": str}]
    button_params: list[dict] = field(default_factory=list)
    # The provider's id of the template, for providers that send by id (a Twilio ContentSid).
    external_id: str = ""


@dataclass
class OutboundMessage:
    to: str  # E.164; "" when the contact has no phone
    type: str
    text: str = ""
    preview_url: bool = False
    template: TemplateCall | None = None
    # media types: {"link" or "id", "caption"?, "filename"?}
    media: dict | None = None
    reply_to: str = ""  # provider id of the message being answered
    reaction: dict | None = None  # {"message_id", "emoji"}
    location: dict | None = None  # {"latitude", "longitude", "name"?, "address"?}
    callback_data: str = ""  # echoed back in status webhooks (our message id)
    # The contact's other addresses, transport -> value, for providers whose
    # `recipient_transports` reach a contact without a phone (a WhatsApp user id).
    recipient_addresses: Mapping[str, str] = field(default_factory=dict)
    # Where the provider should post this message's statuses, for providers that take a status
    # URL per message (Twilio's StatusCallback): our webhook URL for the account.
    status_url: str = ""
    author_id: str = ""  # the sending agent's user id, for providers that record the author


@dataclass(frozen=True)
class ChannelInfo:
    """One channel as the provider lists it (`Provider.channels_list`)."""

    external_id: str
    transport: str  # messaging.models.Transport value
    name: str
    state: str
    healthy: bool
    display_id: str = ""
    config: Mapping = field(default_factory=dict)  # becomes Channel.config


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    raw: dict = field(default_factory=dict)
    # The recipient's address moved while sending (a Telegram group upgraded to a supergroup):
    # the provider sent to the new one; the caller records it.
    address_change: AddressChange | None = None


@dataclass(frozen=True)
class WebhookInfo:
    """What the platform says about the webhook it calls (Telegram's getWebhookInfo)."""

    url: str
    pending_update_count: int | None = None
    last_error_message: str = ""
    last_error_at: datetime | None = None
    raw: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelIdentity:
    """Who the channel is at the platform (Telegram's getMe): its id and what people see."""

    external_id: str
    display: str
    config: dict = field(default_factory=dict)
    transport: str = ""  # the channel's transport (messaging.models.Transport value), if known


@dataclass
class TemplateInfo:
    external_id: str
    name: str
    language: str
    category: str
    status: str
    components: list
    parameter_format: str = "POSITIONAL"
    raw: dict = field(default_factory=dict)
    rejected_reason: str = ""


@dataclass(frozen=True)
class MediaFile:
    content: bytes
    mime_type: str
    sha256: str = ""  # as the provider gave it (hex or base64)
    filename: str = ""


class WebhookRejected(Exception):
    """The request is not authentic (signature, token, secret missing)."""


class MalformedPayload(Exception):
    """The body as a whole cannot be read (not JSON, wrong envelope)."""


class ProviderError(RemoteError):
    """A call to the provider failed: transient (retried with backoff) unless `permanent`.

    `permanent` errors fail the message at once. `per_recipient` means only this recipient must
    wait (pair rate limit).
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
        credentials_invalid: bool = False,
        per_recipient: bool = False,
        channel_problem: bool = False,
        raw: dict | None = None,
        unreachable: Address | None = None,
        meaning: str = ErrorMeaning.NONE,
        hold_seconds: float | None = None,
    ):
        super().__init__(
            message,
            code=code,
            permanent=permanent,
            retry_after=retry_after,
            credentials_invalid=credentials_invalid,
            raw=raw,
        )
        self.per_recipient = per_recipient
        # The recipient's address that can no longer be written to (the user blocked the bot).
        self.unreachable = unreachable
        # The channel itself cannot send (logged out, no money, blocked): mark it unhealthy.
        self.channel_problem = channel_problem
        # What the error means for consent (`ErrorMeaning`), with the hold the platform asks.
        self.meaning = meaning
        self.hold_seconds = hold_seconds


def json_object(response, *, service: str, permanent: bool = False) -> dict:
    """The JSON object a provider answered with; a ProviderError (transient unless `permanent`)
    when the body is not one (a proxy's HTML page, an empty 502)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ProviderError(
            f"{service} answered HTTP {response.status_code} without a JSON object.",
            permanent=permanent,
            raw={"status": response.status_code, "body": response.text[:500]},
        )
    return data


class Provider:
    """Base class. One instance per account (or channel), built from its settings and decrypted
    secrets. messaging/providers/README.md is the checklist for adding one."""

    key: ClassVar[str] = ""  # the registry key, also the account's platform value
    label: ClassVar[str] = ""
    setting_fields: ClassVar[tuple[str, ...]] = ()  # IntegrationAccount.settings
    secret_fields: ClassVar[tuple[str, ...]] = ()  # IntegrationAccount.secrets (encrypted)
    channel_setting_fields: ClassVar[tuple[str, ...]] = ()  # Channel.config
    channel_secret_fields: ClassVar[tuple[str, ...]] = ()  # Channel.secrets (encrypted)
    # Lower-case header names stored with each webhook event, besides content-type and user-agent.
    kept_headers: ClassVar[tuple[str, ...]] = ()
    # Query parameters of the webhook URL stored with each event, for parsing (Twilio: our message
    # id on a status callback URL). Nothing else is kept: a query may carry a secret (Wazzup's key).
    kept_query: ClassVar[tuple[str, ...]] = ()
    has_handshake: ClassVar[bool] = False  # answers GET on its webhook URL
    # Extra /webhooks/<alias>/<key>/ prefixes, only for URLs already configured at the provider.
    url_aliases: ClassVar[tuple[str, ...]] = ()
    recipient_transports: ClassVar[tuple[str, ...]] = ()  # address transports it can send to
    # The body of the 200 that acknowledges a webhook (Telegram reads a JSON answer as a method
    # call, so it gets an empty one).
    webhook_ack_body: ClassVar[bytes] = b"OK"
    capabilities: ClassVar[Capabilities]

    def __init__(
        self,
        *,
        settings: Mapping,
        secrets: Mapping,
        channel_config: Mapping | None = None,
        channel_secrets: Mapping | None = None,
    ):
        self.settings = dict(settings)
        self.secrets = dict(secrets)
        self.channel_config = dict(channel_config or {})
        self.channel_secrets = dict(channel_secrets or {})

    @classmethod
    def validate_config(cls, *, settings: Mapping, secrets: Mapping) -> dict[str, str]:
        """Return {field: error} for what is wrong; empty when the config is usable."""
        return {}

    @classmethod
    def validate_channel_config(cls, *, config: Mapping, secrets: Mapping) -> dict[str, str]:
        """The same for one channel's config and secrets."""
        return {}

    @classmethod
    def capabilities_for(cls, *, channel_config: Mapping) -> Capabilities:
        """A channel's capabilities; a provider whose channels differ (Wazzup: WABA or not)
        overrides this."""
        return cls.capabilities

    @classmethod
    def setup_urls(cls, webhook_url: str) -> list[tuple[str, str]]:
        """What an operator pastes where at the provider: (where, URL), shown on the account."""
        return [("Webhook URL", webhook_url)]

    def handshake(self, request: WebhookRequest) -> str:
        """Answer a GET challenge with the text to return; raise WebhookRejected otherwise."""
        raise WebhookRejected("This provider has no GET handshake.")

    def verify_request(self, request: WebhookRequest) -> None:
        """Raise WebhookRejected unless the request is authentic. A missing secret rejects."""
        raise NotImplementedError

    def dedupe_key(self, request: WebhookRequest) -> str | None:
        """What names one delivery, when the provider may redeliver it with another body (Twilio:
        MessageSid and MessageStatus; Telegram: update_id). None: an identical body is the same
        delivery. Called on verified requests only; never raises (None when unreadable)."""
        return None

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookItem]:
        """The request's items; raise MalformedPayload when the body as a whole is unreadable.
        Never needs `request.url` (stored events are replayed without it)."""
        raise NotImplementedError

    def send(self, *, sender_id: str, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    def mark_read(self, *, sender_id: str, provider_message_id: str) -> None:
        raise NotImplementedError

    def iter_templates(self) -> Iterator[TemplateInfo]:
        raise NotImplementedError

    def media_fetch(self, *, media_id: str) -> MediaFile:
        raise NotImplementedError

    def media_upload(self, *, sender_id: str, content: bytes, mime_type: str, filename: str) -> str:
        raise NotImplementedError

    def verify_credentials(self) -> str:
        """Call the platform with the stored credentials; return what it said, or raise."""
        raise NotImplementedError

    # Channels whose webhook is registered by an API call (Telegram's setWebhook) rather than in
    # the platform's dashboard: the channel admin offers Connect and Disconnect.
    connects_webhook: ClassVar[bool] = False

    def channel_identity(self) -> ChannelIdentity:
        raise NotImplementedError

    def webhook_url_problem(self, url: str) -> str:
        """Why the platform cannot call `url` ("" when it can)."""
        return ""

    def webhook_register(self, *, url: str, secret: str) -> None:
        raise NotImplementedError

    def webhook_info(self) -> WebhookInfo:
        raise NotImplementedError

    def webhook_unregister(self) -> None:
        raise NotImplementedError

    def start_link(self, *, token: str) -> str:
        """A link that opens a chat with this channel carrying `token` (Telegram's deep link),
        or "" when the channel has none."""
        return ""

    def inbound_acknowledge(self, *, acknowledge_id: str) -> None:
        """Answer what an inbound message asked to be answered (`acknowledge_id`)."""

    # Optional: a chat window the provider serves for one of our users (Wazzup's iframe).
    has_chat_window: ClassVar[bool] = False

    def chat_window_url(
        self,
        *,
        user_id: str,
        user_name: str,
        chats: tuple[Address, ...] = (),
        name: str = "",
        channel_external_id: str = "",
    ) -> str:
        """A fresh, short-lived link to the provider's chat window for this user: all their
        chats, or (with `chats`) one client's, opened on `channel_external_id` when given. Never
        stored: asked for on every opening."""
        raise NotImplementedError

    # Optional: providers whose account holds many channels, and that are told where to post.
    lists_channels: ClassVar[bool] = False  # implements channels_list
    subscribes_webhooks: ClassVar[bool] = False  # implements webhooks_subscribe

    def channels_list(self) -> list[ChannelInfo]:
        raise NotImplementedError

    def webhooks_subscribe(self, *, url: str) -> str:
        """Tell the provider to post to `url` (our webhook URL); the provider adds what it needs to
        authenticate its posts. Returns what it said, or raises ProviderError."""
        raise NotImplementedError

    def webhook_secrets_new(self) -> dict:
        """Secrets to store before `webhooks_subscribe` (a fresh URL token); {} for none."""
        return {}

    def needs_answer(self, request: WebhookRequest) -> bool:
        """True when this verified request waits for an answer in the response (a create
        request): the view then processes its stored event at once (`webhook_event_answer`).
        Cheap and never raises; False for everything else, which is processed after the
        acknowledgment as usual."""
        return False

    def answer(self, items: list) -> dict | None:
        """The body of the webhook's response once the ANSWERED_ITEMS of one request are applied:
        `items` are their results (ContactRecord, DealRecord). None: the usual "OK"."""
        return None
