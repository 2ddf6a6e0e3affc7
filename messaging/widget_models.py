"""The website widget: a launcher and panel a company embeds on its site, whose entries open a
chat with the lines of one service, and the short references that tell us which widget and page
a conversation started from. Imported by messaging.models so Django finds the models."""

import secrets

from django.db import models

KEY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"


def widget_key_new() -> str:
    # Public (it is in the embed snippet): it names the widget, it grants nothing.
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(16))


class WidgetLanguage(models.TextChoices):
    VISITOR = "visitor", "The visitor's (Italian or English)"
    ITALIAN = "it", "Italian"
    ENGLISH = "en", "English"


class WidgetPosition(models.TextChoices):
    BOTTOM_RIGHT = "bottom-right", "Bottom right"
    BOTTOM_LEFT = "bottom-left", "Bottom left"


class Widget(models.Model):
    name = models.CharField(max_length=120)
    key = models.CharField(max_length=32, unique=True, default=widget_key_new, editable=False)
    is_active = models.BooleanField("active", default=True)
    service = models.ForeignKey(
        "messaging.Service",
        on_delete=models.PROTECT,
        related_name="widgets",
        help_text="Conversations started from the widget are routed among this service's agents.",
    )
    allowed_origins = models.TextField(
        help_text="The sites that may show the widget, one origin a line "
        "(https://www.example.com). Any other site gets nothing.",
    )
    greeting = models.CharField(max_length=300, default="Hello! How can we help?")
    language = models.CharField(
        max_length=8, choices=WidgetLanguage.choices, default=WidgetLanguage.VISITOR
    )
    color = models.CharField(
        "button colour", max_length=7, default="#1f7a5c", help_text="Hex, e.g. #1f7a5c."
    )
    text_color = models.CharField("text colour on the button", max_length=7, default="#ffffff")
    position = models.CharField(
        max_length=12, choices=WidgetPosition.choices, default=WidgetPosition.BOTTOM_RIGHT
    )
    # Business hours, in the server's time zone: outside them the widget says when the team
    # answers (it still offers every entry: a message waits for the morning).
    hours_days = models.CharField(
        "days open",
        max_length=7,
        blank=True,
        default="12345",
        help_text="ISO weekdays the team answers: 1 = Monday ... 7 = Sunday. Empty: every day.",
    )
    opens_at = models.TimeField(null=True, blank=True, help_text="Empty: all day.")
    closes_at = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class WidgetEntry(models.Model):
    """One way to start a chat from the widget: a WhatsApp line of the service, or a Telegram
    bot, in the order the visitor sees them."""

    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="entries")
    channel = models.ForeignKey("messaging.Channel", on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField(default=0)
    label = models.CharField(
        max_length=80, blank=True, help_text="What the visitor reads. Empty: the channel type."
    )
    prefilled_text = models.CharField(
        "pre-filled first message",
        max_length=300,
        blank=True,
        default="Hello, I have a question.",
        help_text="Typed for the visitor in WhatsApp; a short reference is added to it.",
    )

    class Meta:
        ordering = ["position", "pk"]
        verbose_name_plural = "widget entries"

    def __str__(self):
        return self.label or str(self.channel)


class WidgetReference(models.Model):
    """A short code handed to one visitor who opened the widget on one page (or printed on a
    poster): the first message that carries it tells us where the conversation started."""

    code = models.CharField(max_length=12, unique=True)
    widget = models.ForeignKey(Widget, on_delete=models.CASCADE, related_name="references")
    page_url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Poster references never expire; a visitor's ends WIDGET_REFERENCE_MAX_AGE after issue.
    is_poster = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.code
