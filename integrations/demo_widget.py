"""The demo's website widget: "Website chat", assigned to Customer care, offering the sandbox
support line, the sandbox Twilio line and the sandbox Telegram bot, allowed on Switchboard's own
origin so /widget/demo/ shows it. A widget found by its name is left as it is."""

from datetime import time

from django.conf import settings

from messaging.models import Channel, Service, Widget, WidgetEntry
from messaging.services.widgets import origin_of

NAME = "Website chat"
SERVICE = "Customer care"
ENTRIES = [
    ("Sandbox support line", "WhatsApp", "Hello, I have a question about my order."),
    ("Sandbox Twilio line", "WhatsApp (second line)", "Hello, I have a question."),
    ("Sandbox helpdesk bot", "Telegram", ""),
]
# `make run` on its default address, and whatever PUBLIC_BASE_URL says it is reached at.
DEFAULT_ORIGINS = ("http://127.0.0.1:8000", "http://localhost:8000")


def demo_widget_load(*, channels: list[Channel]) -> Widget | None:
    service = Service.objects.filter(name=SERVICE).first()
    if service is None or Widget.objects.filter(name=NAME).exists():
        return Widget.objects.filter(name=NAME).first()
    origins = dict.fromkeys([origin_of(settings.PUBLIC_BASE_URL), *DEFAULT_ORIGINS])
    widget = Widget.objects.create(
        name=NAME,
        service=service,
        allowed_origins="\n".join(o for o in origins if o),
        greeting="Hello! Write to us on WhatsApp or Telegram.",
        hours_days="12345",
        opens_at=time(9, 0),
        closes_at=time(18, 0),
    )
    by_name = {channel.name: channel for channel in channels}
    for position, (channel_name, label, text) in enumerate(ENTRIES):
        channel = by_name.get(channel_name)
        if channel is not None:
            WidgetEntry.objects.create(
                widget=widget, channel=channel, position=position, label=label, prefilled_text=text
            )
    return widget
