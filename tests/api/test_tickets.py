"""Tickets over the API: who sees which, their history, comments that reach the customer by the
ticket rules (text in the window, the channel's utility template outside it, or a refusal with a
code), internal notes, status changes, and lists that do not run a query per row."""

import itertools
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Contact
from messaging.models import Channel, Conversation, Message
from tickets.models import Ticket, TicketComment

from .conftest import assert_error, graph_bodies, key_client, open_window, token_client

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


def make_ticket(contact, channel, **fields) -> Ticket:
    n = next(_numbers)
    return Ticket.objects.create(
        number=f"TT{70000 + n}", title=f"Ticket {n}", contact=contact, channel=channel, **fields
    )


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


@pytest.fixture
def post(django_capture_on_commit_callbacks):
    """POST and run what the request leaves for after the commit (the delivery task)."""

    def send(client, path, body):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, body, format="json")

    return send


@pytest.fixture
def giulia_ticket(wa_channel, giulia):
    ticket = make_ticket(giulia, wa_channel, description="My order #4821 has not arrived")
    conversation = open_window(wa_channel, giulia)
    conversation.ticket = ticket
    conversation.save()
    return ticket


@pytest.fixture
def marco_ticket(wa_channel, marco):
    return make_ticket(marco, wa_channel)


def closed_window(channel, contact, ticket):
    return Conversation.objects.create(
        channel=channel,
        contact=contact,
        ticket=ticket,
        last_inbound_at=timezone.now() - timedelta(hours=30),
    )


# --- who sees which ------------------------------------------------------------------------


def test_a_manager_and_quality_control_see_every_ticket_a_rep_those_of_their_clients(
    manager, quality, rep1, giulia_ticket, marco_ticket
):
    both = {giulia_ticket.pk, marco_ticket.pk}
    assert ids(token_client(manager).get("/api/v1/tickets/")) == both
    assert ids(token_client(quality).get("/api/v1/tickets/")) == both
    assert ids(token_client(rep1).get("/api/v1/tickets/")) == {giulia_ticket.pk}
    assert_error(token_client(rep1).get(f"/api/v1/tickets/{marco_ticket.pk}/"), 404, "not_found")


def test_a_rep_sees_a_ticket_assigned_to_them_but_may_not_write_to_another_reps_client(
    rep1, marco_ticket, graph, post
):
    marco_ticket.assignee = rep1
    marco_ticket.save()
    client = token_client(rep1)
    assert ids(client.get("/api/v1/tickets/")) == {marco_ticket.pk}
    response = post(client, f"/api/v1/tickets/{marco_ticket.pk}/comments/", {"text": "Hi"})
    error = assert_error(response, 403, "not_writable")
    assert "not one of their clients" in error["message"]
    status = post(client, f"/api/v1/tickets/{marco_ticket.pk}/status/", {"status": "closed"})
    assert_error(status, 403, "not_writable")
    marco_ticket.refresh_from_db()
    assert marco_ticket.status == "open"
    assert not TicketComment.objects.exists()
    assert graph_bodies(graph) == []


def test_an_account_key_sees_the_tickets_of_its_visible_contacts_only(
    wa_key, shop_key, giulia_ticket, marco_ticket
):
    # Giulia wrote on the account's channel; Marco never did.
    client = key_client(wa_key)
    assert ids(client.get("/api/v1/tickets/")) == {giulia_ticket.pk}
    assert_error(client.get(f"/api/v1/tickets/{marco_ticket.pk}/"), 404)
    shop = key_client(shop_key)
    assert ids(shop.get("/api/v1/tickets/")) == set()
    # Upserting Marco makes him one of the shop's customers, and his ticket visible to it.
    shop.post("/api/v1/contacts/", {"phone": "0039 347 123 4567"})
    assert ids(shop.get("/api/v1/tickets/")) == {marco_ticket.pk}


# --- reading --------------------------------------------------------------------------------


