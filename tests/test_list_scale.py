"""Lists that do not grow with the table: every list page asks the same number of queries at any
size, no changelist counts or groups over the big tables (only bounded counts and figures for
the rows of the page), searches by phone go through the exact number.

`make bench-pages` measures the same pages at 100k and 1M messages on PostgreSQL."""

import itertools
import re

import pytest
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts import admin_lists
from accounts.models import AgentProfile, Role, User
from crm.models import Contact, ContactAddress, Deal, DealStatus
from crm.services import pipeline_create
from integrations.models import IntegrationAccount
from messaging.admin import ConversationAdmin
from messaging.models import Channel, Conversation, Message
from tickets.models import Ticket, TicketComment

pytestmark = pytest.mark.django_db

CHANGELISTS = {
    "conversations": "/admin/messaging/conversation/",
    "messages": "/admin/messaging/message/",
    "tickets": "/admin/tickets/ticket/",
    "contacts": "/admin/crm/contact/",
    "deals": "/admin/crm/deal/",
    "companies": "/admin/crm/company/",
}
SEARCH = "?q=%2B39%20335%20000%200001"  # "+39 335 000 0001", the first client's phone
PAGES = {
    **CHANGELISTS,
    "messages by phone": CHANGELISTS["messages"] + SEARCH,
    "conversations by phone": CHANGELISTS["conversations"] + SEARCH,
    "tickets by phone": CHANGELISTS["tickets"] + SEARCH,
    "contacts by phone": CHANGELISTS["contacts"] + SEARCH,
    "messages by text": CHANGELISTS["messages"] + "?q=order",
    "api tickets": "/api/v1/tickets/",
    "api conversations": "/api/v1/conversations/",
    "api contacts": "/api/v1/contacts/",
    "api deals": "/api/v1/deals/",
    "inbox": "/inbox/",
    "inbox list": "/inbox/list.json",
}


def staff(username: str, role: str) -> User:
    user = User.objects.create_user(username=username, password="x", is_staff=True)
    AgentProfile.objects.create(user=user, role=role)
    return user


@pytest.fixture
def world(db):
    account = IntegrationAccount.objects.create(
        description="WABA", platform="whatsapp_cloud", settings={}, secrets={}
    )
    channel = Channel.objects.create(
        name="Sales", account=account, provider="whatsapp_cloud", external_id="1001"
    )
    return {
        "channel": channel,
        "manager": staff("manager", Role.MANAGER),
        "rep": staff("rep", Role.SALES_REP),
        "other": staff("other", Role.SALES_REP),
        "pipeline": pipeline_create(name="Sales", stages=["New"]),
        "numbers": itertools.count(1),
    }


