import uuid

from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from integrations.crypto import EncryptedJSONField


class Platform(models.TextChoices):
    WHATSAPP_CLOUD = "whatsapp_cloud", "WhatsApp Cloud API"
    VTENEXT = "vtenext", "vtenext / vtiger CRM"
    ACTIVECAMPAIGN = "activecampaign", "ActiveCampaign"
    CLERK = "clerk", "Clerk.io"
    ECOMMERCE = "ecommerce", "E-commerce shop"


class IntegrationAccount(models.Model):
    """One configured connection to an external platform.

    `settings` holds what may be shown; `secrets` (tokens, app secrets) is encrypted at rest and
    never shown back after saving. Deactivating keeps both and stops the account's work.
    """

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    description = models.CharField(max_length=200)
    platform = models.CharField(max_length=30, choices=Platform.choices)
    is_active = models.BooleanField("active", default=True)
    settings = models.JSONField(default=dict, blank=True)
    secrets = EncryptedJSONField(default=dict, blank=True)
    is_healthy = models.BooleanField("healthy", default=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["description"]

    def __str__(self):
        return f"{self.description} ({self.get_platform_display()})"


# ---------------------------------------------------------------------------------------------
# REST API keys and business-event notifications


class AccountAPIKey(AbstractAPIKey):
    """A key an external system of one integration account calls the API with.

    Only a hash is stored; the key itself is shown once, when the admin creates it.
    """

    account = models.ForeignKey(
        IntegrationAccount, on_delete=models.CASCADE, related_name="api_keys"
    )

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"


class AccountContact(models.Model):
    """A contact an account's key created, upserted or notified: what a key without channels may
    see (a shop sees its own customers, not the whole CRM)."""

    account = models.ForeignKey(
        IntegrationAccount, on_delete=models.CASCADE, related_name="contact_links"
    )
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["account", "contact"], name="accountcontact_unique_account_contact"
            )
        ]

    def __str__(self):
        return f"{self.contact_id} of account {self.account_id}"


class EventType(models.TextChoices):
    ORDER_STATUS_CHANGED = "order_status_changed", "Order status changed"
    CART_ABANDONED = "cart_abandoned", "Cart abandoned"
    RESERVED_MESSAGE_SENT = "reserved_message_sent", "Reserved-area message sent"
    RESERVED_MESSAGE_READ = "reserved_message_read", "Reserved-area message read"
    ACTIVITY_STATUS_CHANGED = "activity_status_changed", "Activity status changed"
    ACTIVITY_ACKNOWLEDGED = "activity_acknowledged", "Activity acknowledged"
    ACTIVITY_DUE = "activity_due", "Activity due (reminder)"
    FILE_UPLOADED = "file_uploaded", "File uploaded"
    FILE_DOWNLOADED = "file_downloaded", "File downloaded"
    FILE_PREVIEWED = "file_previewed", "File previewed"


class NotificationRule(models.Model):
    """Which template an account's event of one type sends, on which channel, with which
    parameters taken from the event data."""

    account = models.ForeignKey(
        IntegrationAccount, on_delete=models.CASCADE, related_name="notification_rules"
    )
    event_type = models.CharField(max_length=40, choices=EventType.choices)
    is_enabled = models.BooleanField("enabled", default=True)
    channel = models.ForeignKey(
        "messaging.Channel", on_delete=models.PROTECT, related_name="notification_rules"
    )
    template = models.ForeignKey(
        "messaging.MessageTemplate",
        on_delete=models.PROTECT,
        related_name="notification_rules",
        help_text="An approved template of the channel's account (name and language).",
    )
    parameters = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where each template parameter comes from, as dotted paths into the event data: "
        '{"body": ["customer.name", "order.number"], "header": ["order.number"], '
        '"buttons": [{"index": 0, "sub_type": "url", "path": "order.token"}]}. '
        "Also available: contact.name, contact.phone, event.id, event.type.",
    )
    statuses = models.JSONField(
        default=list,
        blank=True,
        help_text="Order status changes only: the statuses that notify, e.g. "
        '["shipped", "delivered"]. Empty: every status notifies.',
    )
    lead_time_minutes = models.PositiveIntegerField(
        default=0, help_text="Activity due only: how long before the due time the reminder goes."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "event_type"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "event_type"], name="notificationrule_one_per_account_type"
            )
        ]

    def __str__(self):
        return f"{self.get_event_type_display()} → {self.template.name}"

    def clean(self):
        errors = {}
        if (
            self.template_id
            and self.channel_id
            and self.template.account_id != self.channel.account_id
        ):
            errors["template"] = "Pick a template of the channel's WhatsApp account."
        mapping = self.parameters or {}
        if not isinstance(mapping, dict) or set(mapping) - {"body", "header", "buttons"}:
            errors["parameters"] = 'Use an object with "body", "header" and "buttons".'
        else:
            for part in ("body", "header"):
                paths = mapping.get(part, [])
                if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                    errors["parameters"] = f'"{part}" is a list of dotted paths.'
            buttons = mapping.get("buttons", [])
            if not isinstance(buttons, list) or not all(
                isinstance(b, dict) and isinstance(b.get("path"), str) for b in buttons
            ):
                errors["parameters"] = '"buttons" is a list of {"index", "sub_type", "path"}.'
        if not isinstance(self.statuses, list):
            errors["statuses"] = 'A list of statuses, e.g. ["shipped"].'
        if errors:
            raise ValidationError(errors)


class BusinessEvent(models.Model):
    """Every event an external system posted, with what became of it."""

    class State(models.TextChoices):
        RECEIVED = "received", "Received"
        SCHEDULED = "scheduled", "Scheduled"
        SENT = "sent", "Sent"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected (invalid)"

    account = models.ForeignKey(
        IntegrationAccount, on_delete=models.CASCADE, related_name="business_events"
    )
    external_id = models.CharField("event id", max_length=200, blank=True)
    # The external id of an accepted event; NULL for rejected ones, so a corrected resend of the
    # same id is accepted instead of answering with the old rejection.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, editable=False)  # noqa: DJ001
    type = models.CharField(max_length=40, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    recipient_phone = models.CharField(max_length=20, blank=True)
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.RECEIVED, db_index=True
    )
    reason = models.TextField(blank=True)
    errors = models.JSONField(default=dict, blank=True)
    rule = models.ForeignKey(
        NotificationRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    message = models.ForeignKey(
        "messaging.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    send_at = models.DateTimeField(
        null=True, blank=True, help_text="Scheduled reminders: when the message goes."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "dedupe_key"], name="businessevent_unique_id_per_account"
            )
        ]
        indexes = [models.Index(fields=["state", "send_at"])]

    def __str__(self):
        return f"{self.type or 'event'} {self.external_id} ({self.state})"
