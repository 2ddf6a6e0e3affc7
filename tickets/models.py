from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    WAITING_FOR_RESPONSE = "waiting_for_response", "Waiting for response"
    CUSTOMER_RESPONDED = "customer_responded", "Customer responded"
    CLOSED = "closed", "Closed"


class TicketPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    URGENT = "urgent", "Urgent"


class Ticket(models.Model):
    """A helpdesk case of one contact. Conversations link to it while it is open."""

    number = models.CharField(max_length=20, unique=True, help_text="TT<n>")
    title = models.CharField(max_length=200)
    contact = models.ForeignKey("crm.Contact", on_delete=models.PROTECT, related_name="tickets")
    channel = models.ForeignKey(
        "messaging.Channel",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tickets",
    )
    priority = models.CharField(
        max_length=10, choices=TicketPriority.choices, default=TicketPriority.NORMAL
    )
    status = models.CharField(
        max_length=24, choices=TicketStatus.choices, default=TicketStatus.OPEN, db_index=True
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_at", "id"], name="ticket_recent")]
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
        CUSTOMER = "customer", "Customer"
        STAFF = "staff", "Staff"

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="ticket_comments",
        help_text="Empty for the customer.",
    )
    author_kind = models.CharField(max_length=10, choices=AuthorKind.choices)
    text = models.TextField()
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
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
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