def _history(ticket, wa_channel, manager):
    conversation = ticket.conversations.get()
    inbound = Message.objects.create(
        channel=wa_channel,
        conversation=conversation,
        direction="in",
        text="Any news?",
        status="received",
    )
    reply = Message.objects.create(
        channel=wa_channel,
        conversation=conversation,
        direction="out",
        text="Tomorrow.",
        status="delivered",
    )
    now = timezone.now()
    TicketComment.objects.create(
        ticket=ticket,
        author_kind="customer",
        text="Any news?",
        message=inbound,
        created_at=now - timedelta(minutes=3),
    )
    TicketComment.objects.create(
        ticket=ticket,
        author=manager,
        author_kind="staff",
        text="VIP customer",
        is_internal=True,
        created_at=now - timedelta(minutes=2),
    )
    TicketComment.objects.create(
        ticket=ticket,
        author=manager,
        author_kind="staff",
        text="Tomorrow.",
        message=reply,
        created_at=now - timedelta(minutes=1),
    )
    return inbound, reply


def test_a_ticket_shows_its_description_contact_conversations_and_comments_in_order(
    manager, wa_channel, giulia, giulia_ticket
):
    inbound, reply = _history(giulia_ticket, wa_channel, manager)
    body = token_client(manager).get(f"/api/v1/tickets/{giulia_ticket.pk}/").json()
    assert body["number"] == giulia_ticket.number
    assert body["description"] == "My order #4821 has not arrived"
    assert body["contact"] == {
        "id": giulia.pk,
        "name": "Giulia",
        "phone": "+393351032246",
        "kind": giulia.kind,
        "responsible": giulia.responsible_id,
    }
    assert body["conversations"] == [giulia_ticket.conversations.get().pk]
    assert body["comment_total"] == 3
    rows = [
        (c["author_kind"], c["author"], c["internal"], c["text"], c["message"], c["message_status"])
        for c in body["comments"]
    ]
    assert rows == [
        ("customer", None, False, "Any news?", inbound.pk, "received"),
        ("staff", manager.pk, True, "VIP customer", None, None),
        ("staff", manager.pk, False, "Tomorrow.", reply.pk, "delivered"),
    ]
    assert body["comments"][1]["author_name"] == "manager"
    assert all(c["created_at"] for c in body["comments"])


def test_an_account_key_does_not_see_internal_notes(manager, wa_key, wa_channel, giulia_ticket):
    _history(giulia_ticket, wa_channel, manager)
    client = key_client(wa_key)
    body = client.get(f"/api/v1/tickets/{giulia_ticket.pk}/").json()
    assert [c["text"] for c in body["comments"]] == ["Any news?", "Tomorrow."]
    assert body["comment_total"] == 2
    assert client.get("/api/v1/tickets/").json()["results"][0]["comment_total"] == 2


def test_tickets_filter_search_and_order(manager, rep2, wa_channel, giulia, marco):
    other_channel = Channel.objects.create(
        name="Second line", account=wa_channel.account, provider="whatsapp_cloud", external_id="2"
    )
    first = make_ticket(giulia, wa_channel, priority="high")
    second = make_ticket(marco, other_channel, assignee=rep2, status="customer_responded")
    Ticket.objects.filter(pk=second.pk).update(created_at=first.created_at + timedelta(hours=1))
    client = token_client(manager)

    def found(query):
        return ids(client.get(f"/api/v1/tickets/?{query}"))

    assert found("status=customer_responded") == {second.pk}
    assert found("priority=high") == {first.pk}
    assert found(f"channel={other_channel.pk}") == {second.pk}
    assert found(f"assignee={rep2.pk}") == {second.pk}
    assert found(f"contact={giulia.pk}") == {first.pk}
    assert found(f"search={first.number}") == {first.pk}
    assert found(f"search={first.number.removeprefix('TT')}") == {first.pk}
    assert found("search=marc") == {second.pk}
    # A phone written any way finds the contact's tickets.
    assert found("search=0039%20335%20103%202246") == {first.pk}
    assert found("search=335%201032246") == {first.pk}
    order = [r["id"] for r in client.get("/api/v1/tickets/?ordering=created_at").json()["results"]]
    assert order == [first.pk, second.pk]
    newest_first = [r["id"] for r in client.get("/api/v1/tickets/").json()["results"]]
    assert newest_first == [second.pk, first.pk]
    assert "status" in assert_error(client.get("/api/v1/tickets/?status=nope"), 400)["fields"]


