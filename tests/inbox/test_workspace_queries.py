"""The workspace never runs a query per row: list rows with labels, and the conversation page
with notes, ticket comments, addresses and earlier conversations, cost the same at 3 or 30."""

import pytest
from django.utils import timezone

from crm.models import ContactAddress
from messaging.models import Conversation
from tests.inbox.test_pages import add_clients, count_queries
from tickets.models import Ticket, TicketComment
from tickets.models_inbox import ConversationNote, Label

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/inbox/", "/inbox/list.json", "/inbox/?label=LABEL"])
def test_the_list_with_labels_runs_the_same_queries_for_3_or_30_rows(client, channel, people, url):
    labels = [Label.objects.create(name=f"L{n}", colour="#123456") for n in range(3)]
    url = url.replace("LABEL", str(labels[0].pk))
    client.force_login(people["rep"])

    def label_all():
        for label in labels:
            label.conversations.add(*Conversation.objects.all())

    add_clients(channel, people["rep"], 3)
    label_all()
    few = count_queries(client, url)
    add_clients(channel, people["rep"], 27, start=200)
    label_all()
    assert count_queries(client, url) == few
    # Every row carries its three chips.
    html = client.get(url).content.decode().replace('\\"', '"')
    assert html.count('class="chip"') == 3 * 30


def test_the_conversation_page_does_not_grow_with_notes_comments_or_addresses(
    client, clients, people, rr_channel
):
    conversation = clients["own"]
    contact = conversation.contact
    ticket = Ticket.objects.create(number="TT1", title="t", contact=contact)
    Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
    client.force_login(people["rep"])
    url = f"/inbox/c/{conversation.pk}/"

    def grow(n):
        for i in range(n):
            ConversationNote.objects.create(
                conversation=conversation, author=people["rep"], text=f"note {i}"
            )
            TicketComment.objects.create(
                ticket=ticket,
                author=people["manager"] if i % 2 else None,
                author_kind="staff" if i % 2 else "customer",
                text=f"c{i}",
                created_at=timezone.now(),
            )
            ContactAddress.objects.create(
                contact=contact, transport="telegram", address=f"{len(url)}{i}{n}"
            )
            Conversation.objects.create(
                channel=rr_channel, contact=contact, status="closed", closed_at=timezone.now()
            )
            Label.objects.create(name=f"label {n}-{i}").conversations.add(conversation)

    grow(2)
    few = count_queries(client, url)
    grow(15)
    assert count_queries(client, url) == few
    html = client.get(url).content.decode()
    assert html.count('class="note"') == 17
    assert html.count('<li class="staff internal') + html.count('<li class="staff') >= 8
