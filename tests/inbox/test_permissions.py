"""The permission matrix: three roles x what they do x whose client it is, on the services and on
the inbox pages. Expected outcomes are spelled out per cell so a loosened rule fails a row."""

import pytest

from messaging.models import Conversation, Message
from messaging.services import MessageRefused
from tickets.models import Ticket
from tickets.routing import (
    RoutingRefused,
    conversation_reply,
    conversation_reply_template,
    conversation_transfer,
)
from tickets.services import ticket_comment_add

pytestmark = pytest.mark.django_db

CLIENTS = ("own", "others", "unclaimed")
ROLES = ("rep", "manager", "quality")

# Who may see each client (list and open).
SEES = {
    "rep": {"own": True, "others": False, "unclaimed": True},
    "manager": {"own": True, "others": True, "unclaimed": True},
    "quality": {"own": True, "others": True, "unclaimed": True},
}
# Who may write to each client (reply and template).
WRITES = {
    "rep": {"own": True, "others": False, "unclaimed": True},
    "manager": {"own": True, "others": True, "unclaimed": True},
    "quality": {"own": False, "others": False, "unclaimed": False},
}
# Only managers transfer.
TRANSFERS = {role: {client: role == "manager" for client in CLIENTS} for role in ROLES}

MATRIX = [(role, client) for role in ROLES for client in CLIENTS]


def reaches_reply(role, who):
    # Every client here wrote to the rep's channel: a rep replying to one a colleague holds is
    # told who has it (and sends nothing) rather than getting a 404.
    return SEES[role][who] or role == "rep"


def outbound_count(conversation):
    return Message.objects.filter(
        conversation__contact=conversation.contact, direction="out"
    ).count()


@pytest.fixture
def tickets(clients):
    """An open ticket for each client, linked to their conversation."""
    result = {}
    for key, conversation in clients.items():
        ticket = Ticket.objects.create(
            number=f"TT-{key}",
            title=f"Ticket of {key}",
            contact=conversation.contact,
            channel=conversation.channel,
        )
        Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
        result[key] = ticket
    return result


# --- services -----------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "client"), MATRIX)
def test_reply_service(people, clients, role, client):
    conversation = clients[client]
    if WRITES[role][client]:
        message = conversation_reply(conversation=conversation, user=people[role], text="Hi")
        assert message.sent_by == people[role]
        assert outbound_count(conversation) == 1
    else:
        with pytest.raises(MessageRefused):
            conversation_reply(conversation=conversation, user=people[role], text="Hi")
        assert outbound_count(conversation) == 0


@pytest.mark.parametrize(("role", "client"), MATRIX)
def test_template_service(people, clients, template, role, client):
    conversation = clients[client]
    call = {
        "conversation": conversation,
        "user": people[role],
        "template": template,
        "body_params": ["Ann", "#1"],
    }
    if WRITES[role][client]:
        message = conversation_reply_template(**call)
        assert message.text == "Hello Ann, your order #1 is ready."
    else:
        with pytest.raises(MessageRefused):
            conversation_reply_template(**call)
        assert outbound_count(conversation) == 0


@pytest.mark.parametrize(("role", "client"), MATRIX)
def test_transfer_service(people, clients, role, client):
    conversation = clients[client]
    target = people["other"] if client != "others" else people["rep"]
    if TRANSFERS[role][client]:
        conversation_transfer(conversation=conversation, to_user=target, actor=people[role])
        conversation.refresh_from_db()
        assert conversation.assignee == target
        assert conversation.contact.responsible == target
    else:
        before = conversation.assignee_id
        with pytest.raises(RoutingRefused):
            conversation_transfer(conversation=conversation, to_user=target, actor=people[role])
        conversation.refresh_from_db()
        assert conversation.assignee_id == before


@pytest.mark.parametrize("internal", [False, True], ids=["public", "internal"])
@pytest.mark.parametrize(("role", "client"), MATRIX)
def test_ticket_comment_service(people, clients, tickets, role, client, internal):
    ticket, conversation = tickets[client], clients[client]
    call = {"ticket": ticket, "author": people[role], "text": "On it", "internal": internal}
    if WRITES[role][client]:
        comment = ticket_comment_add(**call)
        assert comment.author == people[role]
        assert (comment.message_id is None) is internal
    else:
        with pytest.raises(MessageRefused):
            ticket_comment_add(**call)
    assert ticket.comments.count() == (1 if WRITES[role][client] else 0)
    sent = WRITES[role][client] and not internal
    assert outbound_count(conversation) == (1 if sent else 0)


