# ruff: noqa: F811 (the Telegram fixtures are imported, then named as arguments)
"""Business-event notifications on a Telegram bot: the rule's text with its dotted-path
parameters goes to the contact's Telegram chat; a contact without one, or who blocked the bot,
is skipped with the reason."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.models import Contact, ContactAddress
from integrations.models import BusinessEvent, IntegrationAccount, NotificationRule
from integrations.notifications import business_event_receive
from tests.messaging.telegram_support import (  # noqa: F401 (fixtures)
    API,
    USER_ID,
    bot_api,
    fixture_json,
    tg_account,
    tg_channel,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def delivered_at_once(monkeypatch):
    # The test's transaction never commits: deliver at once what waits for the commit.
    monkeypatch.setattr(
        "messaging.services.outbound.after_commit", lambda function, what="": function()
    )


@pytest.fixture
def shop(db):
    return IntegrationAccount.objects.create(description="Shop", platform="ecommerce")


@pytest.fixture
def rule(shop, tg_channel):
    return NotificationRule.objects.create(
        account=shop,
        event_type="order_status_changed",
        channel=tg_channel,
        text="Hi {{1}}, your order {{2}} is {{3}}.",
        parameters={"body": ["customer.name", "order.number", "status"]},
    )


@pytest.fixture
def olivia(db):
    contact = Contact.objects.create(name="Olivia", phone="+393351032246")
    ContactAddress.objects.create(contact=contact, transport="telegram", address=USER_ID)
    return contact


def shipped(event_id="E-1", phone="+39 335 103 2246"):
    return {
        "id": event_id,
        "type": "order_status_changed",
        "data": {
            "status": "shipped",
            "order": {"number": "A-100"},
            "customer": {"name": "Olivia", "phone": phone},
        },
    }


def test_the_rules_text_goes_to_the_contacts_telegram_chat(shop, rule, olivia, bot_api):
    bot_api.post(f"{API}/sendMessage", json=fixture_json("send_ok.json"))
    event, created = business_event_receive(account=shop, body=shipped())
    assert created
    assert (event.state, event.reason) == ("sent", "Sent the rule's text on Helpdesk bot.")
    body = json.loads(bot_api.calls[0].request.body)
    assert body["chat_id"] == int(USER_ID)
    assert body["text"] == "Hi Olivia, your order A-100 is shipped."
    event.message.refresh_from_db()
    assert event.message.status == "sent"


def test_a_contact_without_a_telegram_chat_is_skipped_with_the_reason(shop, rule, bot_api):
    Contact.objects.create(name="Giulia", phone="+393351032246")
    event, _ = business_event_receive(account=shop, body=shipped())
    assert event.state == "skipped"
    assert "has no address on Helpdesk bot" in event.reason
    assert len(bot_api.calls) == 0


def test_an_unknown_phone_is_skipped_and_makes_no_contact(shop, rule, bot_api):
    event, _ = business_event_receive(account=shop, body=shipped())
    assert event.state == "skipped"
    assert "No contact has the phone +393351032246" in event.reason
    assert not Contact.objects.exists()


def test_a_contact_who_blocked_the_bot_is_skipped(shop, rule, olivia, bot_api):
    ContactAddress.objects.filter(contact=olivia, transport="telegram").update(
        unreachable_at=timezone.now(), unreachable_reason="Forbidden: bot was blocked by the user"
    )
    event, _ = business_event_receive(account=shop, body=shipped())
    assert event.state == "skipped"
    assert "cannot be reached" in event.reason and "blocked" in event.reason
    assert len(bot_api.calls) == 0


def test_a_missing_parameter_fails_the_event(shop, rule, olivia, bot_api):
    rule.parameters = {"body": ["customer.name", "order.tracking"]}
    rule.save()
    event, _ = business_event_receive(account=shop, body=shipped())
    assert (event.state, event.reason) == ("failed", "The event data has no order.tracking.")
    assert BusinessEvent.objects.get().message is None


def test_a_telegram_rule_needs_a_text_and_no_template(shop, tg_channel):
    rule = NotificationRule(account=shop, event_type="cart_abandoned", channel=tg_channel)
    with pytest.raises(ValidationError) as invalid:
        rule.clean()
    assert "text" in invalid.value.message_dict
