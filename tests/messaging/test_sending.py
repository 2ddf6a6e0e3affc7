"""The send service: the 24-hour rule, templates, roles, then delivery with its error classes."""

import itertools
import json
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.models import AgentProfile, Role
from messaging.models import Channel, Conversation, Message, MessageTemplate
from messaging.services import (
    MessageRefused,
    message_delivery_retry,
    message_send_template,
    message_send_text,
    messages_retry_due,
)
from messaging.services.outbound import channel_throttle_acquire

from .conftest import SEND_URL, fixture_json, status_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def template(wa_account):
    return MessageTemplate.objects.create(
        account=wa_account,
        name="ticket_update",
        language="it",
        category="UTILITY",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Ciao {{1}}, novità su {{2}}"}],
        body_param_count=2,
    )


def send_text(channel, contact, text="Hello!", **kwargs):
    return message_send_text(channel=channel, contact=contact, text=text, **kwargs)


def sent_body(graph):
    return json.loads(graph.calls[-1].request.body)


def test_it_sends_text_inside_the_window(
    graph, wa_channel, contact, window_open, django_capture_on_commit_callbacks
):
    graph.post(SEND_URL, json=fixture_json("send_ok.json"))
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(wa_channel, contact)
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.provider_message_id == fixture_json("send_ok.json")["messages"][0]["id"]
    body = sent_body(graph)
    assert body["messaging_product"] == "whatsapp"
    assert body["to"] == "393351032246"
    assert body["type"] == "text"
    assert body["text"]["body"] == "Hello!"
    assert body["biz_opaque_callback_data"] == str(message.pk)
    assert graph.calls[-1].request.headers["Authorization"] == "Bearer EAAtok"


def test_free_text_outside_the_window_is_refused_before_anything_is_sent(wa_channel, contact):
    Conversation.objects.create(
        channel=wa_channel, contact=contact, last_inbound_at=timezone.now() - timedelta(hours=25)
    )
    with pytest.raises(MessageRefused) as excinfo:
        send_text(wa_channel, contact)
    assert "24-hour customer-service window is closed" in str(excinfo.value)
    assert "only an approved template can be sent" in str(excinfo.value)
    assert excinfo.value.code == "outside_window"
    assert Message.objects.count() == 0


def test_free_text_to_someone_who_never_wrote_is_refused(wa_channel, contact):
    with pytest.raises(MessageRefused, match="never written"):
        send_text(wa_channel, contact)


def test_an_approved_template_goes_outside_the_window(
    graph, wa_channel, contact, template, django_capture_on_commit_callbacks
):
    graph.post(SEND_URL, json=fixture_json("send_template_ok.json"))
    with django_capture_on_commit_callbacks(execute=True):
        message = message_send_template(
            channel=wa_channel, contact=contact, template=template, body_params=["Giulia", "TT12"]
        )
    message.refresh_from_db()
    assert message.status == "sent"
    assert message.text == "Ciao Giulia, novità su TT12"
    body = sent_body(graph)
    assert body["type"] == "template"
    assert body["template"]["name"] == "ticket_update"
    assert body["template"]["language"]["code"] == "it"
    params = body["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Giulia", "TT12"]
    assert message.conversation.started_by_template == template


def test_a_template_not_approved_locally_fails_before_any_call(wa_channel, contact, template):
    template.status = "PENDING"
    template.save()
    with pytest.raises(MessageRefused, match=r"is not approved \(status PENDING\)") as refused:
        message_send_template(
            channel=wa_channel, contact=contact, template=template, body_params=["a", "b"]
        )
    assert refused.value.code == "template_not_approved"
    assert Message.objects.count() == 0


def test_a_wrong_parameter_count_fails_before_any_call(wa_channel, contact, template):
    with pytest.raises(MessageRefused, match=r"takes 2 body parameter\(s\); 1 given") as refused:
        message_send_template(
            channel=wa_channel, contact=contact, template=template, body_params=["only one"]
        )
    assert refused.value.code == "template_parameters"
    assert Message.objects.count() == 0


def test_quality_control_cannot_send(wa_channel, contact, window_open, django_user_model):
    qc = django_user_model.objects.create(username="qc")
    AgentProfile.objects.create(user=qc, role=Role.QUALITY_CONTROL)
    with pytest.raises(MessageRefused, match="may not write") as refused:
        send_text(wa_channel, contact, actor=qc)
    assert refused.value.code == "not_writable"
    assert Message.objects.count() == 0


