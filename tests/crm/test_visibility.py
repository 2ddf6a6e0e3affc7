"""Who sees which clients: one selector per entity, the same answer on every surface."""

import pytest

from accounts.models import AgentProfile, Role, User
from crm.models import Contact, Deal, Pipeline, Stage
from crm.selectors import contact_is_writable_by, contact_list_visible_to
from integrations.models import IntegrationAccount
from messaging.models import Channel, Conversation
from messaging.selectors import conversation_list_visible_to
from tickets.models import Ticket
from tickets.selectors import ticket_list_visible_to

pytestmark = pytest.mark.django_db


def make_user(username, role):
    user = User.objects.create_user(username=username, password="x", is_staff=True)
    AgentProfile.objects.create(user=user, role=role)
    return user


@pytest.fixture
def wa_channel():
    account = IntegrationAccount.objects.create(description="WABA", platform="whatsapp_cloud")
    return Channel.objects.create(
        name="Line", account=account, provider="whatsapp_cloud", external_id="1001"
    )


@pytest.fixture
def world(wa_channel):
    rep = make_user("rep", Role.SALES_REP)
    other = make_user("other", Role.SALES_REP)
    rep.agent_profile.channels.add(wa_channel)
    own = Contact.objects.create(phone="+393330000001", responsible=rep)
    others = Contact.objects.create(phone="+393330000002", responsible=other)
    via_deal = Contact.objects.create(phone="+393330000003", responsible=other)
    unclaimed = Contact.objects.create(phone="+393330000004")
    stranger = Contact.objects.create(phone="+393330000005")  # unclaimed, no conversation here
    pipeline = Pipeline.objects.create(name="Sales")
    stage = Stage.objects.create(pipeline=pipeline, name="New")
    deal = Deal.objects.create(name="Upsell", pipeline=pipeline, stage=stage, responsible=rep)
    deal.contacts.add(via_deal)
    for contact in (own, others, via_deal, unclaimed):
        Conversation.objects.create(channel=wa_channel, contact=contact)
    for n, contact in enumerate((own, others, via_deal, unclaimed, stranger)):
        Ticket.objects.create(number=f"TT{n}", title="t", contact=contact)
    return {
        "rep": rep,
        "own": own,
        "others": others,
        "via_deal": via_deal,
        "unclaimed": unclaimed,
        "stranger": stranger,
    }


def test_sales_rep_sees_own_deal_and_unclaimed_clients_of_their_channels(world):
    rep = world["rep"]
    expected = {world["own"].pk, world["via_deal"].pk, world["unclaimed"].pk}
    assert set(contact_list_visible_to(user=rep).values_list("pk", flat=True)) == expected
    conversations = conversation_list_visible_to(user=rep).values_list("contact_id", flat=True)
    assert set(conversations) == expected
    assert set(ticket_list_visible_to(user=rep).values_list("contact_id", flat=True)) == expected
    assert contact_is_writable_by(user=rep, contact=world["own"])
    assert contact_is_writable_by(user=rep, contact=world["via_deal"])
    assert not contact_is_writable_by(user=rep, contact=world["others"])
    assert not contact_is_writable_by(user=rep, contact=world["stranger"])


def test_quality_control_sees_all_and_writes_nothing(world):
    qc = make_user("qc", Role.QUALITY_CONTROL)
    assert contact_list_visible_to(user=qc).count() == 5
    assert conversation_list_visible_to(user=qc).count() == 4
    assert ticket_list_visible_to(user=qc).count() == 5
    assert not any(contact_is_writable_by(user=qc, contact=c) for c in Contact.objects.all())


def test_manager_and_superuser_see_and_write_all(world):
    manager = make_user("boss", Role.MANAGER)
    root = User.objects.create_superuser(username="root", password="x")
    for user in (manager, root):
        assert contact_list_visible_to(user=user).count() == 5
        assert all(contact_is_writable_by(user=user, contact=c) for c in Contact.objects.all())


def test_staff_without_a_role_sees_nothing(world):
    nobody = User.objects.create_user(username="nobody", password="x", is_staff=True)
    assert not contact_list_visible_to(user=nobody).exists()
    assert not conversation_list_visible_to(user=nobody).exists()
    assert not contact_is_writable_by(user=nobody, contact=world["own"])


def test_an_assigned_conversation_is_visible_to_its_assignee(world, wa_channel):
    rep = world["rep"]
    conversation = Conversation.objects.get(contact=world["others"])
    conversation.assignee = rep
    conversation.save()
    assert conversation_list_visible_to(user=rep).filter(pk=conversation.pk).exists()
