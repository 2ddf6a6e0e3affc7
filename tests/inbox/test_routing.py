"""Routing: round robin in turn and within capacity, the queue and what drains it, the first
responder's claim, returning clients, and the deal a new client gets."""

import io
import json
from collections import Counter
from unittest.mock import patch

import pytest
from django.core.management import call_command
from django.utils import timezone

import accounts.services
import crm.services
import messaging.services
import tickets.services
from accounts.models import Role
from accounts.services import agent_profile_update
from crm.models import Contact, Deal
from integrations.models import SyncJob
from integrations.services import sync_job_run
from messaging.models import Channel, Conversation
from messaging.selectors import conversation_inbox_list, conversation_list_visible_to
from tests.inbox.conftest import inbound, make_user
from tests.messaging.conftest import APP_SECRET, PHONE_NUMBER_ID, inbound_body, sign
from tickets.models import Ticket
from tickets.routing import (
    ConversationTaken,
    conversation_close,
    conversation_reply,
    conversation_transfer,
    conversations_close_due,
    route_on_inbound,
    routing_queue_drain,
)

pytestmark = pytest.mark.django_db


def new_client(channel, n, *, responsible=None):
    contact = Contact.objects.create(phone=f"+39333100{n:04d}", responsible=responsible)
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    message = inbound(conversation, f"hello {n}")
    route_on_inbound(message=message, conversation_created=True)
    conversation.refresh_from_db()
    return conversation


@pytest.fixture
def reps(rr_channel):
    return [
        make_user(f"rr{i}", Role.SALES_REP, channels=[rr_channel], capacity=50) for i in range(3)
    ]


def test_round_robin_hands_new_clients_out_in_turn(rr_channel, reps):
    assignees = [new_client(rr_channel, n).assignee for n in range(9)]
    assert assignees == reps * 3


def test_round_robin_stays_fair_over_many_clients(rr_channel, reps):
    counts = Counter(new_client(rr_channel, n).assignee.username for n in range(30))
    assert counts == {"rr0": 10, "rr1": 10, "rr2": 10}


def test_round_robin_skips_unavailable_agents_and_agents_at_capacity(rr_channel, reps):
    reps[0].agent_profile.is_available = False
    reps[0].agent_profile.save()
    reps[1].agent_profile.max_concurrent_conversations = 1
    reps[1].agent_profile.save()
    assignees = [new_client(rr_channel, n).assignee for n in range(4)]
    assert assignees == [reps[1], reps[2], reps[2], reps[2]]


def test_round_robin_only_counts_open_conversations_towards_capacity(rr_channel, reps):
    for rep in reps[1:]:
        rep.agent_profile.channels.clear()
    reps[0].agent_profile.max_concurrent_conversations = 1
    reps[0].agent_profile.save()
    first = new_client(rr_channel, 1)
    Conversation.objects.filter(pk=first.pk).update(status="closed")
    assert new_client(rr_channel, 2).assignee == reps[0]


def test_everyone_full_queues_the_conversation_with_its_position(rr_channel, reps, people):
    for rep in reps:
        agent_profile_update(profile=rep.agent_profile, max_concurrent_conversations=1)
    served = [new_client(rr_channel, n) for n in range(3)]
    waiting = [new_client(rr_channel, n) for n in range(3, 5)]
    assert all(c.assignee for c in served)
    assert all(c.assignee is None and c.queued_at for c in waiting)
    rows = {c.pk: c for c in conversation_inbox_list(user=people["manager"])}
    assert [rows[c.pk].queue_position for c in waiting] == [1, 2]
    assert rows[served[0].pk].queue_position is None
    # Waiting round-robin clients are nobody's yet: sales reps do not see them.
    assert not conversation_list_visible_to(user=reps[0]).filter(pk=waiting[0].pk).exists()


@pytest.fixture
def full_house(rr_channel, reps):
    for rep in reps:
        rep.agent_profile.max_concurrent_conversations = 1
        rep.agent_profile.save()
    served = [new_client(rr_channel, n) for n in range(3)]
    waiting = [new_client(rr_channel, n) for n in range(3, 5)]
    return served, waiting


def test_closing_a_conversation_drains_the_queue_in_order(full_house, reps):
    served, waiting = full_house
    conversation_close(conversation=served[1], actor=reps[1])
    first, second = (Conversation.objects.get(pk=c.pk) for c in waiting)
    assert first.assignee == reps[1] and first.queued_at is None
    assert second.assignee is None and second.queued_at is not None
    assert first.contact.responsible == reps[1]


