"""Staff comments reach the customer on WhatsApp: as text inside the 24-hour window, with the
channel's utility template outside it, or not at all (with a clear refusal)."""

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest

from accounts.models import Role
from messaging.models import Conversation, Message
from messaging.selectors import conversation_window
from messaging.services import MessageRefused
from tickets.models import Ticket, TicketComment
from tickets.services import TicketRefused, ticket_close, ticket_comment_add

from .conftest import SEND_URL, fixture_json, sent_bodies, staff_user

pytestmark = pytest.mark.django_db

WROTE_AT = datetime(2025, 7, 14, 10, 30, 5, tzinfo=UTC)  # the "1752489005" of the messages


@pytest.fixture
def ticket(say, wa_channel, time_machine):
    time_machine.move_to(WROTE_AT + timedelta(minutes=1))
    say("My order #4821 has not arrived", wamid="wamid.S1")
    return Ticket.objects.get()


@pytest.fixture
def send_ok(graph):
    graph.post(SEND_URL, json=fixture_json("send_ok.json"))
    return graph


def comment(ticket, author, text="A courier will call you tomorrow.", **kwargs):
    return ticket_comment_add(ticket=ticket, author=author, text=text, **kwargs)


def test_inside_the_window_the_comment_goes_as_text(
    ticket, manager, send_ok, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        added = comment(ticket, manager)

    [body] = sent_bodies(send_ok)
    assert body["to"] == "393351032246"
    assert body["type"] == "text"
    assert body["text"]["body"] == "A courier will call you tomorrow."
    added.refresh_from_db()
    assert (added.author, added.author_kind, added.is_internal) == (manager, "staff", False)
    assert added.message.status == "sent"
    assert added.message.provider_message_id == fixture_json("send_ok.json")["messages"][0]["id"]
    assert added.message.sent_by == manager
    ticket.refresh_from_db()
    assert ticket.status == "waiting_for_response"


def test_outside_the_window_the_utility_template_carries_the_comment(
    ticket,
    manager,
    wa_channel,
    utility_template,
    graph,
    time_machine,
    django_capture_on_commit_callbacks,
):
    graph.post(SEND_URL, json=fixture_json("send_template_ok.json"))
    wa_channel.utility_template = utility_template
    wa_channel.utility_template_parameters = ["contact.name", "ticket.number", "comment.text"]
    wa_channel.save()
    time_machine.move_to(WROTE_AT + timedelta(hours=30))

    with django_capture_on_commit_callbacks(execute=True):
        added = comment(ticket, manager, text="Your parcel\nleft   the depot.")

    [body] = sent_bodies(graph)
    assert body["type"] == "template"
    assert body["template"]["name"] == "ticket_update"
    assert body["template"]["language"]["code"] == "en_US"
    params = body["template"]["components"][0]["parameters"]
    # Meta refuses new lines and runs of spaces in parameters: the comment is folded.
    assert [p["text"] for p in params] == ["Giulia", ticket.number, "Your parcel left the depot."]
    added.refresh_from_db()
    assert added.text == "Your parcel\nleft   the depot."
    assert added.message.type == "template"
    assert added.message.status == "sent"
    assert added.message.template == utility_template
    ticket.refresh_from_db()
    assert ticket.status == "waiting_for_response"


def test_outside_the_window_without_a_utility_template_it_is_refused(
    ticket, manager, graph, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(WROTE_AT + timedelta(hours=30))
    messages_before = Message.objects.count()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(MessageRefused, match="no utility template is configured") as refused,
    ):
        comment(ticket, manager)
    assert refused.value.code == "outside_window_no_template"
    assert sent_bodies(graph) == []
    assert Message.objects.count() == messages_before
    assert TicketComment.objects.count() == 0
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_a_template_parameter_path_that_does_not_exist_is_refused(
    ticket, manager, wa_channel, utility_template, graph, time_machine
):
    wa_channel.utility_template = utility_template
    wa_channel.utility_template_parameters = ["contact.name", "ticket.contact.responsible", "x"]
    wa_channel.save()
    time_machine.move_to(WROTE_AT + timedelta(hours=30))
    with pytest.raises(TicketRefused, match=r"Unknown template parameter 'ticket\.contact"):
        comment(ticket, manager)
    assert TicketComment.objects.count() == 0
    assert sent_bodies(graph) == []


def test_an_internal_note_is_stored_and_never_sent(
    ticket, manager, graph, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        note = comment(ticket, manager, text="Customer is a VIP", internal=True)
    assert sent_bodies(graph) == []
    assert (note.is_internal, note.message, note.author_kind) == (True, None, "staff")
    assert Message.objects.filter(direction="out").count() == 0
    ticket.refresh_from_db()
    assert ticket.status == "open"  # nothing was asked of the customer


def test_a_quality_control_user_cannot_add_even_an_internal_note(ticket, graph):
    watcher = staff_user("quality", Role.QUALITY_CONTROL)
    with pytest.raises(TicketRefused, match="may not work on tickets") as refused:
        comment(ticket, watcher, internal=True)
    assert refused.value.code == "not_writable"
    with pytest.raises(MessageRefused):
        comment(ticket, watcher)
    assert TicketComment.objects.count() == 0
    assert sent_bodies(graph) == []


def test_a_sales_rep_comments_only_on_their_own_clients(ticket, manager, graph):
    rep = staff_user("rep", Role.SALES_REP)
    contact = ticket.contact
    contact.responsible = manager
    contact.save()
    with pytest.raises(TicketRefused):
        comment(ticket, rep, internal=True)
    contact.responsible = rep
    contact.save()
    assert comment(ticket, rep, internal=True).is_internal


def test_an_empty_comment_is_refused(ticket, manager):
    with pytest.raises(TicketRefused, match="empty"):
        comment(ticket, manager, text="   ")


def test_a_closed_ticket_takes_internal_notes_but_no_replies(ticket, manager, graph):
    ticket_close(ticket=ticket, actor=manager)
    with pytest.raises(TicketRefused, match="is closed") as refused:
        comment(ticket, manager)
    assert refused.value.code == "ticket_closed"
    assert comment(ticket, manager, internal=True).is_internal
    assert sent_bodies(graph) == []


def test_a_reply_after_the_conversation_closed_opens_one_linked_to_the_ticket(
    ticket, manager, send_ok, django_capture_on_commit_callbacks
):
    Conversation.objects.update(status="closed")
    with django_capture_on_commit_callbacks(execute=True):
        added = comment(ticket, manager)
    assert Conversation.objects.count() == 2
    new = Conversation.objects.get(pk=added.message.conversation_id)
    assert (new.status, new.ticket) == ("open", ticket)


def test_a_delivery_status_shows_on_the_comment(
    ticket, manager, send_ok, post_webhook, django_capture_on_commit_callbacks
):
    from tests.messaging.conftest import status_body

    with django_capture_on_commit_callbacks(execute=True):
        added = comment(ticket, manager)
    wamid = fixture_json("send_ok.json")["messages"][0]["id"]
    post_webhook(status_body(wamid, "delivered", timestamp=str(int(WROTE_AT.timestamp()) + 120)))
    added.refresh_from_db()
    assert added.message.status == "delivered"


def test_a_utility_template_paused_since_it_was_chosen_is_refused_with_the_reason(
    ticket, manager, wa_channel, utility_template, graph, time_machine
):
    wa_channel.utility_template = utility_template
    wa_channel.utility_template_parameters = ["contact.name", "ticket.number", "comment.text"]
    wa_channel.save()
    utility_template.status = "PAUSED"
    utility_template.save()
    time_machine.move_to(WROTE_AT + timedelta(hours=30))
    messages_before = Message.objects.count()
    with pytest.raises(MessageRefused, match="is not approved"):
        comment(ticket, manager)
    assert (TicketComment.objects.count(), Message.objects.count()) == (0, messages_before)
    assert sent_bodies(graph) == []
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_a_comment_reads_the_customer_service_window_once(
    ticket, manager, send_ok, django_capture_on_commit_callbacks
):
    with (
        patch(
            "messaging.services.outbound.conversation_window", wraps=conversation_window
        ) as window,
        # Where the ticket code used to read it a second time, before sending.
        patch("tickets.services.conversation_window", window, create=True),
        django_capture_on_commit_callbacks(execute=True),
    ):
        added = comment(ticket, manager)
    assert window.call_count == 1
    assert added.message.type == "text"


def test_outside_the_window_the_comment_reads_the_window_once_and_sends_the_template(
    ticket, manager, wa_channel, utility_template, graph, time_machine
):
    wa_channel.utility_template = utility_template
    wa_channel.utility_template_parameters = ["contact.name", "ticket.number", "comment.text"]
    wa_channel.save()
    time_machine.move_to(WROTE_AT + timedelta(hours=30))
    with (
        patch(
            "messaging.services.outbound.conversation_window", wraps=conversation_window
        ) as window,
        patch("tickets.services.conversation_window", window, create=True),
    ):
        added = comment(ticket, manager)
    assert window.call_count == 1
    assert (added.message.type, added.message.template) == ("template", utility_template)
