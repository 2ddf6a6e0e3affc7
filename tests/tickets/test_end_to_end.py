"""The helpdesk end to end, over real HTTP through the sandbox: what `make run` does.

A customer types on the sandbox's customer page; the sandbox posts the signed webhook to
Switchboard's real webhook URL, and a lead, a conversation and a ticket appear. Staff comments
(from the service and from the admin ticket page) go out through the real WhatsApp Cloud provider
to the sandbox, whose signed status webhooks bring them to `read`. A day later the closing job
ends the conversation; the customer's next message opens a new one on the same ticket, and a
comment after the window goes out as the synced utility template.

Time travel and the live server mix: time-machine moves the wall clock of every thread of the
process (the live server's included), so both sides agree on "now", while the sandbox paces its
status webhooks with `time.monotonic()`, which time-machine leaves alone. The test waits for each
message's last status before moving time, so no status thread spans a jump.
"""

import re
import time
from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact
from integrations.models import SyncJob
from integrations.services import sync_job_run
from messaging.models import Conversation, Message, MessageTemplate
from messaging.sandbox import emulator
from messaging.services import conversations_close_expired, templates_sync
from tickets.models import Ticket, TicketComment
from tickets.services import TicketRefused, channel_helpdesk_defaults_apply, ticket_comment_add

from .conftest import staff_user

pytestmark = pytest.mark.django_db(transaction=True)
CUSTOMER = "393331234567"


@pytest.fixture
def sandbox(settings, live_server, wa_channel):
    settings.SANDBOX_ENABLED = True
    settings.PUBLIC_BASE_URL = live_server.url
    settings.GRAPH_API_BASE_URL = f"{live_server.url}/sandbox/graph"
    settings.SANDBOX_STATUS_DELAY = 0.05  # sent/delivered/read within about 0.1 s
    settings.CONVERSATION_LIFETIME_HOURS = 24
    settings.LANGUAGE_CODE = "en"
    # The emulator keeps its chats in memory for the whole process: start from an empty one.
    emulator.reset()
    yield live_server.url
    emulator.reset()


