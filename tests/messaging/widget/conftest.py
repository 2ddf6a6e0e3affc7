"""A website widget of the "Customer care" service: its WhatsApp line and a Telegram bot."""

import pytest
from django.utils import timezone

from crm.addresses import Address, AddressTransport
from messaging.models import Service, Widget, WidgetEntry
from messaging.providers.base import InboundMessage
from messaging.services import message_receive

SITE = "https://shop.example.com"
PREFILLED = "Hello, I have a question."


@pytest.fixture
def care(db):
    return Service.objects.create(name="Customer care")


@pytest.fixture
def line(wa_channel, care):
    wa_channel.service = care
    wa_channel.save(update_fields=["service"])
    return wa_channel


@pytest.fixture
def widget(care, line, tg_channel):
    widget = Widget.objects.create(
        name="Shop chat",
        service=care,
        allowed_origins=f"{SITE}\nhttps://www.example.org",
        hours_days="",
    )
    WidgetEntry.objects.create(
        widget=widget, channel=line, position=0, label="WhatsApp", prefilled_text=PREFILLED
    )
    WidgetEntry.objects.create(widget=widget, channel=tg_channel, position=1, label="Telegram")
    return widget


def receive(channel, text, *, n=1, sender="393351032246", at=None, telegram=False):
    """An inbound text through the one inbound write path."""
    addresses = (Address(AddressTransport.TELEGRAM, sender),) if telegram else ()
    return message_receive(
        channel=channel,
        inbound=InboundMessage(
            provider_message_id=f"msg.{n}",
            channel_external_id=channel.external_id,
            sender="" if telegram else sender,
            sender_name="Visitor",
            timestamp=at or timezone.now(),
            type="text",
            text=text,
            raw={"text": text},
            addresses=addresses,
        ),
    )
