import uuid

from django.db import models

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
