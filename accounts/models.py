from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A member of staff. Superusers are the administrators; everyone else acts through a role."""

    # On the user rather than the AgentProfile: administrators have no profile and still choose
    # the language of the inbox, the admin and the e-mails they receive. Empty: the browser's.
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("The language of the inbox, the admin and e-mails; empty: the browser's."),
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        db_table = "accounts_user"


class Role(models.TextChoices):
    QUALITY_CONTROL = "quality_control", _("Quality control")
    SALES_REP = "sales_rep", _("Sales rep")
    MANAGER = "manager", _("Manager")


class AgentProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="agent_profile",
        verbose_name=_("user"),
    )
    role = models.CharField(
        max_length=20, choices=Role.choices, default=Role.SALES_REP, verbose_name=_("role")
    )
    max_concurrent_conversations = models.PositiveIntegerField(
        default=5,
        help_text="Open conversations of one channel type this agent can hold before routing "
        "skips them, for channel types without their own maximum.",
        verbose_name=_("max concurrent conversations"),
    )
    is_available = models.BooleanField(
        default=True,
        help_text="Unavailable agents receive no new conversations.",
        verbose_name=_("is available"),
    )
    channels = models.ManyToManyField(
        "messaging.Channel",
        blank=True,
        related_name="agents",
        help_text="Channels without a service that this agent works: new clients there are "
        "offered or routed to them. A service's channels go to the service's agents.",
        verbose_name=_("channels"),
    )
    # Round robin hands the next new client to the available agent who waited longest.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("agent profile")
        verbose_name_plural = _("agent profiles")

    def __str__(self):
        return f"{self.user} ({self.get_role_display()})"


class ConversationReadMark(models.Model):
    """How far a user has read a conversation: inbound messages after `last_read_at` are unread.

    Per user, because a manager glancing at a chat must not clear it for the agent who owns it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="read_marks"
    )
    conversation = models.ForeignKey(
        "messaging.Conversation", on_delete=models.CASCADE, related_name="read_marks"
    )
    last_read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "conversation"], name="readmark_one_per_user_conversation"
            )
        ]

    def __str__(self):
        return f"{self.user} read #{self.conversation_id} up to {self.last_read_at:%Y-%m-%d %H:%M}"