def test_an_unknown_ticket_is_a_404_in_the_error_shape(manager):
    client = token_client(manager)
    assert_error(client.get("/api/v1/tickets/999999/"), 404, "not_found")
    comment = client.post("/api/v1/tickets/999999/comments/", {"text": "x"}, format="json")
    assert_error(comment, 404, "not_found")
    status = client.post("/api/v1/tickets/999999/status/", {"status": "closed"}, format="json")
    assert_error(status, 404, "not_found")


# --- comments -------------------------------------------------------------------------------


def test_inside_the_window_a_comment_goes_to_the_customer_as_text(
    manager, giulia_ticket, graph, post
):
    response = post(
        token_client(manager),
        f"/api/v1/tickets/{giulia_ticket.pk}/comments/",
        {"text": "A courier will call you tomorrow."},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["author_kind"], body["author"], body["internal"]) == ("staff", manager.pk, False)
    assert body["message_status"] == "queued"  # answered when queued; delivery runs after commit
    [sent] = graph_bodies(graph)
    assert sent["to"] == "393351032246"
    assert sent["type"] == "text"
    assert sent["text"]["body"] == "A courier will call you tomorrow."
    comment = TicketComment.objects.select_related("message").get(pk=body["id"])
    assert comment.message.status == "sent"
    giulia_ticket.refresh_from_db()
    assert giulia_ticket.status == "waiting_for_response"


def test_a_retried_comment_with_the_same_idempotency_key_is_sent_once(
    manager, giulia_ticket, graph, django_capture_on_commit_callbacks
):
    client = token_client(manager)
    path = f"/api/v1/tickets/{giulia_ticket.pk}/comments/"

    def comment(text, key):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(path, {"text": text}, format="json", HTTP_IDEMPOTENCY_KEY=key)

    first = comment("On its way.", "c-1")
    again = comment("On its way.", "c-1")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert TicketComment.objects.count() == 1
    assert len(graph_bodies(graph)) == 1
    assert_error(comment("Something else.", "c-1"), 409, "idempotency_key_reused")
    assert len(graph_bodies(graph)) == 1


def test_outside_the_window_a_comment_goes_with_the_channels_utility_template(
    manager, wa_channel, giulia, template, graph, post
):
    wa_channel.utility_template = template
    wa_channel.utility_template_parameters = ["contact.name", "ticket.number", "comment.text"]
    wa_channel.save()
    ticket = make_ticket(giulia, wa_channel)
    closed_window(wa_channel, giulia, ticket)
    response = post(
        token_client(manager), f"/api/v1/tickets/{ticket.pk}/comments/", {"text": "Shipped\ntoday"}
    )
    assert response.status_code == 201, response.content
    [sent] = graph_bodies(graph)
    assert sent["type"] == "template"
    assert sent["template"]["name"] == "order_update"
    assert sent["template"]["language"]["code"] == "it"
    params = sent["template"]["components"][0]["parameters"]
    assert [p["text"] for p in params] == ["Giulia", ticket.number, "Shipped today"]
    comment = TicketComment.objects.select_related("message").get(pk=response.json()["id"])
    assert comment.text == "Shipped\ntoday"
    assert comment.message.template == template


