"""Who a pushed event goes to is who the inbox shows the conversation to: the audience read
from the conversation's side (messaging.live_selectors) agrees with the pages' own selector for
every user and every relation a sales rep can have to a client."""

import pytest

from accounts.models import Role
from crm.models import Contact, Deal
from messaging.live_selectors import conversation_rep_audience
from messaging.models import AgentCapacity, Channel, Conversation, Service
from messaging.selectors import conversation_list_visible_to
from tests.inbox.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(channel, rr_channel, pipeline, account):
    serviced = Channel.objects.create(
        name="Service line",
        account=account,
        provider="whatsapp_cloud",
        external_id="5003",
        routing_mode="first_responder",
        new_client_pipeline=pipeline,
    )
    people = {
        "manager": make_user("manager", Role.MANAGER),
        "quality": make_user("quality", Role.QUALITY_CONTROL),
        "rep": make_user("rep", Role.SALES_REP, channels=[channel]),
        "other": make_user("other", Role.SALES_REP, channels=[channel]),
        "away": make_user("away", Role.SALES_REP, channels=[channel]),
        "full": make_user("full", Role.SALES_REP, channels=[channel], capacity=1),
        "servicer": make_user("servicer", Role.SALES_REP),
        "nobody": make_user("nobody"),
    }
    people["away"].agent_profile.is_available = False
    people["away"].agent_profile.save()
    service = Service.objects.create(name="Care")
    service.agents.add(people["servicer"].agent_profile)
    serviced.service = service
    serviced.save()
    widget_service = Service.objects.create(name="Widget care")
    widget_service.agents.add(people["other"].agent_profile)

    def conversation(name, channel_, *, responsible=None, assignee=None, service=None):
        contact = Contact.objects.create(name=name, phone=f"+3933300{len(name):02d}{name[:1]}")
        contact.phone = f"+39333{Contact.objects.count():07d}"
        contact.responsible = responsible
        contact.save()
        return Conversation.objects.create(
            channel=channel_, contact=contact, assignee=assignee, service=service
        )

    conversations = [
        conversation("own", channel, responsible=people["rep"], assignee=people["rep"]),
        conversation("others", channel, responsible=people["other"], assignee=people["other"]),
        conversation("offered", channel),
        conversation("round robin waiting", rr_channel),
        conversation("of a service", serviced),
        conversation("from a widget", channel, service=widget_service),
        conversation("assigned only", rr_channel, assignee=people["rep"]),
        conversation("assigned to a manager", rr_channel, assignee=people["manager"]),
    ]
    deal_client = conversation("with a deal", rr_channel, responsible=people["other"])
    deal = Deal.objects.create(
        name="Deal",
        pipeline=pipeline,
        stage=pipeline.stages.first(),
        responsible=people["rep"],
    )
    deal.contacts.add(deal_client.contact)
    conversations.append(deal_client)
    # "full" holds one open conversation of this channel type: at its maximum, it is not
    # offered new clients of that type.
    conversations.append(
        conversation("full's own", channel, responsible=people["full"], assignee=people["full"])
    )
    AgentCapacity.objects.create(
        profile=people["full"].agent_profile, transport=channel.transport, max_interactions=1
    )
    return people, conversations


def test_the_audience_of_every_conversation_is_who_the_inbox_shows_it_to(world):
    people, conversations = world
    audience = conversation_rep_audience(conversation_ids=[c.pk for c in conversations])
    for user in people.values():
        shown = set(conversation_list_visible_to(user=user).values_list("pk", flat=True))
        for conversation in conversations:
            everything = user in (people["manager"], people["quality"])
            pushed = everything or user.pk in audience[conversation.pk]
            assert pushed == (conversation.pk in shown), (user.username, conversation.contact.name)


def test_the_matrix_holds_the_cases_it_is_meant_to(world):
    """The world above is not trivially agreeing: each kind of relation is present."""
    people, conversations = world
    audience = conversation_rep_audience(conversation_ids=[c.pk for c in conversations])
    by_name = {c.contact.name: audience[c.pk] for c in conversations}
    rep, other = people["rep"].pk, people["other"].pk
    assert by_name["own"] == {rep}
    assert by_name["others"] == {other}
    # Offered to the available reps of the channel who have room, not to "away" or "full".
    assert by_name["offered"] == {rep, other}
    assert by_name["round robin waiting"] == set()
    assert by_name["of a service"] == {people["servicer"].pk}
    assert by_name["from a widget"] == {other}
    assert by_name["assigned only"] == {rep}
    assert by_name["assigned to a manager"] == set()  # managers get everything anyway
    assert by_name["with a deal"] == {rep, other}


def test_the_audience_takes_a_fixed_number_of_queries(world, django_assert_max_num_queries):
    _people, conversations = world
    with django_assert_max_num_queries(9):
        conversation_rep_audience(conversation_ids=[c.pk for c in conversations])
