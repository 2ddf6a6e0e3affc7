"""Daily rollups behind the managers' reports (tickets/report_selectors.py).

A year of raw messages is too much to aggregate per page view, so a scheduled job
(`report_rollup`) writes each finished day once: small counts per day and channel, and one
duration sample per first response, resolved ticket and queue wait. Pages read these rows plus a
live aggregate of the days not rolled up yet (today, always).
"""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ReportMetric(models.TextChoices):
    OPENED = "opened", _("Conversations opened")
    CLOSED = "closed", _("Conversations closed")
    MESSAGES_IN = "messages_in", _("Messages received")
    MESSAGES_OUT = "messages_out", _("Messages sent")
    TEMPLATE_FAILED = "template_failed", _("Template sends failed")
    QUEUE_ENTERED = "queue_entered", _("Entered the queue")
    QUEUE_WAITING = "queue_waiting", _("Waiting at the end of the day")


class ReportDuration(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    RESOLUTION = "resolution", _("Resolution")
    QUEUE_WAIT = "queue_wait", _("Queue wait")


class ReportRollupDay(models.Model):
    """A day whose rows below are complete; days without one are aggregated live."""

    day = models.DateField(primary_key=True)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = "report rollup day"

    def __str__(self):
        return f"{self.day} rolled up at {self.computed_at:%Y-%m-%d %H:%M}"


class ReportDayCount(models.Model):
    """How many of `metric` happened on `day` on `channel` (key: the error code of a failure)."""

    day = models.DateField()
    metric = models.CharField(max_length=20, choices=ReportMetric.choices)
    # No foreign key: a rollup outlives a deleted channel, and writing it never locks channels.
    channel_id = models.BigIntegerField(null=True)
    key = models.CharField(max_length=40, blank=True)
    value = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day", "metric"], name="reportdaycount_day")]

    def __str__(self):
        return f"{self.day} {self.metric} {self.key} = {self.value}"


class ReportSample(models.Model):
    """One duration that ended on `day`: a first response, a resolved ticket or a queue wait."""

    day = models.DateField()
    kind = models.CharField(max_length=16, choices=ReportDuration.choices)
    channel_id = models.BigIntegerField(null=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        related_name="+",
    )
    seconds = models.BigIntegerField()

    class Meta:
        # Covering (PostgreSQL): a year's percentiles read only this index, never the table.
        indexes = [
            models.Index(
                fields=["kind", "day"],
                include=["agent", "channel_id", "seconds"],
                name="reportsample_kind_day",
            )
        ]

    def __str__(self):
        return f"{self.day} {self.kind} {self.seconds}s"