def test_outside_the_window_without_a_utility_template_the_comment_is_refused(
    manager, wa_channel, giulia, graph, post
):
    ticket = make_ticket(giulia, wa_channel)
    closed_window(wa_channel, giulia, ticket)
    response = post(
        token_client(manager), f"/api/v1/tickets/{ticket.pk}/comments/", {"text": "Hello"}
    )
    error = assert_error(response, 422, "outside_window_no_template")
    assert "no utility template is configured" in error["message"]
    assert graph_bodies(graph) == []
    assert not Message.objects.exists()
    assert not TicketComment.objects.exists()
    ticket.refresh_from_db()
    assert ticket.status == "open"


def test_a_closed_ticket_refuses_replies_with_its_code(manager, giulia_ticket, graph, post):
    giulia_ticket.status = "closed"
    giulia_ticket.save()
    response = post(
        token_client(manager), f"/api/v1/tickets/{giulia_ticket.pk}/comments/", {"text": "Hi"}
    )
    assert_error(response, 422, "ticket_closed")
    assert graph_bodies(graph) == []


def test_an_internal_note_is_stored_and_never_sent(manager, giulia_ticket, graph, post):
    response = post(
        token_client(manager),
        f"/api/v1/tickets/{giulia_ticket.pk}/comments/",
        {"text": "Customer is a VIP", "internal": True},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["internal"], body["message"], body["message_status"]) == (True, None, None)
    assert graph_bodies(graph) == []
    assert not Message.objects.filter(direction="out").exists()
    giulia_ticket.refresh_from_db()
    assert giulia_ticket.status == "open"


def test_quality_control_may_not_comment_or_change_status(quality, giulia_ticket, graph, post):
    client = token_client(quality)
    for path, body in (
        ("comments", {"text": "Hi"}),
        ("comments", {"text": "note", "internal": True}),
        ("status", {"status": "closed"}),
    ):
        response = post(client, f"/api/v1/tickets/{giulia_ticket.pk}/{path}/", body)
        error = assert_error(response, 403, "permission_denied")
        assert "Quality control can read but not write" in error["message"]
    assert not TicketComment.objects.exists()
    assert graph_bodies(graph) == []
    giulia_ticket.refresh_from_db()
    assert giulia_ticket.status == "open"


def test_an_empty_comment_is_a_field_error(manager, giulia_ticket):
    response = token_client(manager).post(
        f"/api/v1/tickets/{giulia_ticket.pk}/comments/", {"text": "  "}, format="json"
    )
    assert "text" in assert_error(response, 400, "invalid")["fields"]


def test_an_account_key_replies_as_the_system_on_its_own_channels(
    wa_key, giulia_ticket, graph, post
):
    response = post(
        key_client(wa_key), f"/api/v1/tickets/{giulia_ticket.pk}/comments/", {"text": "Shipped!"}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["author_kind"], body["author"], body["author_name"]) == ("staff", None, None)
    [sent] = graph_bodies(graph)
    assert sent["text"]["body"] == "Shipped!"
    assert Message.objects.get(direction="out").sent_by is None


def test_an_account_key_may_not_add_internal_notes(wa_key, giulia_ticket, post):
    response = post(
        key_client(wa_key),
        f"/api/v1/tickets/{giulia_ticket.pk}/comments/",
        {"text": "note", "internal": True},
    )
    assert "Internal notes are for staff" in assert_error(response, 403)["message"]
    assert not TicketComment.objects.exists()


def test_an_account_key_may_not_reply_on_another_accounts_channel(
    shop, shop_key, wa_channel, giulia_ticket, graph, post
):
    # The shop sees Giulia (it upserted her) but may not send on the WhatsApp account's line.
    key_client(shop_key).post("/api/v1/contacts/", {"phone": "+393351032246"})
    response = post(
        key_client(shop_key), f"/api/v1/tickets/{giulia_ticket.pk}/comments/", {"text": "Hi"}
    )
    error = assert_error(response, 403, "not_writable")
    assert "Support line" in error["message"]
    assert graph_bodies(graph) == []
    assert not TicketComment.objects.exists()


# --- status ---------------------------------------------------------------------------------


