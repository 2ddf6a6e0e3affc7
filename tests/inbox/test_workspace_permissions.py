"""The workspace's write endpoints for each role and each client (quality control reads only, a
sales rep writes to their own clients, a manager to all), and the reply box's rules that a
browser cannot reach: refusals before upload, the document-link fallback, canned variables."""

from datetime import timedelta
from unittest.mock import patch

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from crm.models import Company
from messaging.models import Conversation, DocumentLink, Message
from messaging.providers.whatsapp_cloud import WhatsAppCloudProvider
from tests.inbox.conftest import inbound
from tests.inbox.test_browser_actions import png
from tickets.models import Ticket
from tickets.models_inbox import CannedResponse, ConversationNote, Label
from tickets.services_inbox import InboxRefused, canned_response_render, conversation_compose_send

pytestmark = pytest.mark.django_db

ROLES = ("rep", "manager", "quality")
CLIENTS = ("own", "others", "unclaimed")
# What each role may see and change, per client of the sales rep `rep`.
SEES = {
    "rep": {"own": True, "others": False, "unclaimed": True},
    "manager": dict.fromkeys(CLIENTS, True),
    "quality": dict.fromkeys(CLIENTS, True),
}
WRITES = {
    "rep": {"own": True, "others": False, "unclaimed": True},
    "manager": dict.fromkeys(CLIENTS, True),
    "quality": dict.fromkeys(CLIENTS, False),
}
MATRIX = [(role, client) for role in ROLES for client in CLIENTS]


def post(client, user, url, data):
    client.force_login(user)
    return client.post(url, data)


def outcome(response, role, who):
    """404 for a client the user may not see; else back to the conversation page."""
    if not SEES[role][who]:
        assert response.status_code == 404
        return False
    assert response.status_code == 302
    return True


def errors(response):
    return [m.message for m in get_messages(response.wsgi_request) if m.level_tag == "error"]


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_it_adds_a_note_only_for_writers(client, people, clients, role, who):
    conversation = clients[who]
    response = post(
        client, people[role], f"/inbox/c/{conversation.pk}/note", {"text": "Call at noon"}
    )
    outcome(response, role, who)
    written = ConversationNote.objects.filter(conversation=conversation).exists()
    assert written is WRITES[role][who]
    if SEES[role][who] and not WRITES[role][who]:
        assert errors(response) == ["You may not change this client's records."]
    assert not Message.objects.filter(direction="out").exists()  # a note is never sent


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_it_adds_and_removes_labels_only_for_writers(client, people, clients, role, who):
    conversation = clients[who]
    vip = Label.objects.create(name="VIP")
    url = f"/inbox/c/{conversation.pk}/labels"
    outcome(post(client, people[role], url, {"action": "add", "label": vip.pk}), role, who)
    assert conversation.labels.filter(pk=vip.pk).exists() is WRITES[role][who]
    vip.conversations.add(conversation)
    outcome(post(client, people[role], url, {"action": "remove", "label": vip.pk}), role, who)
    assert conversation.labels.filter(pk=vip.pk).exists() is not WRITES[role][who]


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_it_edits_the_ticket_only_for_writers(client, people, clients, role, who):
    conversation = clients[who]
    ticket = Ticket.objects.create(number=f"TT-{who}", title="t", contact=conversation.contact)
    Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
    data = {"status": "waiting_for_response", "priority": "high", "assignee": people[role].pk}
    response = post(client, people[role], f"/inbox/c/{conversation.pk}/ticket", data)
    outcome(response, role, who)
    ticket.refresh_from_db()
    changed = (ticket.status, ticket.priority, ticket.assignee_id) == (
        "waiting_for_response",
        "high",
        people[role].pk,
    )
    assert changed is WRITES[role][who]
    if not WRITES[role][who]:
        assert (ticket.status, ticket.priority, ticket.assignee_id) == ("open", "normal", None)


