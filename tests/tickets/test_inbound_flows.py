"""Customer messages posted signed through the webhook URL open, feed and reuse tickets."""

import pytest

from crm.models import Contact, ContactKind
from messaging.models import Channel, Conversation, Message
from tickets.models import Ticket, TicketComment
from tickets.services import ticket_open_from_conversation

from .conftest import inbound_body, staff_user, text_message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_network(graph):
    return graph


def test_it_opens_a_lead_a_conversation_and_a_ticket_for_a_new_number(
    post_webhook, wa_channel, settings
):
    settings.TIME_ZONE = "Europe/Rome"
    owner = staff_user("owner")
    wa_channel.default_ticket_priority = "high"
    wa_channel.default_ticket_assignee = owner
    wa_channel.save()

    assert post_webhook("inbound_text.json").status_code == 200

    contact = Contact.objects.get()
    assert (contact.phone, contact.name, contact.kind) == (
        "+447700900123",
        "Olivia Bennett",
        ContactKind.LEAD,
    )
    conversation = Conversation.objects.get()
    ticket = Ticket.objects.get()
    assert conversation.contact == contact and conversation.ticket == ticket
    assert ticket.number == f"TT{ticket.pk}"
    # 1752489005 is 2025-07-14 10:30:05 UTC, 12:30:05 in Rome (summer time).
    assert ticket.title == "2025-07-14 12:30:05 - +447700900123"
    assert ticket.description == "2025-07-14 12:30:05\nHi, my order #4821 has not arrived yet"
    assert (ticket.status, ticket.priority, ticket.assignee) == ("open", "high", owner)
    assert ticket.channel == wa_channel
    assert ticket.comments.count() == 0


def test_a_known_number_is_linked_to_its_contact(post_webhook, wa_channel):
    known = Contact.objects.create(phone="+447700900123", name="Olivia B.", kind="customer")
    post_webhook("inbound_text.json")
    assert Contact.objects.get() == known
    assert Contact.objects.get().name == "Olivia B."  # the CRM's name is kept
    assert Ticket.objects.get().contact == known


def test_a_media_first_message_is_a_labelled_link_in_the_description(
    post_webhook, wa_channel, settings
):
    settings.PUBLIC_BASE_URL = "https://desk.example.com"
    post_webhook("inbound_image.json")
    message = Message.objects.get()
    description = Ticket.objects.get().description
    assert (
        f"[image] https://desk.example.com/admin/tickets/ticket/media/{message.pk}/" in description
    )
    assert "Damaged box" in description


def test_a_second_message_is_a_customer_comment(say, wa_channel):
    say("My order has not arrived", wamid="wamid.A1")
    ticket = Ticket.objects.get()
    Ticket.objects.filter(pk=ticket.pk).update(status="waiting_for_response")

    say("Any news?", wamid="wamid.A2", timestamp="1752489600")

    ticket.refresh_from_db()
    assert ticket.status == "customer_responded"
    assert "My order has not arrived" in ticket.description
    comment = TicketComment.objects.get()
    assert (comment.text, comment.author, comment.author_kind, comment.is_internal) == (
        "Any news?",
        None,
        "customer",
        False,
    )
    assert comment.message == Message.objects.get(provider_message_id="wamid.A2")


def test_a_redelivered_message_does_not_become_a_second_comment(say, wa_channel):
    say("first", wamid="wamid.B1")
    say("second", wamid="wamid.B2")
    say("second", wamid="wamid.B2")
    assert TicketComment.objects.count() == 1


def test_a_reaction_is_not_a_comment(post_webhook, say, wa_channel):
    say("first", wamid="wamid.C1")
    reaction = {
        "id": "wamid.C2",
        "timestamp": "1752489100",
        "type": "reaction",
        "reaction": {"message_id": "wamid.C1", "emoji": "👍"},
    }
    post_webhook(inbound_body(reaction))
    assert Message.objects.count() == 2
    assert TicketComment.objects.count() == 0
    assert Ticket.objects.get().status == "open"


def test_a_second_channel_reuses_the_open_ticket(say, post_webhook, wa_channel):
    other = Channel.objects.create(
        name="Sales line",
        account=wa_channel.account,
        provider="whatsapp_cloud",
        external_id="222222222222222",
    )
    say("hello on support", wamid="wamid.D1")
    body = inbound_body(text_message("hello on sales", wamid="wamid.D2"))
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = other.external_id
    post_webhook(body)

    ticket = Ticket.objects.get()
    assert Conversation.objects.count() == 2
    assert set(ticket.conversations.values_list("channel_id", flat=True)) == {
        wa_channel.pk,
        other.pk,
    }
    assert ticket.comments.get().text == "hello on sales"


def test_without_automatic_creation_conversations_live_without_tickets(say, wa_channel):
    wa_channel.auto_create_tickets = False
    wa_channel.save()
    say("hello", wamid="wamid.E1")
    say("anyone?", wamid="wamid.E2")
    assert Ticket.objects.count() == 0
    assert Conversation.objects.get().ticket is None
    assert Message.objects.count() == 2


def test_staff_open_a_ticket_from_a_conversation_by_hand(say, wa_channel):
    wa_channel.auto_create_tickets = False
    wa_channel.save()
    agent = staff_user("agent")
    say("hello", wamid="wamid.F1", timestamp="1752489005")
    say("my order is late", wamid="wamid.F2", timestamp="1752489065")
    conversation = Conversation.objects.get()

    ticket, created = ticket_open_from_conversation(conversation=conversation, actor=agent)

    assert created
    conversation.refresh_from_db()
    assert conversation.ticket == ticket
    assert ticket.title.endswith(" - +393351032246")
    assert ticket.description.endswith("\nhello")
    assert list(ticket.comments.values_list("text", flat=True)) == ["my order is late"]
    assert ticket.assignee == agent  # the channel has no default assignee
    # Asking again gives the same ticket.
    assert ticket_open_from_conversation(conversation=conversation, actor=agent) == (ticket, False)

    # From now on the customer's messages are comments on it, even with automatic creation off.
    say("thanks", wamid="wamid.F3", timestamp="1752489200")
    ticket.refresh_from_db()
    assert ticket.status == "customer_responded"
    assert ticket.comments.count() == 2


def test_a_quality_control_user_cannot_open_a_ticket(say, wa_channel):
    from accounts.models import Role
    from tickets.services import TicketRefused

    wa_channel.auto_create_tickets = False
    wa_channel.save()
    say("hello", wamid="wamid.G1")
    with pytest.raises(TicketRefused, match="may not work on tickets"):
        ticket_open_from_conversation(
            conversation=Conversation.objects.get(), actor=staff_user("qc", Role.QUALITY_CONTROL)
        )
    assert Ticket.objects.count() == 0