def test_an_inactive_account_refuses_to_send(wa_account, wa_channel, contact, window_open):
    wa_account.is_active = False
    wa_account.save()
    with pytest.raises(MessageRefused, match="is inactive") as refused:
        send_text(wa_channel, contact)
    assert refused.value.code == "account_inactive"


def deliver_with(graph, wa_channel, contact, capture, *, status, body, headers=None):
    graph.post(SEND_URL, status=status, json=body, headers=headers or {})
    with capture(execute=True):
        message = send_text(wa_channel, contact)
    message.refresh_from_db()
    return message


@pytest.mark.parametrize(
    "fixture",
    [
        "error_131047.json",
        "error_132000.json",
        "error_132001.json",
        "error_131053.json",
        "error_368_blocked.json",
    ],
)
def test_permanent_errors_fail_at_once(
    graph, wa_channel, contact, window_open, fixture, django_capture_on_commit_callbacks
):
    message = deliver_with(
        graph,
        wa_channel,
        contact,
        django_capture_on_commit_callbacks,
        status=400,
        body=fixture_json(fixture),
    )
    assert message.status == "failed"
    assert message.error_code == fixture_json(fixture)["error"]["code"]
    assert message.error_title
    assert len(graph.calls) == 1
    wa_channel.refresh_from_db()
    assert wa_channel.last_error


@pytest.mark.parametrize(
    "fixture",
    ["error_130429.json", "error_4_app_rate_limit.json", "error_80007_waba_rate_limit.json"],
)
def test_transient_errors_are_queued_for_a_retry(
    graph, wa_channel, contact, window_open, fixture, django_capture_on_commit_callbacks
):
    message = deliver_with(
        graph,
        wa_channel,
        contact,
        django_capture_on_commit_callbacks,
        status=400,
        body=fixture_json(fixture),
    )
    assert message.status == "queued"
    assert message.attempts == 1
    assert message.next_attempt_at > timezone.now()
    assert message.error_title.startswith("Will retry")


def test_the_pair_rate_limit_backs_off_four_to_the_attempts(
    graph, wa_channel, contact, window_open, django_capture_on_commit_callbacks
):
    before = timezone.now()
    message = deliver_with(
        graph,
        wa_channel,
        contact,
        django_capture_on_commit_callbacks,
        status=400,
        body=fixture_json("error_131056.json"),
    )
    assert message.status == "queued"
    delay = (message.next_attempt_at - before).total_seconds()
    assert 4 <= delay < 6