def test_a_sales_rep_cannot_give_the_ticket_to_a_colleague(client, people, clients):
    conversation = clients["own"]
    ticket = Ticket.objects.create(number="TT1", title="t", contact=conversation.contact)
    Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
    data = {"status": "open", "priority": "normal", "assignee": people["other"].pk}
    response = post(client, people["rep"], f"/inbox/c/{conversation.pk}/ticket", data)
    assert errors(response) == ["Only managers give a ticket to someone else."]
    ticket.refresh_from_db()
    assert ticket.assignee is None
    # A manager may.
    post(client, people["manager"], f"/inbox/c/{conversation.pk}/ticket", data)
    ticket.refresh_from_db()
    assert ticket.assignee == people["other"]


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_it_edits_the_contact_only_for_writers(client, people, clients, role, who):
    conversation = clients[who]
    data = {"name": "New Name", "email": "new@example.com", "company": "Acme"}
    response = post(client, people[role], f"/inbox/c/{conversation.pk}/contact", data)
    outcome(response, role, who)
    contact = conversation.contact
    contact.refresh_from_db()
    assert (contact.name == "New Name") is WRITES[role][who]
    assert Company.objects.filter(name="Acme").exists() is WRITES[role][who]


def test_a_bad_email_is_refused_and_nothing_changes(client, people, clients):
    conversation = clients["own"]
    data = {"name": "X", "email": "nope", "company": ""}
    response = post(client, people["rep"], f"/inbox/c/{conversation.pk}/contact", data)
    assert errors(response) == ["Enter a valid email address."]
    conversation.contact.refresh_from_db()
    assert conversation.contact.name == "Own"


def test_a_company_of_someone_else_is_not_taken_over(client, people, clients):
    Company.objects.create(name="Other Srl", responsible=people["other"])
    conversation = clients["own"]
    data = {"name": "Own", "email": "", "company": "other srl"}
    response = post(client, people["rep"], f"/inbox/c/{conversation.pk}/contact", data)
    assert "is not yours" in errors(response)[0]
    conversation.contact.refresh_from_db()
    assert conversation.contact.company is None


@pytest.fixture
def uploads():
    """The provider's media upload, at its one seam: records what was uploaded."""
    with patch.object(
        WhatsAppCloudProvider, "media_upload", autospec=True, return_value="media-1"
    ) as upload:
        yield upload


@pytest.mark.parametrize(("role", "who"), MATRIX)
def test_it_sends_an_attachment_only_for_writers(
    client, people, clients, uploads, settings, tmp_path, role, who
):
    settings.MEDIA_ROOT = tmp_path
    conversation = clients[who]
    client.force_login(people[role])
    response = client.post(
        f"/inbox/c/{conversation.pk}/reply",
        {"text": "", "attachment": SimpleUploadedFile("a.png", png(), content_type="image/png")},
    )
    sent = Message.objects.filter(direction="out", type="image").first()
    if role == "rep" and who == "others":
        # The rep replying to a colleague's client is told who has it, on the list.
        assert response.status_code == 302 and response.url == "/inbox/"
    elif not SEES[role][who]:
        assert response.status_code == 404
    assert (sent is not None) is WRITES[role][who]
    assert uploads.called is WRITES[role][who]  # nothing uploaded for a refused send
    if sent is not None:
        assert sent.payload["media"] == {"id": "media-1"}
        assert sent.sent_by == people[role]
        assert sent.media_file.read() == png()


def test_a_file_too_large_for_the_channel_is_refused_before_upload(
    client, people, clients, uploads
):
    conversation = clients["own"]
    client.force_login(people["rep"])
    big = b"\x89PNG" + b"\0" * (5 * 1024 * 1024 + 1)
    response = client.post(
        f"/inbox/c/{conversation.pk}/reply",
        {"attachment": SimpleUploadedFile("big.png", big, content_type="image/png")},
    )
    assert "this channel takes at most" in errors(response)[0]
    assert not uploads.called
    assert not Message.objects.filter(direction="out").exists()


def test_a_closed_window_refuses_the_attachment_before_upload(client, people, clients, uploads):
    conversation = clients["own"]
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    client.force_login(people["rep"])
    response = client.post(
        f"/inbox/c/{conversation.pk}/reply",
        {"attachment": SimpleUploadedFile("a.png", png(), content_type="image/png")},
    )
    assert "window is closed" in errors(response)[0]
    assert not uploads.called
    assert not Message.objects.filter(direction="out").exists()