def test_a_manager_closes_and_reopens_a_ticket(manager, giulia_ticket, post):
    client = token_client(manager)
    path = f"/api/v1/tickets/{giulia_ticket.pk}/status/"
    closed = post(client, path, {"status": "closed"})
    assert closed.status_code == 200, closed.content
    assert closed.json()["status"] == "closed"
    assert closed.json()["closed_at"]
    assert closed.json()["comments"] == []
    reopened = post(client, path, {"status": "open"}).json()
    assert (reopened["status"], reopened["closed_at"]) == ("open", None)
    giulia_ticket.refresh_from_db()
    assert giulia_ticket.status == "open"


def test_an_invalid_status_is_a_field_error(manager, giulia_ticket):
    response = token_client(manager).post(
        f"/api/v1/tickets/{giulia_ticket.pk}/status/", {"status": "solved"}, format="json"
    )
    error = assert_error(response, 400, "invalid")
    assert "status" in error["fields"]
    giulia_ticket.refresh_from_db()
    assert giulia_ticket.status == "open"


def test_reopening_while_the_contact_has_another_open_ticket_is_a_conflict(
    manager, wa_channel, giulia, giulia_ticket, post
):
    old = make_ticket(giulia, wa_channel, status="closed")
    response = post(token_client(manager), f"/api/v1/tickets/{old.pk}/status/", {"status": "open"})
    error = assert_error(response, 409, "another_ticket_open")
    assert giulia_ticket.number in error["message"]
    old.refresh_from_db()
    assert old.status == "closed"


def test_an_account_key_changes_the_status_of_a_ticket_it_sees(wa_key, giulia_ticket, post):
    response = post(
        key_client(wa_key), f"/api/v1/tickets/{giulia_ticket.pk}/status/", {"status": "closed"}
    )
    assert response.status_code == 200, response.content
    giulia_ticket.refresh_from_db()
    assert giulia_ticket.status == "closed"


# --- no query per row -----------------------------------------------------------------------


def _count_queries(client, path):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
        assert response.status_code == 200, response.content
    return len(queries)


@pytest.mark.parametrize("who", ["manager", "rep1", "wa_key"])
def test_the_ticket_list_does_not_grow_with_rows(request, who, wa_channel, rep1, manager):
    client = key_client(request.getfixturevalue("wa_key")) if who == "wa_key" else None
    client = client or token_client(request.getfixturevalue(who))

    def add_rows(start, count):
        for n in range(start, start + count):
            contact = Contact.objects.create(phone=f"+3933510300{n:02d}", responsible=rep1)
            ticket = make_ticket(contact, wa_channel, assignee=manager)
            Conversation.objects.create(channel=wa_channel, contact=contact, ticket=ticket)
            TicketComment.objects.create(ticket=ticket, author_kind="customer", text="hi")

    add_rows(0, 2)
    few = _count_queries(client, "/api/v1/tickets/")
    add_rows(2, 10)
    assert _count_queries(client, "/api/v1/tickets/") == few
    assert client.get("/api/v1/tickets/").json()["count"] == 12


def test_a_ticket_does_not_grow_in_queries_with_its_comments(
    manager, wa_channel, giulia_ticket, rep1
):
    client = token_client(manager)
    path = f"/api/v1/tickets/{giulia_ticket.pk}/"
    conversation = giulia_ticket.conversations.get()

    def add(count):
        for n in range(count):
            message = Message.objects.create(
                channel=wa_channel, conversation=conversation, direction="out", status="sent"
            )
            TicketComment.objects.create(
                ticket=giulia_ticket,
                author=rep1 if n % 2 else manager,
                author_kind="staff",
                text=f"reply {n}",
                message=message,
            )
            Conversation.objects.create(
                channel=wa_channel,
                contact=giulia_ticket.contact,
                ticket=giulia_ticket,
                status="closed",
            )

    add(2)
    few = _count_queries(client, path)
    add(10)
    assert _count_queries(client, path) == few
    assert len(client.get(path).json()["comments"]) == 12
