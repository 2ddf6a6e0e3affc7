"""Services and capacity per channel type: routing picks among a service's agents, counts an
agent's open conversations per channel type across every service, queues when all are full and
drains when capacity frees; a channel without a service keeps the agents that list it."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Role
from crm.models import Contact
from messaging.agent_selectors import (
    agent_loads,
    agent_profile_list_for_channel,
    channel_list_worked_by,
)
from messaging.models import Channel, Conversation, Message
from messaging.selectors import conversation_list_visible_to
from messaging.services.service_setup import (
    agent_capacity_set,
    service_agents_set,
    service_channels_set,
    service_create,
    service_delete,
    service_update,
)
from tests.inbox.conftest import inbound, make_user
from tickets.routing import (
    AgentAtCapacity,
    conversation_close,
    conversation_reply,
    route_on_inbound,
    routing_candidates,
)

pytestmark = pytest.mark.django_db

_numbers = iter(range(10_000))


def new_client(channel):
    contact = Contact.objects.create(phone=f"+39333700{next(_numbers):04d}")
    conversation = Conversation.objects.create(channel=channel, contact=contact)
    route_on_inbound(message=inbound(conversation), conversation_created=True)
    conversation.refresh_from_db()
    return conversation


def line(account, name, *, transport="waba", mode="round_robin"):
    return Channel.objects.create(
        name=name,
        account=account,
        provider="whatsapp_cloud",
        external_id=f"77{Channel.objects.count():04d}",
        transport=transport,
        routing_mode=mode,
    )


def rep(name, *, channels=(), capacity=5):
    return make_user(name, Role.SALES_REP, channels=channels, capacity=capacity)


def profiles(*users):
    return [user.agent_profile for user in users]


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run what a service change hands to routing after commit, as a request would."""

    def run(change, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return change(**kwargs)

    return run


def test_routing_picks_only_the_services_agents(rr_channel):
    inside = [rep("in1"), rep("in2")]
    # Listing the channel on a profile no longer makes an agent of a service's channel.
    outsider = rep("outsider", channels=[rr_channel])
    service_create(name="Care", channels=[rr_channel], agents=profiles(*inside))

    assignees = [new_client(rr_channel).assignee for _ in range(4)]

    assert assignees == [inside[0], inside[1], inside[0], inside[1]]
    assert outsider not in assignees
    assert set(agent_profile_list_for_channel(channel=rr_channel)) == set(profiles(*inside))


def test_round_robin_rotates_within_the_service(account):
    care, sales = line(account, "Care line"), line(account, "Sales line")
    care_reps = [rep(f"care{i}", capacity=50) for i in range(3)]
    sales_rep = rep("seller", capacity=50)
    service_create(name="Care", channels=[care], agents=profiles(*care_reps))
    service_create(name="Sales", channels=[sales], agents=profiles(sales_rep))

    care_assignees = [new_client(care).assignee for _ in range(6)]
    sales_assignees = [new_client(sales).assignee for _ in range(2)]

    assert care_assignees == care_reps * 2
    assert sales_assignees == [sales_rep, sales_rep]


def test_a_channel_without_a_service_keeps_the_agents_that_list_it(account, rr_channel):
    other = line(account, "Serviced line")
    listed = [rep("listed1", channels=[rr_channel]), rep("listed2", channels=[rr_channel])]
    service_create(name="Care", channels=[other], agents=profiles(rep("serviced")))

    assert [new_client(rr_channel).assignee for _ in range(2)] == listed
    assert rr_channel.service_id is None


def test_capacity_per_channel_type_is_counted_across_services(account):
    whatsapp_a = line(account, "WhatsApp A")
    whatsapp_b = line(account, "WhatsApp B")
    telegram = line(account, "Telegram bot", transport="telegram")
    agent = rep("multi", capacity=5)
    service_create(name="Care", channels=[whatsapp_a], agents=profiles(agent))
    service_create(name="Sales", channels=[whatsapp_b, telegram], agents=profiles(agent))
    agent_capacity_set(profile=agent.agent_profile, transport="waba", max_interactions=1)

    first = new_client(whatsapp_a)
    second = new_client(whatsapp_b)  # the same type in another service: full already
    on_telegram = new_client(telegram)  # no own maximum: the general 5 applies

    assert first.assignee == agent
    assert second.assignee is None and second.queued_at is not None
    assert on_telegram.assignee == agent
    loads = agent_loads(profiles=[agent.agent_profile])[agent.agent_profile.pk]
    assert (loads["waba"].open, loads["waba"].limit, loads["waba"].own_limit) == (1, 1, True)
    assert (loads["telegram"].open, loads["telegram"].limit) == (1, 5)
    assert loads["waba"].is_full and not loads["telegram"].is_full


def test_an_own_maximum_may_be_higher_than_the_general_one(account):
    whatsapp = line(account, "WhatsApp")
    agent = rep("busy", capacity=1)
    service_create(name="Care", channels=[whatsapp], agents=profiles(agent))
    agent_capacity_set(profile=agent.agent_profile, transport="waba", max_interactions=3)

    assert [new_client(whatsapp).assignee for _ in range(4)] == [agent, agent, agent, None]


def test_the_queue_drains_when_capacity_frees(account, run_on_commit):
    whatsapp_a, whatsapp_b = line(account, "WhatsApp A"), line(account, "WhatsApp B")
    agent = rep("solo")
    service_create(name="Care", channels=[whatsapp_a], agents=profiles(agent))
    service_create(name="Sales", channels=[whatsapp_b], agents=profiles(agent))
    agent_capacity_set(profile=agent.agent_profile, transport="waba", max_interactions=1)
    served = new_client(whatsapp_a)
    waiting = new_client(whatsapp_b)
    assert waiting.queued_at is not None

    # Closing on one service's channel frees the agent for the other service's queue.
    run_on_commit(conversation_close, conversation=served, actor=agent)

    waiting.refresh_from_db()
    assert (waiting.assignee, waiting.queued_at) == (agent, None)

    # A higher maximum drains too.
    later = new_client(whatsapp_a)
    assert later.queued_at is not None
    run_on_commit(
        agent_capacity_set, profile=agent.agent_profile, transport="waba", max_interactions=2
    )
    later.refresh_from_db()
    assert later.assignee == agent


def test_removing_an_own_maximum_falls_back_to_the_general_one(account, run_on_commit):
    whatsapp = line(account, "WhatsApp")
    agent = rep("back", capacity=2)
    service_create(name="Care", channels=[whatsapp], agents=profiles(agent))
    agent_capacity_set(profile=agent.agent_profile, transport="waba", max_interactions=1)
    new_client(whatsapp)
    waiting = new_client(whatsapp)

    run_on_commit(
        agent_capacity_set, profile=agent.agent_profile, transport="waba", max_interactions=None
    )

    waiting.refresh_from_db()
    assert waiting.assignee == agent


def test_adding_an_agent_or_a_channel_to_a_service_drains_its_queue(account, run_on_commit):
    whatsapp = line(account, "WhatsApp")
    service = service_create(name="Care", channels=[whatsapp])
    waiting = new_client(whatsapp)
    assert waiting.queued_at is not None  # a service without agents routes nobody
    agent = rep("joiner")

    run_on_commit(service_agents_set, service=service, agents=profiles(agent))

    waiting.refresh_from_db()
    assert waiting.assignee == agent

    orphan = line(account, "New number")
    parked = new_client(orphan)  # nobody lists it yet
    assert parked.queued_at is not None
    run_on_commit(service_channels_set, service=service, channels=[whatsapp, orphan])
    parked.refresh_from_db()
    assert parked.assignee == agent


def test_a_paused_service_routes_nobody_until_it_resumes(account, run_on_commit):
    whatsapp = line(account, "WhatsApp")
    agent = rep("paused")
    service = service_create(name="Care", channels=[whatsapp], agents=profiles(agent))
    service_update(service=service, is_active=False)

    waiting = new_client(whatsapp)
    assert waiting.assignee is None and waiting.queued_at is not None
    assert not channel_list_worked_by(user=agent).exists()

    run_on_commit(service_update, service=service, is_active=True)

    waiting.refresh_from_db()
    assert waiting.assignee == agent


def test_deleting_a_service_gives_its_channels_back_to_the_agents_listing_them(
    account, run_on_commit
):
    whatsapp = line(account, "WhatsApp")
    listed = rep("lister", channels=[whatsapp])
    service = service_create(name="Care", channels=[whatsapp])
    waiting = new_client(whatsapp)
    assert waiting.queued_at is not None

    run_on_commit(service_delete, service=service)

    waiting.refresh_from_db()
    assert waiting.assignee == listed
    whatsapp.refresh_from_db()
    assert whatsapp.service is None


def test_a_channel_belongs_to_one_service(account):
    whatsapp = line(account, "WhatsApp")
    care = service_create(name="Care", channels=[whatsapp])
    sales = service_create(name="Sales", channels=[whatsapp])

    whatsapp.refresh_from_db()
    assert whatsapp.service == sales
    assert not care.channels.exists()
    service_channels_set(service=sales, channels=[])
    whatsapp.refresh_from_db()
    assert whatsapp.service is None


# --- first responder --------------------------------------------------------------------------


def test_a_first_responder_client_is_offered_to_the_services_available_agents(account, people):
    support = line(account, "Support", mode="first_responder")
    agent, away = rep("helper"), rep("away")
    away.agent_profile.is_available = False
    away.agent_profile.save()
    # people["rep"] works the fixture's other channel and lists nothing of this service.
    service_create(name="Care", channels=[support], agents=profiles(agent, away))

    conversation = new_client(support)

    assert conversation.assignee is None and conversation.queued_at is None
    offered_to = {
        user.username
        for user in (agent, away, people["rep"], people["manager"])
        if conversation_list_visible_to(user=user).filter(pk=conversation.pk).exists()
    }
    assert offered_to == {"helper", "manager"}


def test_a_first_responder_claim_at_the_maximum_is_refused_and_sends_nothing(account, settings):
    settings.GRAPH_API_BASE_URL = "http://127.0.0.1:9"  # delivery runs on commit: go nowhere
    support = line(account, "Support", mode="first_responder")
    telegram = line(account, "Bot", transport="telegram", mode="first_responder")
    agent = rep("claimer")
    service_create(name="Care", channels=[support, telegram], agents=profiles(agent))
    agent_capacity_set(profile=agent.agent_profile, transport="waba", max_interactions=1)
    first, second, on_telegram = new_client(support), new_client(support), new_client(telegram)

    conversation_reply(conversation=first, user=agent, text="Hello")
    with pytest.raises(AgentAtCapacity, match="maximum of open WhatsApp Business API"):
        conversation_reply(conversation=second, user=agent, text="Hello too")
    conversation_reply(conversation=on_telegram, user=agent, text="Hi on Telegram")

    second.refresh_from_db()
    assert second.assignee is None and second.contact.responsible is None
    # Full on WhatsApp: the other WhatsApp offer leaves the agent's list until one closes.
    visible = conversation_list_visible_to(user=agent)
    assert set(visible.values_list("pk", flat=True)) == {first.pk, on_telegram.pk}
    conversation_close(conversation=first, actor=agent)
    assert conversation_list_visible_to(user=agent).filter(pk=second.pk).exists()
    assert not Message.objects.filter(conversation=second, direction="out").exists()
    on_telegram.refresh_from_db()
    assert on_telegram.assignee == agent


# --- selectors never run a query per row ------------------------------------------------------


def test_the_candidates_of_a_channel_are_one_query_whatever_the_number_of_agents(account):
    whatsapp = line(account, "WhatsApp")
    few = [rep(f"few{i}") for i in range(2)]
    service = service_create(name="Care", channels=[whatsapp], agents=profiles(*few))
    whatsapp.refresh_from_db()
    with CaptureQueriesContext(connection) as two:
        assert len(list(routing_candidates(channel=whatsapp))) == 2
    service_agents_set(service=service, agents=profiles(*few, *[rep(f"many{i}") for i in range(8)]))
    with CaptureQueriesContext(connection) as ten:
        assert len(list(routing_candidates(channel=whatsapp))) == 10
    assert len(two) == len(ten) == 1


def test_agent_loads_take_two_queries_for_any_number_of_agents(account):
    whatsapp = line(account, "WhatsApp")
    agents = [rep(f"load{i}") for i in range(6)]
    service_create(name="Care", channels=[whatsapp], agents=profiles(*agents))
    for _ in range(6):
        new_client(whatsapp)
    agent_capacity_set(profile=agents[0].agent_profile, transport="telegram", max_interactions=2)

    with CaptureQueriesContext(connection) as queries:
        loads = agent_loads(profiles=profiles(*agents))

    assert len(queries) == 2
    assert all(loads[a.agent_profile.pk]["waba"].open == 1 for a in agents)
    assert loads[agents[0].agent_profile.pk]["telegram"].open == 0
    assert loads[agents[0].agent_profile.pk]["telegram"].limit == 2