def test_a_due_retry_is_sent_and_the_bound_gives_up(
    graph, wa_channel, contact, window_open, django_capture_on_commit_callbacks
):
    graph.post(SEND_URL, status=500, json={"error": {"message": "boom", "code": 1}})
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(wa_channel, contact)
    for _ in range(10):
        message.refresh_from_db()
        if message.status != "queued":
            break
        with (
            time_machine.travel(message.next_attempt_at + timedelta(seconds=1)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            messages_retry_due()
    message.refresh_from_db()
    assert message.status == "failed"
    assert message.attempts == 5
    assert message.error_title.startswith("Gave up after 5 attempts")
    assert len(graph.calls) == 5


def test_an_expired_token_marks_the_account_unhealthy(
    graph, wa_account, wa_channel, contact, window_open, django_capture_on_commit_callbacks
):
    message = deliver_with(
        graph,
        wa_channel,
        contact,
        django_capture_on_commit_callbacks,
        status=401,
        body=fixture_json("error_190_expired_token.json"),
    )
    assert message.status == "failed"
    wa_account.refresh_from_db()
    wa_channel.refresh_from_db()
    assert wa_account.is_healthy is False
    assert wa_channel.is_healthy is False
    assert "190" in wa_account.last_error


def test_a_timeout_leaves_the_outcome_unknown_instead_of_sending_twice(
    graph, wa_channel, contact, window_open, django_capture_on_commit_callbacks
):
    import requests

    graph.post(SEND_URL, body=requests.ReadTimeout("read timed out"))
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(wa_channel, contact)
    message.refresh_from_db()
    assert message.status == "unknown"
    with time_machine.travel(timezone.now() + timedelta(minutes=20)):
        messages_retry_due()
    message.refresh_from_db()
    assert message.status == "failed"
    assert len(graph.calls) == 1


def test_a_timed_out_send_settled_by_delivered_no_longer_shows_the_timeout(
    graph,
    wa_channel,
    contact,
    window_open,
    post_webhook,
    admin_client,
    django_capture_on_commit_callbacks,
):
    import requests

    graph.post(SEND_URL, body=requests.ReadTimeout("read timed out"))
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(wa_channel, contact)
    message.refresh_from_db()
    assert message.error_title.startswith("No answer from the provider")
    # The request had reached Meta after all: its statuses carry our id as callback data.
    post_webhook(status_body("wamid.LATE", "delivered", biz_opaque_callback_data=str(message.pk)))
    message.refresh_from_db()
    assert (message.status, message.provider_message_id) == ("delivered", "wamid.LATE")
    assert (message.error_code, message.error_title, message.error_detail) == (None, "", "")

    url = f"/inbox/c/{message.conversation_id}/"
    poll = admin_client.get(url + "poll.json?after=0").json()
    assert next(s for s in poll["statuses"] if s["id"] == message.pk) == {
        "id": message.pk,
        "status": "delivered",
        "error": "",
        "code": None,
    }
    html = next(m["html"] for m in poll["messages"] if m["id"] == message.pk)
    # The ticks' tooltip is the status alone, with no stale error after it.
    assert re.search(r'title="Delivered\s*"', html)
    assert "No answer" not in admin_client.get(url).content.decode()


def test_a_failure_after_a_timeout_keeps_its_own_code_and_reason(
    graph, wa_channel, contact, window_open, post_webhook, django_capture_on_commit_callbacks
):
    import requests

    graph.post(SEND_URL, body=requests.ReadTimeout("read timed out"))
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(wa_channel, contact)
    error = {"code": 131026, "title": "Message undeliverable", "error_data": {"details": "x"}}
    post_webhook(
        status_body(
            "wamid.LATE", "failed", biz_opaque_callback_data=str(message.pk), errors=[error]
        )
    )
    message.refresh_from_db()
    assert (message.status, message.error_code, message.error_title, message.error_detail) == (
        "failed",
        131026,
        "Message undeliverable",
        "x",
    )


def throttled_sends(channel, count, now):
    sends = []

    def sleep(seconds):
        now[0] += seconds

    for _ in range(count):
        channel_throttle_acquire(channel=channel, clock=lambda: now[0], sleep=sleep)
        sends.append(now[0])
    return sends


def test_the_throttle_spaces_sends_so_no_second_carries_more_than_the_limit(wa_channel):
    wa_channel.throughput_per_second = 3
    wa_channel.save()
    sends = throttled_sends(wa_channel, 7, [1_000_000.25])
    assert sends[0] == 1_000_000.25  # the first goes at once
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert gaps == pytest.approx([1 / 3] * 6)
    # Any one-second window, wherever it starts, holds at most three sends.
    assert max(sum(1 for t in sends if start <= t < start + 1) for start in sends) == 3


def test_a_throttle_slot_far_ahead_of_the_clock_starts_again_from_now(wa_channel):
    """The clock moved back (a test travelled in time, a restored snapshot): no day-long wait."""
    Channel.objects.filter(pk=wa_channel.pk).update(throttle_next_at=1_000_000 + 86_400)
    sends = throttled_sends(wa_channel, 2, [1_000_000.0])
    assert sends == [1_000_000.0, pytest.approx(1_000_000.0 + 1 / 80)]


def test_staff_reply_from_the_admin_is_queued(admin_client, wa_channel, contact, window_open):
    response = admin_client.post(
        f"/admin/messaging/conversation/{window_open.pk}/reply/", {"text": "We are on it"}
    )
    assert response.status_code == 302
    message = Message.objects.get()
    assert message.text == "We are on it"
    assert message.direction == "out"


def test_staff_reply_outside_the_window_shows_the_rule(admin_client, wa_channel, contact):
    conversation = Conversation.objects.create(channel=wa_channel, contact=contact)
    response = admin_client.post(
        f"/admin/messaging/conversation/{conversation.pk}/reply/", {"text": "Hi"}, follow=True
    )
    assert "24-hour customer-service window is closed" in response.content.decode()
    assert Message.objects.count() == 0


def test_a_failed_message_can_be_queued_again_and_is_sent(
    graph, wa_channel, contact, window_open, django_capture_on_commit_callbacks
):
    graph.post(SEND_URL, status=400, json=fixture_json("error_131053.json"))
    graph.post(SEND_URL, json=fixture_json("send_ok.json"))
    with django_capture_on_commit_callbacks(execute=True):
        message = send_text(wa_channel, contact)
    message.refresh_from_db()
    assert message.status == "failed"
    with django_capture_on_commit_callbacks(execute=True):
        assert message_delivery_retry(message_ids=[message.pk]) == 1
    message.refresh_from_db()
    assert message.status == "sent"
    assert message_delivery_retry(message_ids=[message.pk]) == 0  # only failed ones go again
