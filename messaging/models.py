import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from config.crypto import EncryptedJSONField
from messaging.providers import provider_choices, provider_class
from messaging.providers.base import MAX_ID_LENGTH, MessageType


class Transport(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    WABA = "waba", "WhatsApp Business API"
    TELEGRAM = "telegram", "Telegram"
    INSTAGRAM = "instagram", "Instagram"
    SMS = "sms", "SMS"
    VIBER = "viber", "Viber"
    VK = "vk", "VK"
    AVITO = "avito", "Avito"
    MAX = "max", "MAX"


class RoutingMode(models.TextChoices):
    FIRST_RESPONDER = "first_responder", _("First responder")
    ROUND_ROBIN = "round_robin", _("Round robin")


class Channel(models.Model):
    """One sending identity under an account: a WhatsApp phone number, a bot, a sender."""

    class InternationalPrefix(models.TextChoices):
        PLUS = "+", "+"
        ZERO_ZERO = "00", "00"

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120, verbose_name=_("name"))
    account = models.ForeignKey(
        "integrations.IntegrationAccount",
        on_delete=models.PROTECT,
        related_name="channels",
        verbose_name=_("account"),
    )
    provider = models.CharField(max_length=30, choices=provider_choices, verbose_name=_("provider"))
    transport = models.CharField(
        max_length=20,
        choices=Transport.choices,
        default=Transport.WABA,
        verbose_name=_("transport"),
    )
    external_id = models.CharField(
        "provider id", max_length=64, help_text="WhatsApp: the phone-number-id (not the number)."
    )
    display_number = models.CharField(max_length=32, blank=True, verbose_name=_("display number"))
    # The provider's per-channel settings and secrets (`channel_setting_fields`,
    # `channel_secret_fields`): a Telegram bot token belongs to one channel, not to the account.
    config = models.JSONField(default=dict, blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)
    international_prefix = models.CharField(
        max_length=2, choices=InternationalPrefix.choices, default=InternationalPrefix.PLUS
    )
    throughput_per_second = models.PositiveIntegerField(
        default=80, help_text="Messages per second the provider accepts from this number."
    )
    is_healthy = models.BooleanField("healthy", default=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # Helpdesk: what a customer message opens on this channel.
    auto_create_tickets = models.BooleanField(
        "automatic ticket creation",
        default=True,
        help_text="Open a ticket for a customer who has none open; off: staff open them by hand.",
    )
    default_ticket_priority = models.CharField(max_length=10, default="normal")
    default_ticket_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    utility_template = models.ForeignKey(
        "messaging.MessageTemplate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Approved utility template that carries a staff comment once the "
        "customer-service window has closed.",
    )
    utility_template_parameters = models.JSONField(
        default=list,
        blank=True,
        help_text='Body parameters in order, as field paths: ["ticket.number", "comment.text"].',
    )
    # Routing: who gets a new client, and where their deal starts.
    routing_mode = models.CharField(
        max_length=20, choices=RoutingMode.choices, default=RoutingMode.FIRST_RESPONDER
    )
    new_client_pipeline = models.ForeignKey(
        "crm.Pipeline", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    new_client_stage = models.ForeignKey(
        "crm.Stage", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A channel of a service is answered by the service's agents; without one, by the agent
    # profiles that list the channel (how every channel worked before services existed).
    service = models.ForeignKey(
        "messaging.Service",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="channels",
        help_text="The service whose agents answer this channel. Empty: the agents whose "
        "profile lists the channel.",
        verbose_name=_("service"),
    )
    # The send throttle: the time (epoch seconds) of the next free send slot, shared by every
    # worker thread and process (outbound.channel_throttle_acquire).
    throttle_next_at = models.FloatField(default=0, editable=False)
    # One delivery drain sends for a channel at a time (services/delivery.py): it holds this
    # lease, renewed each batch, so a drain that died gives way once it runs out.
    delivery_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"], name="channel_unique_provider_external_id"
            )
        ]

    def __str__(self):
        return f"{self.name} ({self.display_number or self.external_id})"

    def get_provider(self):
        account = self.account
        return provider_class(self.provider)(
            settings=account.settings,
            secrets=account.secrets,
            channel_config=self.config,
            channel_secrets=self.secrets,
        )

    @cached_property
    def capabilities(self):
        """What this channel can do (window, text length, templates, media), from its provider."""
        return provider_class(self.provider).capabilities_for(channel_config=self.config)


class WebhookEvent(models.Model):
    """Every webhook request as received. Nothing is processed that was not stored here first."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected (signature)"
        SKIPPED = "skipped", "Skipped (account inactive)"
        # Every readable item was applied; the others are unreadable as sent, so trying again
        # would change nothing: kept for an operator, never retried.
        FLAGGED = "flagged", "Processed, some items unreadable"

    provider = models.CharField(max_length=30)
    account = models.ForeignKey(
        "integrations.IntegrationAccount",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
    )
    # Set when the provider posts to a channel's URL (one Telegram bot): its Update does not say
    # which bot it was sent to, so parsing needs the channel.
    channel = models.ForeignKey(
        "messaging.Channel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_events",
    )
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    body = models.BinaryField()
    headers = models.JSONField(default=dict)
    # The query string of the URL the provider called: signed with it by some (Twilio), and where
    # a status URL carries our message id, so parsing a stored event can read it back.
    query = models.TextField(blank=True, default="")
    signature_valid = models.BooleanField(null=True)
    # NULL for rejected requests, so a forged copy never blocks the authentic delivery.
    dedupe_key = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "dedupe_key"], name="webhookevent_unique_dedupe_key"
            )
        ]
        indexes = [models.Index(fields=["state", "received_at"])]

    def __str__(self):
        return f"{self.provider} webhook #{self.pk} ({self.state})"


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("conversation status", "Open")
        CLOSED = "closed", pgettext_lazy("conversation status", "Closed")

    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="conversations", verbose_name=_("channel")
    )
    contact = models.ForeignKey(
        "crm.Contact",
        on_delete=models.PROTECT,
        related_name="conversations",
        verbose_name=_("contact"),
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.OPEN, verbose_name=_("status")
    )
    opened_at = models.DateTimeField(auto_now_add=True, verbose_name=_("opened at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))
    last_inbound_at = models.DateTimeField(null=True, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last message at"))
    last_message_status = models.CharField(
        max_length=12, blank=True, verbose_name=_("last message status")
    )
    # The list shows the latest message without reading the messages table for every row: the
    # services that store a message keep these three (messaging.services.preview).
    last_message_type = models.CharField(max_length=20, blank=True)
    last_message_direction = models.CharField(max_length=3, blank=True)
    last_message_preview = models.CharField(max_length=140, blank=True)
    started_by_template = models.ForeignKey(
        "messaging.MessageTemplate", null=True, blank=True, on_delete=models.SET_NULL
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        verbose_name=_("ticket"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        verbose_name=_("assignee"),
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    # Set while a round-robin conversation waits for an agent with free capacity.
    queued_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # The last time it entered the queue and left it (to an agent; a close ends the wait too),
    # kept after `queued_at` is cleared so reports can draw the queue over time.
    queue_entered_at = models.DateTimeField(null=True, blank=True)
    queue_left_at = models.DateTimeField(null=True, blank=True)
    # Where the conversation started, when its first message carried a widget reference: the
    # widget, the page the visitor was on, and the service whose agents it is routed among.
    widget = models.ForeignKey(
        "messaging.Widget",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        verbose_name=_("widget"),
    )
    widget_page = models.CharField("page", max_length=500, blank=True)
    service = models.ForeignKey(
        "messaging.Service",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
        help_text="Routed among this service's agents instead of the channel's.",
    )

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-last_message_at"]
        constraints = [
            # Concurrent first messages from one number must end in one conversation.
            models.UniqueConstraint(
                fields=["channel", "contact"],
                condition=Q(status="open"),
                name="conversation_one_open_per_contact_channel",
            )
        ]
        indexes = [
            models.Index(fields=["status", "opened_at"]),
            models.Index(fields=["assignee", "status"]),
            # Reports count a day's openings, closings and queue entries by range.
            models.Index(fields=["opened_at"], name="conversation_opened_at"),
            models.Index(fields=["closed_at"], name="conversation_closed_at"),
            models.Index(
                fields=["queue_entered_at"],
                condition=Q(queue_entered_at__isnull=False),
                name="conversation_queue_entered",
            ),
            models.Index(
                fields=["queue_left_at"],
                condition=Q(queue_left_at__isnull=False),
                name="conversation_queue_left",
            ),
        ]

    def __str__(self):
        return f"Conversation #{self.pk} with {self.contact}"


class Message(models.Model):
    class Direction(models.TextChoices):
        INBOUND = "in", _("Inbound")
        OUTBOUND = "out", _("Outbound")

    class Status(models.TextChoices):
        RECEIVED = "received", _("Received")
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        DELIVERED = "delivered", _("Delivered")
        READ = "read", _("Read")
        FAILED = "failed", _("Failed")
        UNKNOWN = "unknown", _("Unknown (send outcome lost)")

    class MediaState(models.TextChoices):
        NONE = "", "—"
        PENDING = "pending", _("Downloading")
        STORED = "stored", _("Stored")
        FAILED = "failed", _("Download failed")

    # The labels are in the catalogue by hand (makemessages cannot see computed strings).
    TYPE_CHOICES = [
        (value, _(value.replace("_", " ").capitalize()))
        for name, value in vars(MessageType).items()
        if name.isupper() and isinstance(value, str)
    ]

    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="messages", verbose_name=_("channel")
    )
    conversation = models.ForeignKey(
        Conversation,
        on_delete=models.CASCADE,
        related_name="messages",
        verbose_name=_("conversation"),
    )
    direction = models.CharField(
        max_length=3, choices=Direction.choices, verbose_name=_("direction")
    )
    # NULL until the provider accepts an outbound message; unique per channel once known.
    provider_message_id = models.CharField(max_length=MAX_ID_LENGTH, null=True, blank=True)  # noqa: DJ001
    type = models.CharField(
        max_length=20, choices=TYPE_CHOICES, default=MessageType.TEXT, verbose_name=_("type")
    )
    text = models.TextField(blank=True, verbose_name=_("text"))
    payload = models.JSONField(default=dict, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    reply_to_provider_id = models.CharField(max_length=MAX_ID_LENGTH, blank=True)
    # The current reaction of each person to this message, set, changed and cleared by their
    # reaction messages: {"contact:<pk>": {"emoji": "👍" or "" (taken back), "at": ISO time of
    # that reaction, "id": its provider id}}. A removal is kept so a late older one stays out.
    reactions = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, verbose_name=_("status"))
    error_code = models.IntegerField(null=True, blank=True, verbose_name=_("error code"))
    error_title = models.CharField(max_length=255, blank=True, verbose_name=_("error title"))
    error_detail = models.TextField(blank=True)
    template = models.ForeignKey(
        "messaging.MessageTemplate", null=True, blank=True, on_delete=models.SET_NULL
    )
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    provider_timestamp = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    media_state = models.CharField(
        max_length=10,
        choices=MediaState.choices,
        default=MediaState.NONE,
        blank=True,
        verbose_name=_("media state"),
    )
    media_file = models.FileField(upload_to="media/%Y/%m/", blank=True)
    media_error = models.TextField(blank=True)
    media_attempts = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id"],
                condition=Q(provider_message_id__isnull=False),
                name="message_unique_provider_id_per_channel",
            )
        ]
        indexes = [
            models.Index(fields=["conversation", "created_at"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]

    def __str__(self):
        return f"{self.get_direction_display()} {self.type} #{self.pk}"

    @property
    def is_media(self) -> bool:
        return self.type in MessageType.MEDIA


class PendingStatus(models.Model):
    """A status for a message id not yet stored; applied when the message appears."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    provider_message_id = models.CharField(max_length=MAX_ID_LENGTH)
    status = models.CharField(max_length=12)
    timestamp = models.DateTimeField()
    callback_data = models.CharField(max_length=512, blank=True)
    errors = models.JSONField(default=list, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "provider_message_id", "status"],
                name="pendingstatus_unique",
            )
        ]

    def __str__(self):
        return f"{self.status} for {self.provider_message_id}"


