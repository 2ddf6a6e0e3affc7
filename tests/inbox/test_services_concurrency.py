"""Capacity per channel type under real concurrency on PostgreSQL: new clients routed at once on
channels of two services never push an agent past their maximum for the type, and one agent's
simultaneous first-responder claims stop at it."""

from collections import Counter

import pytest
from django.db import transaction

from accounts.models import AgentProfile, Role
from crm.models import Contact
from messaging.models import Channel, Conversation, Message
from messaging.services.service_setup import agent_capacity_set, service_create
from tests.concurrency import run_at_once
from tests.inbox.conftest import inbound, make_user
from tickets.routing import (
    AgentAtCapacity,
    conversation_reply,
    route_on_inbound,
    routing_queue_drain,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def line(account, n, *, transport="waba", mode="round_robin"):
    return Channel.objects.create(
        name=f"Line {n}",
        account=account,
        provider="whatsapp_cloud",
        external_id=f"880{n}",
        transport=transport,
        routing_mode=mode,
    )


def waiting_client(channel, n):
    contact = Contact.objects.create(phone=f"+39333500{n:04d}")
    return inbound(Conversation.objects.create(channel=channel, contact=contact))


def test_simultaneous_clients_on_two_services_respect_the_maximum_per_type(account):
    care, sales = line(account, 1), line(account, 2)
    telegram = line(account, 3, transport="telegram")
    agents = [make_user(f"cc{i}", Role.SALES_REP, capacity=9) for i in range(2)]
    profiles = [a.agent_profile for a in agents]
    service_create(name="Care", channels=[care], agents=profiles)
    service_create(name="Sales", channels=[sales, telegram], agents=profiles)
    for profile in profiles:
        agent_capacity_set(profile=profile, transport="waba", max_interactions=2)
    # Twelve WhatsApp clients on the two services' lines and four on Telegram, all at once.
    messages = [waiting_client(care if n % 2 else sales, n) for n in range(12)]
    messages += [waiting_client(telegram, 100 + n) for n in range(4)]

    def route(index):
        with transaction.atomic():
            route_on_inbound(message=messages[index], conversation_created=True)

    assert run_at_once(len(messages), route) == []

    assigned = Conversation.objects.filter(assignee__isnull=False)
    per_type = Counter(assigned.values_list("assignee__username", "channel__transport"))
    assert per_type[("cc0", "waba")] == per_type[("cc1", "waba")] == 2
    # Telegram has no maximum of its own (the overall capacity of 9 applies): every Telegram
    # client is assigned. How they split depends on the WhatsApp picks in between, since the
    # round-robin turn ("assigned longest ago") is one per agent across channels.
    assert per_type[("cc0", "telegram")] + per_type[("cc1", "telegram")] == 4
    assert Conversation.objects.filter(assignee__isnull=True, queued_at__isnull=False).count() == 8


def test_one_agents_simultaneous_claims_stop_at_their_maximum(account, settings):
    settings.GRAPH_API_BASE_URL = "http://127.0.0.1:9"  # delivery runs on commit: go nowhere
    lines = [line(account, 10 + n, mode="first_responder") for n in range(2)]
    agent = make_user("claimer", Role.SALES_REP, capacity=9)
    service_create(name="Care", channels=lines[:1], agents=[agent.agent_profile])
    service_create(name="Sales", channels=lines[1:], agents=[agent.agent_profile])
    agent_capacity_set(profile=agent.agent_profile, transport="waba", max_interactions=2)
    conversations = [waiting_client(lines[n % 2], 200 + n).conversation for n in range(6)]
    refused = []

    def claim(index):
        try:
            conversation_reply(conversation=conversations[index], user=agent, text="Hello")
        except AgentAtCapacity:
            refused.append(index)

    assert run_at_once(len(conversations), claim) == []

    assert len(refused) == 4
    assert Conversation.objects.filter(assignee=agent).count() == 2
    assert Contact.objects.filter(responsible=agent).count() == 2
    assert Message.objects.filter(direction="out").count() == 2


def test_simultaneous_drains_across_services_assign_each_waiting_client_once(account):
    lines = [line(account, 20 + n) for n in range(2)]
    agents = [make_user(f"dd{i}", Role.SALES_REP, capacity=9) for i in range(2)]
    profiles = [a.agent_profile for a in agents]
    for profile in profiles:
        agent_capacity_set(profile=profile, transport="waba", max_interactions=3)
    service_create(name="Care", channels=lines[:1], agents=profiles)
    service_create(name="Sales", channels=lines[1:], agents=profiles)
    # Everyone away while eight clients write: all of them wait. Then back, without the
    # hooks that would drain at once: the threads below drain together.
    AgentProfile.objects.update(is_available=False)
    for n in range(8):
        route_on_inbound(message=waiting_client(lines[n % 2], 300 + n), conversation_created=True)
    assert Conversation.objects.filter(queued_at__isnull=False).count() == 8
    AgentProfile.objects.update(is_available=True)

    # Two threads per service line: the same agents are counted from both at once.
    assert run_at_once(4, lambda index: routing_queue_drain(channel=lines[index % 2])) == []

    assigned = Conversation.objects.filter(assignee__isnull=False)
    assert Counter(assigned.values_list("assignee__username", flat=True)) == {"dd0": 3, "dd1": 3}
    assert not assigned.filter(queued_at__isnull=False).exists()
    assert Conversation.objects.filter(assignee__isnull=True, queued_at__isnull=False).count() == 2
