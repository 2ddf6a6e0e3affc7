"""Who a Telegram user is: the user id is the address, a contact card they share as their own
brings their phone (joining the contact that already has it), a /start link we signed names a
known contact, and writing again makes a blocked chat reachable."""

import json

import pytest
from django.utils import timezone

from crm.identity import contact_link_token_make, contact_link_token_read
from crm.models import Contact, ContactAddress
from messaging.models import Conversation, Message
from tickets.models import Ticket

from .conftest import inbound_body
from .telegram_support import USER_ID, fixture_json

pytestmark = pytest.mark.django_db


def start_update(payload: str) -> dict:
    update = fixture_json("update_command_start.json")
    update["message"]["text"] = f"/start {payload}"
    return update


def test_a_contact_card_with_a_known_whatsapp_phone_makes_one_contact(
    post_update, post_webhook, wa_channel, admin_client
):
    # Giulia wrote on WhatsApp first, then to the bot without a phone: two contacts so far.
    post_webhook(
        inbound_body(
            {"id": "wamid.A1", "timestamp": "1752489000", "type": "text", "text": {"body": "Ciao"}},
            wa_id="393351032246",
        )
    )
    post_update("update_text.json")
    assert Contact.objects.count() == 2
    whatsapp_contact = Contact.objects.get(phone="+393351032246")

    post_update("update_contact_own.json")

    contact = Contact.objects.get()
    assert contact.pk == whatsapp_contact.pk
    assert set(contact.addresses.values_list("transport", "address")) == {
        ("whatsapp", "+393351032246"),
        ("telegram", USER_ID),
    }
    conversations = Conversation.objects.filter(contact=contact)
    assert sorted(c.channel.provider for c in conversations) == ["telegram", "whatsapp_cloud"]
    assert Ticket.objects.filter(contact=contact).exclude(status="closed").count() == 1
    assert Message.objects.filter(conversation__contact=contact).count() == 3
    page = admin_client.get(f"/admin/crm/contact/{contact.pk}/change/").content.decode()
    assert "Helpdesk bot" in page and "Support line" in page


def test_a_contact_card_before_any_contact_joins_the_phone_owner(
    post_update, post_webhook, wa_channel
):
    post_webhook(
        inbound_body(
            {"id": "wamid.A1", "timestamp": "1752489000", "type": "text", "text": {"body": "Ciao"}},
            wa_id="393351032246",
        )
    )
    post_update("update_contact_own.json")
    contact = Contact.objects.get()
    assert contact.addresses.filter(transport="telegram", address=USER_ID).exists()


def test_a_contact_card_gives_a_phone_less_telegram_contact_its_phone(post_update):
    post_update("update_text.json")
    post_update("update_contact_own.json")
    contact = Contact.objects.get()
    assert contact.phone == "+393351032246"


def test_a_start_link_we_signed_ties_the_user_to_the_known_contact(post_update, tg_channel):
    known = Contact.objects.create(phone="+393351032246", name="Olivia B.", email="o@example.com")
    token = contact_link_token_make(contact=known)
    assert len(token) <= 64 and all(c.isalnum() or c in "_-" for c in token)

    post_update(start_update(token))

    assert Contact.objects.get() == known
    assert known.addresses.filter(transport="telegram", address=USER_ID).exists()
    assert Message.objects.get().conversation.contact == known


def test_a_start_link_joins_a_telegram_contact_made_before(post_update, tg_channel):
    post_update("update_text.json")
    known = Contact.objects.create(phone="+393351032246", name="Olivia B.")
    update = start_update(contact_link_token_make(contact=known))
    update["update_id"] += 100
    update["message"]["message_id"] += 100
    post_update(update)
    assert Contact.objects.get() == known
    assert Conversation.objects.get().contact == known
    assert Message.objects.filter(conversation__contact=known).count() == 2


def test_a_start_payload_that_is_not_ours_names_nobody(post_update, tg_channel):
    known = Contact.objects.create(phone="+393351032246", name="Olivia B.")
    forged = contact_link_token_make(contact=known)[:-2] + "xx"
    assert contact_link_token_read(token=forged) is None
    post_update(start_update(forged))
    post_update(json.loads(json.dumps(start_update("ref_crm_4821")).replace("431872904", "9")))
    assert Contact.objects.count() == 2
    assert not known.addresses.filter(transport="telegram").exists()


def test_writing_again_makes_a_blocked_chat_reachable(post_update, tg_channel):
    post_update("update_text.json")
    ContactAddress.objects.filter(transport="telegram").update(
        unreachable_at=timezone.now(), unreachable_reason="blocked"
    )
    post_update("update_reply.json")
    address = ContactAddress.objects.get(transport="telegram")
    assert (address.unreachable_at, address.unreachable_reason) == (None, "")


def test_usernames_are_display_data_and_follow_changes(post_update, tg_channel):
    post_update("update_text.json")
    renamed = fixture_json("update_reply.json")
    renamed["message"]["from"]["username"] = "olivia_bennett"
    post_update(renamed)
    contact = Contact.objects.get()
    assert contact.handle == "@olivia_bennett"
    assert ContactAddress.objects.get().address == USER_ID


def test_a_start_link_for_a_known_contact_opens_the_bot_with_a_signed_token(tg_channel):
    from messaging.selectors import contact_start_links

    known = Contact.objects.create(phone="+393351032246", name="Olivia B.")
    links = contact_start_links(contact=known)
    [link] = links.values()
    assert link.startswith("https://t.me/helpdesk_hub_test_bot?start=")
    token = link.split("start=", 1)[1]
    assert contact_link_token_read(token=token) == known