class MessageTemplate(models.Model):
    account = models.ForeignKey(
        "integrations.IntegrationAccount", on_delete=models.CASCADE, related_name="templates"
    )
    external_id = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=512)
    language = models.CharField(max_length=15)
    category = models.CharField(max_length=30, blank=True)
    status = models.CharField(max_length=30, db_index=True)
    components = models.JSONField(default=list, blank=True)
    parameter_format = models.CharField(max_length=12, default="POSITIONAL")
    header_format = models.CharField(max_length=12, blank=True)
    header_param_count = models.PositiveSmallIntegerField(default=0)
    body_param_count = models.PositiveSmallIntegerField(default=0)
    button_param_count = models.PositiveSmallIntegerField(default=0)
    rejected_reason = models.TextField(blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    APPROVED = "APPROVED"

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "name", "language"], name="template_unique_name_language"
            )
        ]

    def __str__(self):
        return f"{self.name} [{self.language}] ({self.status})"

    @property
    def is_approved(self) -> bool:
        return self.status == self.APPROVED


class IdempotencyKey(models.Model):
    """An API send made with an `Idempotency-Key` header: the first response, replayed for a retry.

    The row is inserted before the send, in the same transaction, so of two concurrent requests
    with one key the unique index lets exactly one through.
    """

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    principal = models.CharField(max_length=80, help_text="Who sent it: a key or a user.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["principal", "key"], name="idempotencykey_unique")
        ]

    def __str__(self):
        return f"{self.key} ({self.principal})"


