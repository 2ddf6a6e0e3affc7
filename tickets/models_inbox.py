"""What the agent workspace adds around a conversation: coloured labels, canned responses and
internal notes. Kept apart from the ticket models so each stays one short read."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

COLOUR = RegexValidator(r"^#[0-9a-fA-F]{6}$", "A colour is # and six hex digits, e.g. #1f7a4d.")
SHORTCODE = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]*$", "Lower-case letters, digits, - and _ only (typed after /)."
)


class Label(models.Model):
    """A coloured tag on conversations; managers define them in the admin, agents apply them."""

    name = models.CharField(max_length=40, unique=True)
    colour = models.CharField(max_length=7, default="#4a6fa5", validators=[COLOUR])
    description = models.CharField(max_length=200, blank=True)
    conversations = models.ManyToManyField(
        "messaging.Conversation", related_name="labels", blank=True
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class CannedResponse(models.Model):
    """A ready answer typed as `/shortcode`. Without an owner it is shared with everyone; with
    one it is that user's own. Variables such as {{contact.first_name}} are filled on use."""

    title = models.CharField(max_length=100)
    shortcode = models.CharField(max_length=40, validators=[SHORTCODE])
    text = models.TextField(blank=True)
    attachment = models.FileField(upload_to="canned/%Y/%m/", blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="canned_responses",
        help_text="Empty: shared with everyone. Set: only this user sees it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["shortcode", "pk"]
        constraints = [
            # One shared /code, and one personal /code per user: typing it finds one answer.
            models.UniqueConstraint(
                fields=["shortcode"], condition=Q(owner__isnull=True), name="canned_shared_code"
            ),
            models.UniqueConstraint(
                fields=["owner", "shortcode"],
                condition=Q(owner__isnull=False),
                name="canned_personal_code",
            ),
        ]

    def __str__(self):
        return f"/{self.shortcode} {self.title}"


class ConversationNote(models.Model):
    """A note staff write in a conversation's thread: shown to staff, never sent.

    A model of its own rather than a ticket's internal comment: not every conversation has a
    ticket (channels may not create them), and a ticket spans several conversations.
    """

    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="note_thread")]

    def __str__(self):
        return f"Note on conversation {self.conversation_id}"
