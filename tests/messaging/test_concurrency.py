"""Ten first messages from one new number at the same moment: one contact, one conversation."""

from datetime import UTC, datetime

import pytest

from crm.models import Contact
from messaging.models import Conversation, Message
from messaging.providers.base import InboundMessage
from messaging.services import message_receive
from tests.concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_ten_simultaneous_first_messages_make_one_contact_and_one_conversation(wa_channel):
    def receive(index):
        message_receive(
            channel=wa_channel,
            inbound=InboundMessage(
                provider_message_id=f"wamid.RACE{index}",
                channel_external_id=wa_channel.external_id,
                sender="393351032246",
                sender_name="Racer",
                timestamp=datetime(2026, 1, 1, 12, 0, index, tzinfo=UTC),
                type="text",
                text=f"message {index}",
            ),
        )

    errors = run_at_once(10, receive)
    assert errors == []
    assert Contact.objects.count() == 1
    assert Conversation.objects.count() == 1
    assert Message.objects.count() == 10


def test_the_same_message_delivered_ten_times_at_once_is_stored_once(wa_channel):
    inbound = InboundMessage(
        provider_message_id="wamid.SAME",
        channel_external_id=wa_channel.external_id,
        sender="393351032246",
        sender_name="Racer",
        timestamp=datetime(2026, 1, 1, 12, 0, tzinfo=UTC),
        type="text",
        text="hi",
    )
    errors = run_at_once(10, lambda index: message_receive(channel=wa_channel, inbound=inbound))
    assert errors == []
    assert Message.objects.count() == 1