class DocumentLink(models.Model):
    """A stored document reachable for a short time at a signed public URL, so a provider can
    fetch it; the file is deleted after the first fetch or when the link expires."""

    token = models.CharField(max_length=64, unique=True, editable=False)
    file = models.FileField(upload_to="documents/%Y/%m/")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, default="application/octet-stream")
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.filename


class Service(models.Model):
    """A contact-centre service ("Customer care", "Sales"): a group of channels and the agents
    who may answer them. Round robin and first responder pick among its agents; a paused
    service offers and routes its channels' new clients to nobody until it is active again."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="A paused service hands its channels' new clients to nobody: round-robin "
        "clients wait in the queue until it is active again.",
    )
    agents = models.ManyToManyField(
        "accounts.AgentProfile",
        blank=True,
        related_name="services",
        help_text="Agents who answer this service's channels.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("service")
        verbose_name_plural = _("services")
        ordering = ["name"]

    def __str__(self):
        return self.name


class AgentCapacity(models.Model):
    """An agent's maximum of open conversations on one channel type, counted across every
    service and channel of that type. A type without a row falls back to the profile's
    `max_concurrent_conversations`."""

    profile = models.ForeignKey(
        "accounts.AgentProfile", on_delete=models.CASCADE, related_name="capacities"
    )
    transport = models.CharField("channel type", max_length=20, choices=Transport.choices)
    max_interactions = models.PositiveIntegerField(
        "maximum interactions",
        help_text="Open conversations of this channel type the agent can hold at once.",
    )

    class Meta:
        verbose_name = "capacity per channel type"
        verbose_name_plural = "capacity per channel type"
        ordering = ["transport"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "transport"], name="agentcapacity_one_per_profile_transport"
            )
        ]

    def __str__(self):
        return f"{self.get_transport_display()}: {self.max_interactions}"


from messaging.widget_models import Widget, WidgetEntry, WidgetReference  # noqa: E402, F401