def test_a_transfer_drains_the_queue(full_house, reps, people):
    served, waiting = full_house
    conversation_transfer(
        conversation=served[0], to_user=people["manager"], actor=people["manager"]
    )
    assert Conversation.objects.get(pk=waiting[0].pk).assignee == reps[0]


def test_becoming_available_drains_the_queue(rr_channel, reps, django_capture_on_commit_callbacks):
    for rep in reps:
        agent_profile_update(profile=rep.agent_profile, is_available=False)
    waiting = new_client(rr_channel, 1)
    assert waiting.queued_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        agent_profile_update(profile=reps[2].agent_profile, is_available=True)
    assert Conversation.objects.get(pk=waiting.pk).assignee == reps[2]


def test_more_capacity_drains_the_queue(full_house, reps, django_capture_on_commit_callbacks):
    _served, waiting = full_house
    with django_capture_on_commit_callbacks(execute=True):
        agent_profile_update(profile=reps[0].agent_profile, max_concurrent_conversations=3)
    assert {Conversation.objects.get(pk=c.pk).assignee for c in waiting} == {reps[0]}


def test_the_expiry_job_closes_then_drains(full_house, reps, settings):
    served, waiting = full_house
    Conversation.objects.filter(pk=served[2].pk).update(
        opened_at=timezone.now()
        - timezone.timedelta(hours=settings.CONVERSATION_LIFETIME_HOURS + 1)
    )
    assert conversations_close_due() == {"closed": 1, "assigned": 1}
    assert Conversation.objects.get(pk=waiting[0].pk).assignee == reps[2]


def test_the_scheduled_close_conversations_job_drains_the_queue(full_house, reps, settings):
    served, waiting = full_house
    Conversation.objects.filter(pk=served[2].pk).update(
        opened_at=timezone.now()
        - timezone.timedelta(hours=settings.CONVERSATION_LIFETIME_HOURS + 1)
    )
    call_command("setup_schedules", stdout=io.StringIO())
    run = sync_job_run(job_id=SyncJob.objects.get(name="close_conversations").pk, manual=True)
    assert run.counts == {"conversations_closed": 1, "queued_conversations_assigned": 1}
    assert Conversation.objects.get(pk=waiting[0].pk).assignee == reps[2]


def test_draining_an_empty_queue_assigns_nothing(rr_channel, reps):
    assert routing_queue_drain() == 0
    assert routing_queue_drain(channel=rr_channel) == 0


def test_a_returning_client_goes_to_their_responsible_even_when_full(rr_channel, reps, channel):
    owner = reps[2]
    owner.agent_profile.max_concurrent_conversations = 0
    owner.agent_profile.save()
    for routed_on in (rr_channel, channel):
        conversation = new_client(routed_on, 50 + routed_on.pk, responsible=owner)
        assert conversation.assignee == owner
        assert conversation.queued_at is None


def test_a_round_robin_client_becomes_the_agents_client_with_a_deal_and_the_ticket(
    rr_channel, reps, pipeline
):
    contact = Contact.objects.create(phone="+393331112222", name="Nina")
    ticket = Ticket.objects.create(number="TT1", title="t", contact=contact)
    conversation = Conversation.objects.create(channel=rr_channel, contact=contact, ticket=ticket)
    route_on_inbound(message=inbound(conversation), conversation_created=True)
    contact.refresh_from_db()
    ticket.refresh_from_db()
    assert contact.responsible == reps[0]
    assert ticket.assignee == reps[0]
    deal = Deal.objects.get(contacts=contact)
    assert (deal.pipeline, deal.stage.name, deal.responsible) == (pipeline, "New", reps[0])


# --- first responder --------------------------------------------------------------------------


def test_a_first_responder_client_is_offered_to_every_available_agent(channel, people):
    away = make_user("away", Role.SALES_REP, channels=[channel])
    away.agent_profile.is_available = False
    away.agent_profile.save()
    conversation = new_client(channel, 1)
    assert conversation.assignee is None and conversation.queued_at is None
    for name, sees in (("rep", True), ("other", True), ("manager", True)):
        visible = conversation_list_visible_to(user=people[name])
        assert visible.filter(pk=conversation.pk).exists() is sees
    assert not conversation_list_visible_to(user=away).filter(pk=conversation.pk).exists()


