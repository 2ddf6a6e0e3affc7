"""The operator console: ticket list and page, the comment box, actions, and the ticket parts of
the conversation and channel pages. Lists run a fixed number of queries however long they are."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Contact
from messaging.models import Conversation, Message, MessageTemplate
from tickets.models import Ticket, TicketComment
from tickets.services import ticket_comment_add, ticket_message_receive

from .conftest import SEND_URL, fixture_json, sent_bodies, staff_user

pytestmark = pytest.mark.django_db

TICKETS = "/admin/tickets/ticket/"
CONVERSATIONS = "/admin/messaging/conversation/"


def customer_writes(channel, phone, text, *, index=0, name="Customer"):
    """A stored inbound message run through the tickets step, as the pipeline does."""
    contact, _ = Contact.objects.get_or_create(phone=phone, defaults={"name": name})
    conversation, _ = Conversation.objects.get_or_create(
        channel=channel, contact=contact, status="open"
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_inbound_at=timezone.now())
    message = Message.objects.create(
        channel=channel,
        conversation=conversation,
        direction="in",
        provider_message_id=f"wamid.{phone}.{index}",
        type="text",
        text=text,
        status="received",
        provider_timestamp=timezone.now(),
    )
    return ticket_message_receive(message=message)


def make_rows(channel, count, start=0):
    owner = staff_user(f"owner{start}")
    for i in range(start, start + count):
        ticket = customer_writes(channel, f"+3933510{i:05d}", f"hello {i}")
        customer_writes(channel, f"+3933510{i:05d}", "more", index=1)
        Ticket.objects.filter(pk=ticket.pk).update(assignee=owner)


def queries_for(client, url):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize("url", [TICKETS, CONVERSATIONS])
def test_list_pages_run_the_same_queries_for_3_or_30_rows(admin_client, wa_channel, url):
    make_rows(wa_channel, 3)
    few = queries_for(admin_client, url)
    make_rows(wa_channel, 27, start=3)
    many = queries_for(admin_client, url)
    assert Ticket.objects.count() == 30
    assert many == few


def test_the_ticket_list_shows_its_columns(admin_client, wa_channel):
    ticket = customer_writes(wa_channel, "+393351032246", "hello", name="Giulia")
    customer_writes(wa_channel, "+393351032246", "again", index=1)
    page = admin_client.get(TICKETS).content.decode()
    assert ticket.number in page and "Giulia" in page and "Customer responded" in page


@pytest.mark.parametrize(
    "term", ["0039 335 103 2246", "+39 335 1032246", "335-103-2246", "Giulia", "TT"]
)
def test_tickets_are_found_by_phone_in_any_format_name_or_number(admin_client, wa_channel, term):
    mine = customer_writes(wa_channel, "+393351032246", "hello", name="Giulia Rossi")
    other = customer_writes(wa_channel, "+447700900123", "hi", name="Olivia")
    if term == "TT":
        term = mine.number
    page = admin_client.get(TICKETS, {"q": term}).content.decode()
    assert f">{mine.number}<" in page
    assert f">{other.number}<" not in page


def test_list_filters_by_status_channel_assignee_and_priority(admin_client, wa_channel):
    ticket = customer_writes(wa_channel, "+393351032246", "hello")
    owner = staff_user("owner")
    Ticket.objects.filter(pk=ticket.pk).update(assignee=owner)
    assert (
        ticket.number.encode()
        in admin_client.get(f"{TICKETS}?assignee__id__exact={owner.pk}").content
    )
    for query in (
        "status__exact=open",
        f"channel__id__exact={wa_channel.pk}",
        "priority__exact=normal",
    ):
        assert admin_client.get(f"{TICKETS}?{query}").status_code == 200
    assert b"TT" in admin_client.get(f"{TICKETS}?status__exact=open").content
    assert b"0 tickets" in admin_client.get(f"{TICKETS}?status__exact=closed").content


def test_the_ticket_page_shows_description_comments_ticks_and_conversations(
    admin_client, admin_user, wa_channel, graph, django_capture_on_commit_callbacks
):
    ticket = customer_writes(wa_channel, "+393351032246", "my parcel is lost", name="Giulia")
    customer_writes(wa_channel, "+393351032246", "any news?", index=1)
    graph.post(SEND_URL, json=fixture_json("send_ok.json"))
    with django_capture_on_commit_callbacks(execute=True):
        ticket_comment_add(ticket=ticket, author=admin_user, text="We are on it")
    ticket_comment_add(ticket=ticket, author=admin_user, text="check courier", internal=True)
    failed = ticket_comment_add(ticket=ticket, author=admin_user, text="second try")
    Message.objects.filter(pk=failed.message_id).update(
        status="failed", error_title="Message undeliverable"
    )

    page = admin_client.get(f"{TICKETS}{ticket.pk}/change/").content.decode()
    assert "my parcel is lost" in page
    assert page.index("any news?") < page.index("We are on it") < page.index("check courier")
    assert "✓ sent" in page
    assert "[Internal note]" in page and "not sent" in page
    assert "✗ failed: Message undeliverable" in page
    conversation = Conversation.objects.get()
    assert f"{CONVERSATIONS}{conversation.pk}/change/" in page
    assert admin_user.username in page


def test_the_comment_box_sends_and_shows_refusals_as_errors(
    admin_client, wa_channel, graph, django_capture_on_commit_callbacks
):
    ticket = customer_writes(wa_channel, "+393351032246", "hello")
    graph.post(SEND_URL, json=fixture_json("send_ok.json"))
    url = f"{TICKETS}{ticket.pk}/comment/"
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"text": "On its way"})
    assert response.status_code == 302
    assert [b["text"]["body"] for b in sent_bodies(graph)] == ["On its way"]

    # The window closes; the channel has no utility template.
    Conversation.objects.update(last_inbound_at=timezone.now() - timedelta(hours=30))
    response = admin_client.post(url, {"text": "Still there?"}, follow=True)
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    assert any("no utility template is configured" in e for e in errors)
    assert TicketComment.objects.filter(author_kind="staff").count() == 1

    admin_client.post(url, {"text": "note to self", "internal": "1"})
    assert TicketComment.objects.get(text="note to self").is_internal
    assert len(sent_bodies(graph)) == 1


def test_status_and_assignment_buttons_call_the_services(admin_client, admin_user, wa_channel):
    ticket = customer_writes(wa_channel, "+393351032246", "hello")
    admin_client.post(f"{TICKETS}{ticket.pk}/status/", {"status": "closed"})
    admin_client.post(f"{TICKETS}{ticket.pk}/assign/", {"assignee": admin_user.pk})
    ticket.refresh_from_db()
    assert (ticket.status, ticket.assignee) == ("closed", admin_user)
    assert ticket.closed_at is not None
    response = admin_client.post(f"{TICKETS}{ticket.pk}/status/", {"status": "bogus"}, follow=True)
    assert any("not a ticket status" in str(m) for m in get_messages(response.wsgi_request))


def test_list_actions_close_reopen_and_assign(admin_client, admin_user, wa_channel):
    first = customer_writes(wa_channel, "+393351032246", "hello")
    second = customer_writes(wa_channel, "+447700900123", "hi")
    ids = [first.pk, second.pk]
    admin_client.post(TICKETS, {"action": "close", "_selected_action": ids})
    assert set(Ticket.objects.values_list("status", flat=True)) == {"closed"}
    admin_client.post(TICKETS, {"action": "reopen", "_selected_action": ids})
    assert set(Ticket.objects.values_list("status", flat=True)) == {"open"}
    admin_client.post(TICKETS, {"action": "assign_to_me", "_selected_action": [first.pk]})
    other = staff_user("colleague")
    admin_client.post(
        TICKETS, {"action": "assign", "_selected_action": [second.pk], "assignee": other.pk}
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.assignee, second.assignee) == (admin_user, other)


def test_the_conversation_page_shows_its_ticket_and_opens_one(admin_client, wa_channel):
    wa_channel.auto_create_tickets = False
    wa_channel.save()
    assert customer_writes(wa_channel, "+393351032246", "hello") is None
    conversation = Conversation.objects.get()
    page = admin_client.get(f"{CONVERSATIONS}{conversation.pk}/change/").content.decode()
    assert "No ticket is linked." in page and "Open ticket" in page
    assert "hello" in page  # the message table

    response = admin_client.post(f"{CONVERSATIONS}{conversation.pk}/open-ticket/")
    ticket = Ticket.objects.get()
    assert response.status_code == 302 and response.url == f"{TICKETS}{ticket.pk}/change/"
    page = admin_client.get(f"{CONVERSATIONS}{conversation.pk}/change/").content.decode()
    assert "Linked to" in page and ticket.number in page


def test_the_open_ticket_action_on_the_conversation_list(admin_client, wa_channel):
    wa_channel.auto_create_tickets = False
    wa_channel.save()
    customer_writes(wa_channel, "+393351032246", "hello")
    customer_writes(wa_channel, "+447700900123", "hi")
    ids = list(Conversation.objects.values_list("pk", flat=True))
    admin_client.post(CONVERSATIONS, {"action": "open_ticket", "_selected_action": ids})
    assert Ticket.objects.count() == 2
    assert not Conversation.objects.filter(ticket__isnull=True).exists()


def test_the_close_action_on_the_conversation_list(admin_client, wa_channel):
    customer_writes(wa_channel, "+393351032246", "hello")
    customer_writes(wa_channel, "+447700900123", "hi")
    ids = list(Conversation.objects.values_list("pk", flat=True))
    response = admin_client.post(
        CONVERSATIONS, {"action": "close_conversations", "_selected_action": ids}, follow=True
    )
    assert "2 conversation(s) closed." in [str(m) for m in get_messages(response.wsgi_request)]
    assert set(Conversation.objects.values_list("status", flat=True)) == {"closed"}
    assert Conversation.objects.filter(closed_at__isnull=True).count() == 0


def test_the_channel_page_has_a_helpdesk_section_that_checks_template_parameters(
    admin_client, wa_channel, utility_template
):
    url = f"/admin/messaging/channel/{wa_channel.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert "Helpdesk" in page and "utility_template_parameters" in page

    form = admin_client.get(url).context["adminform"].form
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name in form.fields
    }
    data.update(
        config="{}",
        utility_template=utility_template.pk,
        utility_template_parameters='["contact.name", "ticket.password"]',
        default_ticket_priority="high",
    )
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert "Unknown template parameter" in response.content.decode()

    data["utility_template_parameters"] = '["contact.name", "ticket.number"]'
    assert "takes 3 body parameter" in admin_client.post(url, data).content.decode()

    data["utility_template_parameters"] = '["contact.name", "ticket.number", "comment.text"]'
    assert admin_client.post(url, data).status_code == 302
    wa_channel.refresh_from_db()
    assert wa_channel.utility_template == utility_template
    assert wa_channel.default_ticket_priority == "high"


def test_a_sales_rep_sees_only_the_tickets_of_their_clients(client, wa_channel):
    from django.contrib.auth.models import Permission

    from accounts.models import Role

    rep = staff_user("rep", Role.SALES_REP)
    rep.user_permissions.add(Permission.objects.get(codename="view_ticket"))
    theirs = customer_writes(wa_channel, "+393351032246", "hello")
    someone_elses = customer_writes(wa_channel, "+447700900123", "hi")
    Contact.objects.filter(pk=theirs.contact_id).update(responsible=rep)
    Contact.objects.filter(pk=someone_elses.contact_id).update(responsible=staff_user("boss"))
    client.force_login(rep)
    page = client.get(TICKETS).content.decode()
    assert f">{theirs.number}<" in page
    assert f">{someone_elses.number}<" not in page


def grow_ticket(ticket, channel, *, start, count):
    """`count` more of everything the ticket page lists: customer comments, staff notes by
    different people, outbound messages and closed conversations started by a template."""
    template = MessageTemplate.objects.get_or_create(
        account=channel.account,
        name="ticket_update",
        language="en_US",
        defaults={"status": "APPROVED", "body_param_count": 0},
    )[0]
    for i in range(start, start + count):
        customer_writes(channel, ticket.contact.phone, f"customer says {i}", index=i + 1)
        author = staff_user(f"agent{i}")
        TicketComment.objects.create(
            ticket=ticket, author=author, author_kind="staff", text=f"note {i}", is_internal=True
        )
        earlier = Conversation.objects.create(
            channel=channel,
            contact=ticket.contact,
            status="closed",
            ticket=ticket,
            started_by_template=template,
        )
        sent = Message.objects.create(
            channel=channel,
            conversation=earlier,
            direction="out",
            provider_message_id=f"wamid.out.{i}",
            type="text",
            text=f"reply {i}",
            status="delivered",
            sent_by=author,
        )
        TicketComment.objects.create(
            ticket=ticket, author=author, author_kind="staff", text=f"reply {i}", message=sent
        )


def test_the_ticket_page_runs_the_same_queries_for_few_or_many_comments(admin_client, wa_channel):
    ticket = customer_writes(wa_channel, "+393351032246", "hello")
    grow_ticket(ticket, wa_channel, start=0, count=2)
    url = f"{TICKETS}{ticket.pk}/change/"
    admin_client.get(url)  # the first page of a session also fills per-process caches
    few = queries_for(admin_client, url)
    grow_ticket(ticket, wa_channel, start=2, count=18)
    many = queries_for(admin_client, url)
    assert ticket.comments.count() == 60 and ticket.conversations.count() == 21
    assert "reply 19" in admin_client.get(url).content.decode()
    assert many == few


def test_the_conversation_page_runs_the_same_queries_for_few_or_many_messages(
    admin_client, wa_channel
):
    ticket = customer_writes(wa_channel, "+393351032246", "hello")
    conversation = Conversation.objects.get()
    url = f"{CONVERSATIONS}{conversation.pk}/change/"
    for i in range(1, 3):
        customer_writes(wa_channel, "+393351032246", f"message {i}", index=i)
    admin_client.get(url)  # the first page of a session also fills per-process caches
    few = queries_for(admin_client, url)
    for i in range(3, 30):
        customer_writes(wa_channel, "+393351032246", f"message {i}", index=i)
    many = queries_for(admin_client, url)
    page = admin_client.get(url).content.decode()
    assert "wamid.+393351032246.29" in page and ticket.number in page
    assert many == few