def clients_add(world, count: int) -> None:
    """`count` clients, every second one the rep's: a conversation of three messages, a ticket
    with two comments, an open deal each."""
    for _ in range(count):
        n = next(world["numbers"])
        owner = world["rep"] if n % 2 else world["other"]
        contact = Contact.objects.create(
            name=f"Client {n}", phone=f"+39335{n:07d}", responsible=owner
        )
        ContactAddress.objects.create(contact=contact, transport="whatsapp", address=contact.phone)
        ticket = Ticket.objects.create(
            number=f"TT{n}", title="Order", contact=contact, assignee=owner, status="open"
        )
        conversation = Conversation.objects.create(
            channel=world["channel"], contact=contact, assignee=owner, ticket=ticket
        )
        for k in range(3):
            Message.objects.create(
                channel=world["channel"],
                conversation=conversation,
                direction="in" if k % 2 == 0 else "out",
                provider_message_id=f"wamid.{n}.{k}",
                text=f"About order {n}-{k}",
                status="received" if k % 2 == 0 else "read",
            )
        TicketComment.objects.bulk_create(
            [TicketComment(ticket=ticket, text="Where is it?") for _ in range(2)]
        )
        stage = world["pipeline"].stages.first()
        deal = Deal.objects.create(
            name=f"Deal {n}", pipeline=world["pipeline"], stage=stage, responsible=owner
        )
        deal.contacts.add(contact)


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def queries_of(client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("who", ["manager", "rep"])
@pytest.mark.parametrize("page", list(PAGES))
def test_every_list_page_asks_the_same_queries_at_any_size(world, page, who):
    client = client_of(world[who])
    clients_add(world, 3)
    client.get(PAGES[page])  # what is read once per process (content types...) read already
    few = len(queries_of(client, PAGES[page]))
    clients_add(world, 9)
    assert len(queries_of(client, PAGES[page])) == few


# A COUNT or GROUP BY is bounded when it stops at a LIMIT or is over the ids of one page.
_PAGE_IDS = re.compile(r"IN \(\d+(, ?\d+)*\)")


def unbounded_aggregates(queries: list[str]) -> list[str]:
    return [
        sql
        for sql in queries
        if ("COUNT(" in sql.upper() or "GROUP BY" in sql.upper())
        and " LIMIT " not in sql.upper()
        and not _PAGE_IDS.search(sql)
    ]


@pytest.mark.parametrize("who", ["manager", "rep"])
@pytest.mark.parametrize("page", [p for p in PAGES if not p.startswith(("api", "inbox"))])
def test_no_changelist_counts_or_groups_over_the_big_tables(world, page, who):
    clients_add(world, 4)
    assert unbounded_aggregates(queries_of(client_of(world[who]), PAGES[page])) == []


def test_the_check_catches_a_grouped_count_over_a_join():
    # What the conversation list asked before: a COUNT over messages joined to every row.
    grouped = str(Conversation.objects.annotate(n=Count("messages")).query)
    assert unbounded_aggregates([grouped]) == [grouped]


def test_the_count_under_a_list_stops_a_few_pages_ahead(world, monkeypatch):
    monkeypatch.setattr(admin_lists, "LOOKAHEAD_PAGES", 0)
    monkeypatch.setattr(ConversationAdmin, "list_per_page", 2)
    clients_add(world, 5)
    client = client_of(world["manager"])
    first = client.get(CHANGELISTS["conversations"]).content.decode()
    assert "2+ conversations" in first
    second = client.get(CHANGELISTS["conversations"] + "?p=2").content.decode()
    assert "4+ conversations" in second
    monkeypatch.setattr(admin_lists, "LOOKAHEAD_PAGES", 10)
    assert "5 conversations" in client.get(CHANGELISTS["conversations"]).content.decode()


def test_the_figures_of_each_row_are_counted_for_the_page(world):
    clients_add(world, 2)
    first = Conversation.objects.order_by("pk").first()
    Message.objects.create(
        channel=world["channel"], conversation=first, direction="in", text="One more"
    )
    TicketComment.objects.create(ticket=first.ticket, text="And another")
    Deal.objects.filter(contacts=first.contact).update(status=DealStatus.WON)
    client = client_of(world["manager"])
    conversations = client.get(CHANGELISTS["conversations"]).content.decode()
    assert conversations.count('<td class="field-message_count">4</td>') == 1
    assert conversations.count('<td class="field-message_count">3</td>') == 1
    tickets = client.get(CHANGELISTS["tickets"]).content.decode()
    assert tickets.count('<td class="field-comment_count">3</td>') == 1
    assert tickets.count('<td class="field-comment_count">2</td>') == 1
    contacts = client.get(CHANGELISTS["contacts"]).content.decode()
    assert contacts.count('<td class="field-open_deals">0</td>') == 1
    assert contacts.count('<td class="field-open_deals">1</td>') == 1
    api = client.get("/api/v1/tickets/").json()["results"]
    assert sorted(row["comment_total"] for row in api) == [2, 3]
    assert [row["conversation_total"] for row in api] == [1, 1]


def listed_texts(client, url: str) -> set[str]:
    page = client.get(url).content.decode()
    return set(re.findall(r"About order \d+-\d", page))


def test_a_phone_written_any_way_finds_that_clients_messages_and_conversations(world):
    clients_add(world, 3)
    manager = client_of(world["manager"])
    for term in ("%2B39%20335%20000%200001", "0039%203350000001", "%2B393350000001"):
        texts = listed_texts(manager, f"{CHANGELISTS['messages']}?q={term}")
        assert texts == {"About order 1-0", "About order 1-1", "About order 1-2"}
        page = manager.get(f"{CHANGELISTS['conversations']}?q={term}").content.decode()
        assert "1 conversation" in page and "Client 1 (" in page and "Client 2 (" not in page


def test_text_search_and_provider_ids_still_find_messages(world):
    clients_add(world, 2)
    manager = client_of(world["manager"])
    assert listed_texts(manager, f"{CHANGELISTS['messages']}?q=order%202-1") == {"About order 2-1"}
    page = manager.get(f"{CHANGELISTS['messages']}?q=wamid.2.0").content.decode()
    assert "About order 2-0" in page and "About order 2-1" not in page


def test_a_rep_searching_a_colleagues_clients_phone_finds_nothing(world):
    clients_add(world, 2)  # client 1 is the rep's, client 2 the other rep's
    rep = client_of(world["rep"])
    assert listed_texts(rep, f"{CHANGELISTS['messages']}?q=%2B393350000002") == set()
    assert listed_texts(rep, f"{CHANGELISTS['messages']}?q=%2B393350000001") == {
        "About order 1-0",
        "About order 1-1",
        "About order 1-2",
    }
    tickets = rep.get(f"{CHANGELISTS['tickets']}?q=%2B393350000002").content.decode()
    assert "TT2<" not in tickets and "0 tickets" in tickets


@pytest.mark.skipif(connection.vendor != "postgresql", reason="indexes built on PostgreSQL only")
def test_the_search_and_order_indexes_exist_on_postgresql():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE ANY(%s)",
            [["%_trgm", "conversation_recent"]],
        )
        names = {row[0] for row in cursor.fetchall()}
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        assert cursor.fetchone()
    assert {
        "message_text_trgm",
        "contact_name_trgm",
        "contact_phone_trgm",
        "contactaddress_address_trgm",
        "conversation_recent",
    } <= names


def test_the_selection_box_of_each_row_is_djangos_own_markup(world):
    from django.contrib import admin as django_admin
    from django.contrib.admin.options import ModelAdmin

    contact = Contact.objects.create(name='Anna "<b>&', phone="+393350009999")
    contact_admin = django_admin.site._registry[Contact]
    assert contact_admin.action_checkbox(contact) == ModelAdmin.action_checkbox(
        contact_admin, contact
    )