def test_a_provider_without_media_upload_gets_a_temporary_document_link(
    people, clients, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.PUBLIC_BASE_URL = "https://switchboard.example"
    from messaging.services.attachments import Attachment

    with patch.object(
        WhatsAppCloudProvider, "media_upload", autospec=True, side_effect=NotImplementedError
    ):
        sent = conversation_compose_send(
            conversation=clients["own"],
            user=people["rep"],
            attachments=[Attachment(data=b"%PDF-1.4", filename="offer.pdf")],
        )
    [document] = sent
    assert document.type == "document"
    assert document.payload["media"]["link"].startswith("https://switchboard.example/documents/")
    assert document.payload["media"]["filename"] == "offer.pdf"
    link = DocumentLink.objects.get()
    assert link.filename == "offer.pdf" and link.content_type == "application/pdf"


def test_a_text_with_an_unfilled_variable_is_refused(people, clients):
    with pytest.raises(InboxRefused, match=r"Fill in \{\{order.code\}\}"):
        conversation_compose_send(
            conversation=clients["own"], user=people["rep"], text="Code {{order.code}}"
        )
    assert not Message.objects.filter(direction="out").exists()


def test_a_quote_of_another_clients_message_is_refused(people, clients):
    theirs = inbound(clients["others"], "secret")
    Message.objects.filter(pk=theirs.pk).update(provider_message_id="wamid.X")
    theirs.refresh_from_db()
    with pytest.raises(InboxRefused, match="cannot be quoted"):
        conversation_compose_send(
            conversation=clients["own"], user=people["rep"], text="hi", reply_to=theirs
        )


def test_a_quote_goes_out_with_the_quoted_provider_id(people, clients):
    quoted = inbound(clients["own"], "which size?")
    Message.objects.filter(pk=quoted.pk).update(provider_message_id="wamid.Q")
    quoted.refresh_from_db()
    [reply] = conversation_compose_send(
        conversation=clients["own"], user=people["rep"], text="M", reply_to=quoted
    )
    assert reply.reply_to_provider_id == "wamid.Q"


def test_canned_variables_are_filled_and_the_unknown_ones_listed(people, clients):
    conversation = clients["own"]
    canned = CannedResponse(
        text="Hi {{contact.first_name}}, I am {{agent.name}} ({{ticket.number}}) {{x.y}} "
        "{{contact.first_name}}"
    )
    text, missing = canned_response_render(
        canned=canned, conversation=conversation, user=people["rep"]
    )
    assert text == "Hi Own, I am Rep ({{ticket.number}}) {{x.y}} Own"
    assert missing == ["ticket.number", "x.y"]  # no ticket yet; an unknown name


def test_the_canned_list_shows_shared_and_own_never_a_colleagues(client, people, clients):
    CannedResponse.objects.create(shortcode="shared", title="S", text="s")
    CannedResponse.objects.create(shortcode="mine", title="M", text="m", owner=people["rep"])
    CannedResponse.objects.create(shortcode="theirs", title="T", text="t", owner=people["other"])
    client.force_login(people["rep"])
    found = client.get(f"/inbox/c/{clients['own'].pk}/canned.json").json()["results"]
    assert [c["shortcode"] for c in found] == ["mine", "shared"]
    assert client.get(f"/inbox/c/{clients['others'].pk}/canned.json").status_code == 404


def test_the_workspace_speaks_italian(client, people, clients):
    Label.objects.create(name="VIP")
    client.force_login(people["rep"])
    html = client.get(f"/inbox/c/{clients['own'].pk}/", HTTP_ACCEPT_LANGUAGE="it").content.decode()
    for italian in ("Etichette", "Aggiungi etichetta", "Nota interna", "Modifica contatto"):
        assert italian in html
    assert "Tutte le etichette" in client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="it").content.decode()


def test_notes_json_gives_the_notes_after_a_cursor_to_those_who_see_the_conversation(
    client, people, clients
):
    conversation = clients["own"]
    first = ConversationNote.objects.create(conversation=conversation, text="one")
    second = ConversationNote.objects.create(conversation=conversation, text="two")
    client.force_login(people["quality"])
    url = f"/inbox/c/{conversation.pk}/notes.json"
    body = client.get(f"{url}?after={first.pk}").json()
    assert [row["id"] for row in body["notes"]] == [f"n{second.pk}"]
    assert body["last_id"] == second.pk
    assert client.get(f"{url}?after={second.pk}").json() == {"notes": [], "last_id": second.pk}
    assert client.get(f"{url}?after=x").status_code == 400
    client.force_login(people["rep"])
    assert client.get(f"/inbox/c/{clients['others'].pk}/notes.json").status_code == 404
