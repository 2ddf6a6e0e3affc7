"""Statuses move forward only, whatever order they arrive in."""

import pytest

from messaging.models import Conversation, Message, PendingStatus
from messaging.services import pending_statuses_apply

from .conftest import inbound_body, status_body

pytestmark = pytest.mark.django_db
WAMID = "wamid.HBgMNDQ3NzAwOTAwMTIzFQIAERgSNUExQjJDM0Q0RTVGNjA3MTgyAA=="


@pytest.fixture
def outbound(post_webhook, wa_channel):
    post_webhook(
        inbound_body(
            {
                "id": "wamid.IN",
                "timestamp": "1752489000",
                "type": "text",
                "text": {"body": "hello"},
            },
            wa_id="447700900123",
        )
    )
    conversation = Conversation.objects.get()
    return Message.objects.create(
        channel=wa_channel,
        conversation=conversation,
        direction=Message.Direction.OUTBOUND,
        provider_message_id=WAMID,
        type="text",
        text="Hi!",
        status=Message.Status.SENT,
    )


def status_of(message):
    message.refresh_from_db()
    return message.status


def test_sent_delivered_read_in_order(post_webhook, outbound):
    post_webhook("status_sent.json")
    assert status_of(outbound) == "sent"
    post_webhook(status_body(WAMID, "delivered", timestamp="1752489410"))
    assert status_of(outbound) == "delivered"
    post_webhook("status_read.json")
    assert status_of(outbound) == "read"
    assert outbound.delivered_at is not None and outbound.read_at is not None
    assert Conversation.objects.get().last_message_status == "read"


def test_read_never_goes_back_to_delivered(post_webhook, outbound):
    post_webhook(status_body(WAMID, "read", timestamp="1752489420"))
    post_webhook(status_body(WAMID, "delivered", timestamp="1752489410"))
    post_webhook(status_body(WAMID, "sent", timestamp="1752489400"))
    assert status_of(outbound) == "read"
    # a read implies delivered even when `delivered` never came first
    assert outbound.delivered_at is not None


def test_failed_is_terminal_and_keeps_its_error(post_webhook, outbound):
    failed = status_body(
        WAMID,
        "failed",
        errors=[
            {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "More than 24 hours have passed."},
            }
        ],
    )
    post_webhook(failed)
    assert status_of(outbound) == "failed"
    assert outbound.error_code == 131047
    assert outbound.error_title == "Re-engagement message"
    assert outbound.error_detail == "More than 24 hours have passed."
    post_webhook(status_body(WAMID, "delivered", timestamp="1752489999"))
    assert status_of(outbound) == "failed"


def with_wamid(message, wamid):
    Message.objects.filter(pk=message.pk).update(provider_message_id=wamid, status="queued")
    return message


def test_the_v24_shape_without_conversation_applies(post_webhook, outbound):
    with_wamid(outbound, "wamid.FAKE0000SENTV2400000000000000000000000000001")
    post_webhook("status_sent_v24_no_conversation.json")
    assert status_of(outbound) == "sent"


def test_the_failed_fixture_applies_with_its_error(post_webhook, outbound):
    with_wamid(outbound, "wamid.HBgMNDQ3NzAwOTAwNDU2FQIAERgSMDEwMjAzMDQwNTA2MDcwOEFCAA==")
    post_webhook("status_failed_131047.json")
    assert status_of(outbound) == "failed"
    assert outbound.error_code == 131047


def test_a_status_before_its_message_is_kept_then_applied(post_webhook, wa_channel, outbound):
    post_webhook(status_body("wamid.LATER", "delivered", timestamp="1752489410"))
    post_webhook(status_body("wamid.LATER", "read", timestamp="1752489420"))
    assert PendingStatus.objects.count() == 2
    later = Message.objects.create(
        channel=wa_channel,
        conversation=outbound.conversation,
        direction="out",
        provider_message_id="wamid.LATER",
        type="text",
        text="x",
        status="sent",
    )
    assert pending_statuses_apply(channel=wa_channel, provider_message_id="wamid.LATER") == 2
    assert status_of(later) == "read"
    assert PendingStatus.objects.count() == 0


def test_a_repeated_status_is_kept_once(post_webhook, wa_channel):
    post_webhook(status_body("wamid.NOPE", "delivered"))
    post_webhook(status_body("wamid.NOPE", "delivered", timestamp="1752489401"))
    assert PendingStatus.objects.count() == 1


def test_callback_data_settles_a_send_whose_answer_was_lost(post_webhook, outbound, wa_channel):
    lost = Message.objects.create(
        channel=wa_channel,
        conversation=outbound.conversation,
        direction="out",
        provider_message_id=None,
        type="text",
        text="x",
        status="unknown",
    )
    post_webhook(status_body("wamid.SETTLED", "delivered", biz_opaque_callback_data=str(lost.pk)))
    lost.refresh_from_db()
    assert lost.provider_message_id == "wamid.SETTLED"
    assert lost.status == "delivered"
