"""What lets one channel send at its full rate: answers settled together, a batch prepared with
a fixed number of queries, sends paced at the rate even after a stall, the proxy environment
read once per host, and the process set back as it was after a drain."""

import gc
import sys
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import ContactAddress
from messaging import http
from messaging.models import Conversation, Message, PendingStatus
from messaging.providers.base import SendResult
from messaging.services import delivery
from messaging.services.delivery_settle import deliveries_settle
from messaging.services.outbound import delivery_load, delivery_outbound, delivery_refusal

from .test_delivery import conversations, queued  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
S = Message.Status


def sending(channel, conversations, count):  # noqa: F811
    messages = queued(channel, conversations, count)
    Message.objects.filter(pk__in=[m.pk for m in messages]).update(status=S.SENDING)
    return delivery_load(message_ids=[m.pk for m in messages])


def settle_all(channel, messages, prefix="wamid.B"):
    deliveries_settle(
        channel=channel,
        sent=[(m, SendResult(provider_message_id=f"{prefix}{m.pk}")) for m in messages],
    )


def test_a_batch_of_sends_is_settled_like_one_at_a_time(wa_channel, conversations):  # noqa: F811
    first, ahead, known, last = sending(wa_channel, conversations[:1] * 4, 4)
    # A status webhook matched by our callback data already said `delivered`; another send
    # already has its id: neither goes back.
    Message.objects.filter(pk=ahead.pk).update(status=S.DELIVERED)
    Message.objects.filter(pk=known.pk).update(provider_message_id="wamid.KNOWN")
    # `read` came before its message was settled: kept, applied now.
    PendingStatus.objects.create(
        channel=wa_channel,
        provider_message_id=f"wamid.B{last.pk}",
        status=S.READ,
        timestamp=timezone.now(),
    )
    answered = timezone.now() - timedelta(seconds=3)
    first.sent_at = answered

    settle_all(wa_channel, [first, ahead, known, last])

    rows = {m.pk: m for m in Message.objects.filter(pk__in=[first.pk, ahead.pk, known.pk, last.pk])}
    assert rows[first.pk].status == S.SENT
    assert rows[first.pk].provider_message_id == f"wamid.B{first.pk}"
    assert rows[first.pk].sent_at == answered  # when the answer came, not when it was written
    assert rows[ahead.pk].status == S.DELIVERED
    assert rows[ahead.pk].provider_message_id == f"wamid.B{ahead.pk}"
    assert rows[known.pk].provider_message_id == "wamid.KNOWN"
    assert rows[known.pk].status == S.SENT
    assert rows[last.pk].status == S.READ
    assert not PendingStatus.objects.exists()
    # The conversation shows its newest message's status.
    conversation = Conversation.objects.get(pk=conversations[0].pk)
    assert conversation.last_message_status == S.READ


def test_settling_costs_the_same_queries_for_3_or_30_sends(wa_channel, conversations):  # noqa: F811
    small = sending(wa_channel, conversations, 3)
    large = sending(wa_channel, conversations, 30)
    with CaptureQueriesContext(connection) as few:
        settle_all(wa_channel, small)
    with CaptureQueriesContext(connection) as many:
        settle_all(wa_channel, large, prefix="wamid.L")
    assert len(many) == len(few)
    assert Message.objects.filter(status=S.SENT).count() == 33


def test_preparing_a_batch_reads_every_address_in_one_query(wa_channel, conversations):  # noqa: F811
    for conversation in conversations:
        ContactAddress.objects.create(
            contact=conversation.contact,
            transport="whatsapp",
            address=conversation.contact.phone,
        )

    def prepare(count):
        ids = [m.pk for m in queued(wa_channel, conversations, count)]
        with CaptureQueriesContext(connection) as queries:
            for message in delivery_load(message_ids=ids):
                assert delivery_refusal(message) == ""
                delivery_outbound(message)
        return len(queries)

    assert prepare(2) == prepare(20)


def test_an_unreachable_address_is_refused_from_the_loaded_addresses(wa_channel, conversations):  # noqa: F811
    contact = conversations[0].contact
    ContactAddress.objects.create(
        contact=contact,
        transport="whatsapp",
        address=contact.phone,
        unreachable_at=timezone.now(),
        unreachable_reason="blocked",
    )
    (message,) = queued(wa_channel, conversations[:1], 1)
    (loaded,) = delivery_load(message_ids=[message.pk])
    with CaptureQueriesContext(connection) as queries:
        assert "blocked" in delivery_refusal(loaded)
    assert not any("crm_contactaddress" in q["sql"] for q in queries.captured_queries)


class FakeClock:
    def __init__(self, now):
        self.now = now

    def time(self):
        return self.now

    def sleep(self, seconds):
        assert seconds > 0
        self.now += seconds


def paced(slots: list[float], *, rate: int = 5, now: float = 1000.0) -> list[float]:
    """When each send at `slots` starts through a pacer of `rate`, on a fake clock at `now`."""
    clock = FakeClock(now)
    pacer = delivery._Pacer(rate, clock=clock.time, sleep=clock.sleep)
    starts = []
    for slot in slots:
        pacer.wait(slot)
        starts.append(clock.now)
    return starts


def test_late_sends_are_held_so_no_second_carries_more_than_the_rate():
    # Ten sends whose slots (0.2 s apart) all passed during a stall of two seconds.
    starts = paced([998.0 + i * 0.2 for i in range(10)])
    busiest = max(sum(1 for t in starts if s <= t < s + 1) for s in starts)
    assert busiest == 5
    assert starts[:5] == [1000.0] * 5  # the stall is made up as far as the rate allows
    assert starts[5] == pytest.approx(1001.0)


def test_sends_on_time_pass_at_their_slots():
    slots = [1000.0 + i * 0.2 for i in range(12)]
    assert paced(slots) == pytest.approx(slots)


def test_a_drain_sets_the_process_back_as_it_found_it():
    interval = sys.getswitchinterval()
    assert gc.isenabled()
    with delivery._sending_process():
        assert not gc.isenabled()
        assert sys.getswitchinterval() == delivery.SWITCH_INTERVAL_SECONDS
    assert gc.isenabled()
    assert sys.getswitchinterval() == interval


def test_the_proxy_environment_is_read_once_per_host(monkeypatch):
    calls = []
    merge = requests.Session.merge_environment_settings

    def counting(self, url, proxies, stream, verify, cert):
        calls.append(url)
        return merge(self, url, proxies, stream, verify, cert)

    monkeypatch.setattr(requests.Session, "merge_environment_settings", counting)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    session = http._Session()
    first = session.merge_environment_settings("https://graph.example/v1/a", {}, None, None, None)
    first["proxies"]["https"] = "changed by a caller"
    again = session.merge_environment_settings("https://graph.example/v1/b", {}, None, None, None)
    other = session.merge_environment_settings("https://api.example/x", {}, None, None, None)
    assert calls == ["https://graph.example/v1/a", "https://api.example/x"]
    assert again["proxies"]["https"] == "http://proxy.example:3128"
    assert other["proxies"]["https"] == "http://proxy.example:3128"
