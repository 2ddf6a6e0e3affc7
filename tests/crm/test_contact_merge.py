"""Two contacts of one person becoming one (crm.identity.contact_merge): addresses, deals,
conversations, tickets and account links move; one open ticket and one open conversation per
channel remain; two different phones are never merged."""

import pytest

from crm.identity import contact_merge
from crm.models import Contact, ContactAddress, Deal, Pipeline, Stage
from crm.services import contact_get_or_create_by_phone
from integrations.models import AccountContact, IntegrationAccount
from messaging.models import Channel, Conversation
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def channel(db):
    account = IntegrationAccount.objects.create(description="Bots", platform="telegram")
    return Channel.objects.create(
        account=account, provider="telegram", name="Bot", external_id="1", transport="telegram"
    )


def test_everything_of_the_source_moves_and_it_is_deleted(channel):
    target, _ = contact_get_or_create_by_phone(phone_e164="+393351032246", name="Giulia")
    source = Contact.objects.create(name="", email="g@example.com", handle="@giulia")
    ContactAddress.objects.create(contact=source, transport="telegram", address="42")
    pipeline = Pipeline.objects.create(name="Sales")
    stage = Stage.objects.create(pipeline=pipeline, name="New")
    deal = Deal.objects.create(name="Deal", pipeline=pipeline, stage=stage)
    deal.contacts.add(source)
    shop = IntegrationAccount.objects.create(description="Shop", platform="ecommerce")
    AccountContact.objects.create(account=shop, contact=source)
    conversation = Conversation.objects.create(channel=channel, contact=source)

    assert contact_merge(source=source, target=target)

    assert not Contact.objects.filter(pk=source.pk).exists()
    target.refresh_from_db()
    assert (target.name, target.email, target.phone) == ("Giulia", "g@example.com", "+393351032246")
    assert set(target.addresses.values_list("transport", "address")) == {
        ("telegram", "42"),
        ("whatsapp", "+393351032246"),
    }
    assert list(deal.contacts.all()) == [target]
    assert AccountContact.objects.get().contact == target
    conversation.refresh_from_db()
    assert conversation.contact == target


def test_two_open_tickets_and_conversations_on_one_channel_become_one_each(channel):
    target = Contact.objects.create(phone="+393351032246")
    source = Contact.objects.create()
    mine = Conversation.objects.create(channel=channel, contact=target)
    theirs = Conversation.objects.create(channel=channel, contact=source)
    kept = Ticket.objects.create(number="TT1", title="a", contact=target)
    closed = Ticket.objects.create(number="TT2", title="b", contact=source)
    theirs.ticket = closed
    theirs.save()

    assert contact_merge(source=source, target=target)

    theirs.refresh_from_db()
    closed.refresh_from_db()
    assert theirs.status == "closed" and theirs.ticket == kept
    assert closed.status == "closed" and closed.contact == target
    assert Conversation.objects.filter(contact=target, status="open").get() == mine
    assert Ticket.objects.filter(contact=target).exclude(status="closed").get() == kept


def test_two_different_phones_are_never_merged(channel):
    target = Contact.objects.create(phone="+393351032246")
    source = Contact.objects.create(phone="+393401234567")
    assert contact_merge(source=source, target=target) is False
    assert Contact.objects.count() == 2
