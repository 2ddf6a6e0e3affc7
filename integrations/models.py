import uuid

from django.core.exceptions import ValidationError
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from config.crypto import EncryptedJSONField


def platform_choices():
    # Imported here: integrations.platforms imports the provider and connector registries.
    from integrations.platforms import platform_choices

    return platform_choices()


class Platform(models.TextChoices):
    """The connector platforms and the shop, named in code that treats them specially.

    Messaging providers are not listed: they live in `messaging.providers.PROVIDERS`, and the
    field's choices are the union of both registries (`integrations.platforms.platform_choices`).
    """

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
    platform = models.CharField(max_length=30, choices=platform_choices)
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


class SyncJob(models.Model):
    """A named scheduled job, shown in the admin the way the vtenext WhatsApp plugin shows its jobs.

    `lease_until` is the lock: a run claims the row with one conditional UPDATE (not running, or
    its lease ran out because the worker died), so two runs of one job never overlap.
    """

    class State(models.TextChoices):
        IDLE = "idle", "Idle"
        RUNNING = "running", "Running"
        FAILED = "failed", "Failed"
        STOPPED = "stopped", "Stopped"

    class ScheduleKind(models.TextChoices):
        DAILY = "daily", "Daily at a time"
        INTERVAL = "interval", "Every N seconds"

    name = models.CharField(max_length=60, unique=True)
    is_active = models.BooleanField("active", default=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.IDLE)
    attempts = models.PositiveIntegerField(default=0, help_text="Failed runs in a row.")
    max_attempts = models.PositiveIntegerField(default=5)
    schedule_kind = models.CharField(
        max_length=10, choices=ScheduleKind.choices, default=ScheduleKind.INTERVAL
    )
    daily_at = models.TimeField(null=True, blank=True, help_text="Local time (TIME_ZONE).")
    every_seconds = models.PositiveIntegerField(null=True, blank=True)
    window_days = models.PositiveIntegerField(
        default=1, help_text="Days of modifications to look back on each run."
    )
    next_run_at = models.DateTimeField(null=True, blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(schedule_kind="daily", daily_at__isnull=False)
                    | models.Q(schedule_kind="interval", every_seconds__gte=1)
                ),
                name="syncjob_schedule_complete",
            ),
            models.CheckConstraint(
                condition=models.Q(max_attempts__gte=1), name="syncjob_max_attempts_positive"
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def schedule_label(self) -> str:
        if self.schedule_kind == self.ScheduleKind.DAILY and self.daily_at is not None:
            return f"at {self.daily_at:%H:%M}"
        return f"every {self.every_seconds} s"


class JobRun(models.Model):
    """One run of a job: every run leaves a row, whatever its outcome."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    job = models.ForeignKey(SyncJob, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    counts = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True, help_text="What happened per account, one line each.")
    error = models.TextField(blank=True)
    manual = models.BooleanField(default=False, help_text="Started from the admin.")

    class Meta:
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["job", "-started_at"])]

    def __str__(self):
        return f"{self.job.name} {self.started_at:%Y-%m-%d %H:%M:%S} {self.outcome}"


class LinkedObject(models.TextChoices):
    CONTACT = "contact", "Contact"
    COMPANY = "company", "Company"
    # Pushed to a platform that mirrors our CRM (Wazzup): agents, deals and funnels too.
    USER = "user", "User"
    DEAL = "deal", "Deal"
    PIPELINE = "pipeline", "Pipeline"


class ExternalLink(models.Model):
    """Which record of an account is which of ours, and what each side looked like at the last
    sync: `remote_modified_at` is the platform's modification time we last saw, `synced_at` our
    record's `updated_at` right after that sync. A change after either is a change on that side."""

    account = models.ForeignKey(
        IntegrationAccount, on_delete=models.CASCADE, related_name="external_links"
    )
    object_type = models.CharField(max_length=10, choices=LinkedObject.choices)
    local_id = models.PositiveBigIntegerField()
    external_id = models.CharField(max_length=100)
    external_kind = models.CharField(
        max_length=10, blank=True, help_text="contact, lead or company, as the platform has it."
    )
    remote_modified_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    # Why the platform refused the last push of this record (its field errors); "" when it took
    # it. A refused record is pushed again by the next run.
    push_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["account", "object_type", "local_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "object_type", "local_id"], name="externallink_unique_local"
            ),
            models.UniqueConstraint(
                fields=["account", "object_type", "external_id"],
                name="externallink_unique_external",
            ),
        ]

    def __str__(self):
        return f"{self.object_type} #{self.local_id} = {self.external_id} on {self.account_id}"


class SyncConflict(models.Model):
    """Both sides changed one record since the last sync; the newest modification won."""

    class Winner(models.TextChoices):
        LOCAL = "local", "Switchboard"
        REMOTE = "remote", "The platform"

    account = models.ForeignKey(
        IntegrationAccount, on_delete=models.CASCADE, related_name="sync_conflicts"
    )
    run = models.ForeignKey(
        JobRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="conflicts"
    )
    object_type = models.CharField(max_length=10, choices=LinkedObject.choices)
    local_id = models.PositiveBigIntegerField()
    external_id = models.CharField(max_length=100)
    local_modified_at = models.DateTimeField()
    remote_modified_at = models.DateTimeField()
    winner = models.CharField(max_length=10, choices=Winner.choices)
    local_values = models.JSONField(default=dict, blank=True)
    remote_values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.object_type} #{self.local_id} vs {self.external_id}: {self.winner} won"


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
        null=True,
        blank=True,
        related_name="notification_rules",
        help_text="An approved template of the channel's account (name and language). Channels "
        "without templates (a Telegram bot) send the text below instead.",
    )
    text = models.TextField(
        blank=True,
        help_text="For channels without templates: the message, with {{1}}, {{2}}... filled "
        'from the "body" parameters, e.g. "Hi {{1}}, order {{2}} has shipped."',
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
        what = self.template.name if self.template_id else (self.text[:40] or "text")
        return f"{self.get_event_type_display()} → {what}"

    def clean(self):
        errors = {}
        if (
            self.template_id
            and self.channel_id
            and self.template.account_id != self.channel.account_id
        ):
            errors["template"] = "Pick a template of the channel's WhatsApp account."
        if self.channel_id:
            if self.channel.capabilities.template_kind:
                if not self.template_id:
                    errors["template"] = "This channel sends approved templates: pick one."
            elif not self.text.strip():
                errors["text"] = "This channel has no templates: write the message to send."
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


class RequestWindow(models.Model):
    """A request budget shared by every process when there is no Redis: `count` requests were
    made in the fixed window that started at `window` (seconds since the epoch)."""

    name = models.CharField(max_length=100, unique=True)
    window = models.BigIntegerField(default=0)
    count = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.name}: {self.count} in window {self.window}"


from integrations.campaign_models import Campaign, CampaignRecipient  # noqa: E402, F401
