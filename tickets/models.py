from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class TicketStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("ticket status", "Open")
    WAITING_FOR_RESPONSE = (
        "waiting_for_response",
        pgettext_lazy("ticket status", "Waiting for response"),
    )
    CUSTOMER_RESPONDED = "customer_responded", pgettext_lazy("ticket status", "Customer responded")
    CLOSED = "closed", pgettext_lazy("ticket status", "Closed")


class TicketPriority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class Ticket(models.Model):
    """A helpdesk case of one contact. Conversations link to it while it is open."""

    number = models.CharField(
        max_length=20, unique=True, help_text="TT<n>", verbose_name=_("number")
    )
    title = models.CharField(max_length=200, verbose_name=_("title"))
    contact = models.ForeignKey(
        "crm.Contact", on_delete=models.PROTECT, related_name="tickets", verbose_name=_("contact")
    )
    channel = models.ForeignKey(
        "messaging.Channel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
        verbose_name=_("channel"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
        verbose_name=_("assignee"),
    )
    priority = models.CharField(
        max_length=10,
        choices=TicketPriority.choices,
        default=TicketPriority.NORMAL,
        verbose_name=_("priority"),
    )
    status = models.CharField(
        max_length=24,
        choices=TicketStatus.choices,
        default=TicketStatus.OPEN,
        db_index=True,
        verbose_name=_("status"),
    )
    description = models.TextField(blank=True, verbose_name=_("description"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))

    class Meta:
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="ticket_recent"),
            # Reports read a day's resolved tickets by when they closed.
            models.Index(fields=["closed_at"], name="ticket_closed_at"),
        ]
        constraints = [
            # Concurrent first messages of one contact must end in one ticket.
            models.UniqueConstraint(
                fields=["contact"],
                condition=~Q(status="closed"),
                name="ticket_one_open_per_contact",
            )
        ]

    def __str__(self):
        return f"{self.number} {self.title}"


class TicketComment(models.Model):
    """One entry in a ticket's history: a customer message or a staff reply or internal note."""

    class AuthorKind(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        STAFF = "staff", _("Staff")

    ticket = models.ForeignKey(
        Ticket, on_delete=models.CASCADE, related_name="comments", verbose_name=_("ticket")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ticket_comments",
        help_text="Empty for the customer.",
        verbose_name=_("author"),
    )
    author_kind = models.CharField(
        max_length=10, choices=AuthorKind.choices, verbose_name=_("author kind")
    )
    text = models.TextField(verbose_name=_("text"))
    is_internal = models.BooleanField(
        "internal note", default=False, help_text="Seen by staff only; never sent to the customer."
    )
    message = models.ForeignKey(
        "messaging.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ticket_comments",
    )
    # Not auto_now_add: a comment made from an earlier message keeps that message's time.
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, verbose_name=_("created at")
    )

    class Meta:
        verbose_name = _("ticket comment")
        verbose_name_plural = _("ticket comments")
        ordering = ["created_at", "pk"]
        constraints = [
            # A redelivered or replayed message must not become a second comment.
            models.UniqueConstraint(
                fields=["message"],
                condition=Q(message__isnull=False),
                name="ticketcomment_one_per_message",
            )
        ]

    def __str__(self):
        return f"{self.get_author_kind_display()} comment on {self.ticket.number}"


class InboxPreference(models.Model):
    """How the inbox gets a person's attention: per user, so the choice follows them from one
    browser to the next. Desktop notifications also need the browser's own permission."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_preference"
    )
    sound = models.BooleanField(default=False)
    desktop_notifications = models.BooleanField(default=False)

    def __str__(self):
        return f"Inbox preferences of {self.user}"


# The workspace's own models live in their module; imported here so Django registers them.
from tickets.models_inbox import CannedResponse, ConversationNote, Label  # noqa: E402
from tickets.report_models import (  # noqa: E402  (the report rollups are models of this app)
    ReportDayCount,
    ReportRollupDay,
    ReportSample,
)

__all__ = [
    "CannedResponse",
    "ConversationNote",
    "InboxPreference",
    "Label",
    "ReportDayCount",
    "ReportRollupDay",
    "ReportSample",
    "Ticket",
    "TicketComment",
    "TicketPriority",
    "TicketStatus",
]
