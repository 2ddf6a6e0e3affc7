"""Campaigns: one approved marketing template sent to a segment of contacts, once each.

A `CampaignRecipient` row per (campaign, contact) is the exactly-once ledger: the unique
constraint means a contact is in a campaign's audience once, a worker claims a row before it
sends, and the row links the one `Message` it produced. Delivery statuses are the message's own
(queued, sent, delivered, read, failed with its code), settled by the send result or the status
webhook like every other message; the recipient row only adds what belongs to the campaign
(claimed, skipped with a reason).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        RUNNING = "running", _("Running")
        PAUSED = "paused", _("Paused")
        CANCELLED = "cancelled", _("Cancelled")
        FINISHED = "finished", _("Finished")

    name = models.CharField(_("name"), max_length=200)
    template = models.ForeignKey(
        "messaging.MessageTemplate",
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("template"),
        help_text=_("An approved marketing template."),
    )
    # One entry per body parameter, in order: a constant ("Spring sale") or a dotted path into
    # the contact ("contact.first_name"), read for each recipient when their message is made.
    parameters = models.JSONField(_("parameters"), default=list, blank=True)
    channel = models.ForeignKey(
        "messaging.Channel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("channel"),
    )
    service = models.ForeignKey(
        "messaging.Service",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        verbose_name=_("service"),
        help_text=_("Instead of a channel: the service's channel on the template's account."),
    )
    # The audience filters (see integrations/campaign_selectors.py, SEGMENT_KEYS).
    segment = models.JSONField(_("segment"), default=dict, blank=True)
    scheduled_at = models.DateTimeField(
        _("send at"), null=True, blank=True, help_text=_("Empty: as soon as it is started.")
    )
    throttle_per_second = models.PositiveIntegerField(
        _("messages per second"),
        null=True,
        blank=True,
        help_text=_("Empty: the channel's own rate per number."),
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    audience_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        indexes = [models.Index(fields=["status", "scheduled_at"])]

    def __str__(self):
        return self.name


class CampaignRecipient(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        # A worker holds it until `claimed_until`; after that another worker may take it over.
        CLAIMED = "claimed", _("Claimed")
        # Its message exists; the worker that made it delivers it (or the reconcile, after the
        # lease).
        QUEUED = "queued", _("Message queued")
        # The send was handed to the provider and answered (or re-driven by the usual retries):
        # the message's status says what happened.
        SETTLED = "settled", _("Handed over")
        SKIPPED = "skipped", _("Skipped")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey(
        "crm.Contact", on_delete=models.CASCADE, related_name="campaign_recipients"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    claim_token = models.CharField(max_length=32, blank=True, default="")
    claimed_until = models.DateTimeField(null=True, blank=True)
    message = models.OneToOneField(
        "messaging.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaign_recipient",
    )
    skip_code = models.CharField(max_length=40, blank=True, default="")
    skip_reason = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "contact"], name="campaignrecipient_once_per_campaign"
            )
        ]
        indexes = [models.Index(fields=["campaign", "state", "id"])]

    def __str__(self):
        return f"{self.campaign_id}/{self.contact_id} ({self.state})"