def test_the_first_reply_claims_the_client_and_hides_it_from_the_others(channel, people):
    contact = Contact.objects.create(phone="+393331113333")
    ticket = Ticket.objects.create(number="TT2", title="t", contact=contact)
    conversation = Conversation.objects.create(channel=channel, contact=contact, ticket=ticket)
    route_on_inbound(message=inbound(conversation), conversation_created=True)

    conversation_reply(conversation=conversation, user=people["rep"], text="I am on it")

    conversation.refresh_from_db()
    contact.refresh_from_db()
    assert (contact.responsible, conversation.assignee) == (people["rep"], people["rep"])
    assert Ticket.objects.get(pk=ticket.pk).assignee == people["rep"]
    assert Deal.objects.get(contacts=contact).responsible == people["rep"]
    assert not conversation_list_visible_to(user=people["other"]).filter(pk=conversation.pk)
    with pytest.raises(ConversationTaken, match="Already taken by Rep"):
        conversation_reply(conversation=conversation, user=people["other"], text="Me too")
    assert conversation.messages.filter(direction="out").count() == 1


def test_a_manager_reply_does_not_claim_the_client(channel, people):
    conversation = new_client(channel, 7)
    conversation_reply(conversation=conversation, user=people["manager"], text="Hello")
    conversation.refresh_from_db()
    assert conversation.contact.responsible is None
    assert conversation_list_visible_to(user=people["rep"]).filter(pk=conversation.pk).exists()


# --- through the real webhook -----------------------------------------------------------------


def test_an_inbound_webhook_is_routed_by_the_pipeline(
    client, account, reps, django_capture_on_commit_callbacks
):
    account.secrets = {**account.secrets, "app_secret": APP_SECRET}
    account.settings = {**account.settings, "waba_id": "104896532187654"}
    account.save()
    channel = Channel.objects.create(
        name="Fixture line",
        account=account,
        provider="whatsapp_cloud",
        external_id=PHONE_NUMBER_ID,
        routing_mode="round_robin",
    )
    for rep in reps:
        rep.agent_profile.channels.set([channel])
    body = json.dumps(
        inbound_body(
            {"id": "wamid.R1", "timestamp": "1752489000", "type": "text", "text": {"body": "Ciao"}}
        )
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/webhooks/whatsapp/{account.key}/",
            data=body,
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=sign(body),
        )
    assert response.status_code == 200
    conversation = Conversation.objects.get(channel=channel)
    assert conversation.assignee == reps[0]


def test_routing_writes_conversations_agents_and_contacts_through_their_apps_services(
    rr_channel, reps, people
):
    spies = {
        name: patch(f"tickets.routing.{name}", wraps=getattr(module, name))
        for name, module in (
            ("channel_lock", messaging.services),
            ("conversation_assign", messaging.services),
            ("conversation_mark_closed", messaging.services),
            ("agent_assigned_mark", accounts.services),
            ("contact_claim", crm.services),
            ("contact_assign_responsible", crm.services),
        )
    }
    follow = patch(
        "tickets.services.ticket_assignee_follow", wraps=tickets.services.ticket_assignee_follow
    )
    mocks = {name: spy.start() for name, spy in spies.items()}
    mocks["ticket_assignee_follow"] = follow.start()
    try:
        conversation = new_client(rr_channel, 1)
        ticket = Ticket.objects.create(number="TT1", title="t", contact=conversation.contact)
        Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
        conversation.refresh_from_db()
        conversation_transfer(conversation=conversation, to_user=reps[2], actor=people["manager"])
        conversation_close(conversation=conversation, actor=people["manager"])
    finally:
        patch.stopall()

    assert mocks["channel_lock"].call_count == 1
    assert [c.kwargs["user"] for c in mocks["conversation_assign"].call_args_list] == [
        reps[0],
        reps[2],
    ]
    assert mocks["agent_assigned_mark"].call_count == 2
    mocks["contact_claim"].assert_called_once()
    mocks["ticket_assignee_follow"].assert_called_once_with(ticket_id=ticket.pk, user=reps[2])
    mocks["contact_assign_responsible"].assert_called_once_with(
        contact=conversation.contact, responsible=reps[2], actor=people["manager"]
    )
    mocks["conversation_mark_closed"].assert_called_once()
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("closed", reps[2])
    assert Contact.objects.get(pk=conversation.contact_id).responsible == reps[2]
    ticket.refresh_from_db()
    assert ticket.assignee == reps[2]