def wait_for(predicate, seconds=15.0):
    """Poll until `predicate()` is truthy or the time is up; return its last value."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


def chat_url(base, channel) -> str:
    return f"{base}/sandbox/chat/{channel.external_id}/{CUSTOMER}/"


def customer_types(base, channel, text):
    session = requests.Session()
    chat = chat_url(base, channel)
    assert session.get(chat, timeout=10).status_code == 200
    response = session.post(
        chat + "send",
        json={"kind": "text", "text": text, "name": "Sandbox Customer"},
        headers={"X-CSRFToken": session.cookies.get("csrftoken", "")},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert response.json()["webhook_status"] == 200
    return wait_for(lambda: Message.objects.filter(direction="in", text=text).first())


def business_bubbles(base, channel) -> list[dict]:
    state = requests.get(chat_url(base, channel) + "state", timeout=10).json()
    return [m for m in state["messages"] if m["from"] == "business"]


def status_of(message: Message) -> str:
    return Message.objects.get(pk=message.pk).status


def test_the_helpdesk_runs_end_to_end_through_the_sandbox(
    sandbox, wa_channel, wa_account, admin_client, time_machine
):
    manager = staff_user("manager")

    # 1. A message typed on the sandbox opens a lead, a conversation and a ticket.
    first = customer_types(sandbox, wa_channel, "My router blinks red since this morning")
    contact = Contact.objects.get()
    assert (contact.phone, contact.kind, contact.name) == (
        "+393331234567",
        "lead",
        "Sandbox Customer",
    )
    conversation = Conversation.objects.get()
    assert conversation.status == "open"
    ticket = wait_for(lambda: Ticket.objects.filter(contact=contact).first())
    assert conversation.ticket_id == ticket.pk
    assert ticket.number == f"TT{ticket.pk}"
    local = timezone.localtime(first.provider_timestamp)
    assert ticket.title == f"{local:%Y-%m-%d %H:%M:%S} - +393331234567"
    assert (
        ticket.description == f"{local:%Y-%m-%d %H:%M:%S}\nMy router blinks red since this morning"
    )
    assert ticket.status == "open"

    # 2. A staff comment (the service) reaches the sandbox customer and comes back as read.
    comment = ticket_comment_add(ticket=ticket, author=manager, text="We are checking your line.")
    assert comment.message.type == "text"
    assert wait_for(lambda: status_of(comment.message) == "read"), status_of(comment.message)
    reply = Message.objects.get(pk=comment.message_id)
    assert reply.provider_message_id.startswith("wamid.")
    assert reply.sent_at and reply.delivered_at and reply.read_at
    bubbles = business_bubbles(sandbox, wa_channel)
    assert [(b["text"], b["status"]) for b in bubbles] == [("We are checking your line.", "read")]
    ticket.refresh_from_db()
    assert ticket.status == "waiting_for_response"

    # 3. The comment form of the admin ticket page sends too, and the page shows the ticks.
    ticket_page = reverse("admin:tickets_ticket_change", args=[ticket.pk])
    response = admin_client.post(
        reverse("admin:tickets_ticket_comment", args=[ticket.pk]),
        {"text": "A technician calls you at 3 pm."},
    )
    assert response.status_code == 302 and response.url == ticket_page
    from_admin = TicketComment.objects.get(text="A technician calls you at 3 pm.")
    assert from_admin.author.username == "admin"
    assert wait_for(lambda: status_of(from_admin.message) == "read")
    assert [b["text"] for b in business_bubbles(sandbox, wa_channel)][-1] == (
        "A technician calls you at 3 pm."
    )
    page = admin_client.get(ticket_page).content.decode()
    assert page.count("✓✓ read") == 2
    assert "My router blinks red since this morning" in page

    # 4. A day later the scheduled job closes the conversation; the next message opens a new one
    #    that joins the same ticket as a customer comment.
    time_machine.move_to(timezone.now() + timedelta(hours=25))
    job = SyncJob.objects.create(name="close_conversations", every_seconds=300)
    run = sync_job_run(job_id=job.pk, manual=True)
    assert run.counts["conversations_closed"] == 1, run.error
    conversation.refresh_from_db()
    assert (conversation.status, conversation.closed_at is not None) == ("closed", True)

    later = customer_types(sandbox, wa_channel, "Nobody called me")
    second = later.conversation
    assert second.pk != conversation.pk and second.status == "open"
    assert second.ticket_id == ticket.pk
    assert Ticket.objects.count() == 1
    ticket.refresh_from_db()
    assert ticket.status == "customer_responded"
    assert ticket.comments.filter(author_kind="customer").get().message_id == later.pk

    # 5. Another day on, the window is closed: without a utility template a comment is refused
    #    before anything is sent.
    time_machine.move_to(timezone.now() + timedelta(hours=25))
    assert conversations_close_expired() == 1
    sent_before = len(business_bubbles(sandbox, wa_channel))
    with pytest.raises(TicketRefused, match="no utility template"):
        ticket_comment_add(ticket=ticket, author=manager, text="Are you still there?")
    assert len(business_bubbles(sandbox, wa_channel)) == sent_before

    # 6. With the sandbox's templates synced and the channel set up as a helpdesk line, the
    #    comment goes out as the approved `ticket_update` template and is read.
    templates_sync(account=wa_account)
    assert MessageTemplate.objects.filter(name="ticket_update", status="APPROVED").count() == 2
    chosen = channel_helpdesk_defaults_apply(channel=wa_channel)
    assert (chosen.name, chosen.language) == ("ticket_update", "en_US")
    templated = ticket_comment_add(ticket=ticket, author=manager, text="Your line is fixed.")
    message = templated.message
    assert (message.type, message.template_id) == ("template", chosen.pk)
    assert wait_for(lambda: status_of(message) == "read"), status_of(message)
    last = business_bubbles(sandbox, wa_channel)[-1]
    assert last["type"] == "template"
    news = f"there is news on your request {ticket.number}: Your line is fixed."
    assert last["text"] == f"Hello Sandbox Customer, {news}"
    third = Conversation.objects.get(pk=message.conversation_id)
    assert third.pk not in (conversation.pk, second.pk)
    assert third.ticket_id == ticket.pk
    assert third.started_by_template_id == chosen.pk
    ticket.refresh_from_db()
    assert ticket.status == "waiting_for_response"
    assert list(ticket.comments.values_list("author_kind", flat=True)) == [
        "staff",
        "staff",
        "customer",
        "staff",
    ]
    assert re.fullmatch(r"TT\d+", ticket.number)