def test_a_transfer_to_quality_control_is_refused(people, clients):
    with pytest.raises(RoutingRefused, match="cannot take"):
        conversation_transfer(
            conversation=clients["own"], to_user=people["quality"], actor=people["manager"]
        )


# --- pages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_list_and_open_pages(client, people, clients, role, who):
    client.force_login(people[role])
    listed = {c.pk for c in client.get("/inbox/").context["conversations"]}
    assert (clients[who].pk in listed) is SEES[role][who]
    polled = client.get("/inbox/list.json").json()["rows"]
    assert (clients[who].pk in {row["id"] for row in polled}) is SEES[role][who]
    page = client.get(f"/inbox/c/{clients[who].pk}/")
    assert page.status_code == (200 if SEES[role][who] else 404)
    if SEES[role][who]:
        has_reply_box = b'id="reply-form"' in page.content
        assert has_reply_box is WRITES[role][who]


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_reply_page(client, people, clients, role, who):
    client.force_login(people[role])
    conversation = clients[who]
    response = client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "Hello there"})
    assert response.status_code == (302 if reaches_reply(role, who) else 404)
    assert outbound_count(conversation) == (1 if WRITES[role][who] else 0)


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_template_page(client, people, clients, template, role, who):
    client.force_login(people[role])
    conversation = clients[who]
    response = client.post(
        f"/inbox/c/{conversation.pk}/template",
        {"template": template.pk, "body_params": ["Ann", "#7"]},
    )
    assert response.status_code == (302 if reaches_reply(role, who) else 404)
    assert outbound_count(conversation) == (1 if WRITES[role][who] else 0)


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_transfer_page(client, people, clients, role, who):
    client.force_login(people[role])
    conversation = clients[who]
    target = people["other"] if who != "others" else people["rep"]
    response = client.post(f"/inbox/c/{conversation.pk}/transfer", {"to_user": target.pk})
    assert response.status_code == (302 if SEES[role][who] else 404)
    conversation.refresh_from_db()
    assert (conversation.assignee == target) is TRANSFERS[role][who]


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_ticket_comment_admin_form(client, people, clients, tickets, role, who):
    # The comment box of the admin ticket page, posted directly (quality control has no box).
    client.force_login(people[role])
    ticket = tickets[who]
    response = client.post(f"/admin/tickets/ticket/{ticket.pk}/comment/", {"text": "On it"})
    assert response.status_code == (302 if SEES[role][who] else 404)
    assert ticket.comments.count() == (1 if WRITES[role][who] else 0)
    assert outbound_count(clients[who]) == (1 if WRITES[role][who] else 0)


def test_quality_control_sees_no_reply_box_and_a_readonly_note(client, people, clients):
    client.force_login(people["quality"])
    page = client.get(f"/inbox/c/{clients['own'].pk}/").content.decode()
    assert 'id="reply-form"' not in page
    assert 'id="template-form"' not in page
    assert 'id="readonly-note"' in page


def test_anonymous_users_are_sent_to_the_login(client, clients):
    response = client.get("/inbox/")
    assert response.status_code == 302
    assert "/login/" in response.url
    assert client.get(f"/inbox/c/{clients['own'].pk}/poll.json").status_code == 302


def test_the_agent_who_replies_second_learns_who_took_the_client(client, people, clients):
    conversation = clients["unclaimed"]
    conversation_reply(conversation=conversation, user=people["other"], text="Mine now")
    client.force_login(people["rep"])
    response = client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "Hello"}, follow=True)
    assert response.redirect_chain[-1][0] == "/inbox/"
    assert "Already taken by Other." in response.content.decode()
    assert outbound_count(conversation) == 1


def test_a_rep_posting_to_a_conversation_off_their_channels_gets_a_404(
    client, people, clients, rr_channel
):
    outsider = people["other"]
    outsider.agent_profile.channels.set([rr_channel])
    client.force_login(outsider)
    response = client.post(f"/inbox/c/{clients['own'].pk}/reply", {"text": "Hi"})
    assert response.status_code == 404
    assert outbound_count(clients["own"]) == 0
