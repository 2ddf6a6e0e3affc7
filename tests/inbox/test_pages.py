"""Inbox pages: filters, search, unread counts, query counts that do not grow with rows, the live
poll's cursor, the window and template picker, and Italian."""

import dataclasses
from datetime import timedelta
from unittest.mock import PropertyMock, patch

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import conversation_read_mark
from crm.models import Contact, Deal, Stage
from messaging.models import Channel, Conversation, Message
from messaging.providers.base import TemplateKind
from tests.inbox.conftest import inbound
from tickets.models import Ticket

pytestmark = pytest.mark.django_db


def add_clients(channel, rep, count, start=100):
    for n in range(start, start + count):
        contact = Contact.objects.create(phone=f"+3933350{n:05d}", name=f"Client {n}")
        contact.responsible = rep
        contact.save()
        ticket = Ticket.objects.create(number=f"TT{n}", title="t", contact=contact)
        conversation = Conversation.objects.create(
            channel=channel, contact=contact, assignee=rep, ticket=ticket
        )
        inbound(conversation, "a")
        inbound(conversation, "b")


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/inbox/", "/inbox/list.json", "/inbox/?box=mine&q=Client"])
def test_the_list_runs_the_same_number_of_queries_for_3_or_30_rows(client, channel, people, url):
    client.force_login(people["rep"])
    add_clients(channel, people["rep"], 3)
    few = count_queries(client, url)
    add_clients(channel, people["rep"], 27, start=200)
    assert count_queries(client, url) == few


def test_the_conversation_page_and_poll_do_not_grow_with_messages(client, clients, people):
    client.force_login(people["rep"])
    conversation = clients["own"]
    url = f"/inbox/c/{conversation.pk}/"
    page, poll = count_queries(client, url), count_queries(client, url + "poll.json?after=0")
    for n in range(20):
        inbound(conversation, f"more {n}")
        Message.objects.create(
            channel=conversation.channel,
            conversation=conversation,
            direction="out",
            text=f"reply {n}",
            status="delivered",
            sent_by=people["rep"],
        )
    assert count_queries(client, url) == page
    assert count_queries(client, url + "poll.json?after=0") == poll


def test_filters_and_search(client, clients, people, rr_channel):
    client.force_login(people["manager"])
    Conversation.objects.filter(pk=clients["others"].pk).update(status="closed")

    def ids(query):
        return {c.pk for c in client.get("/inbox/" + query).context["conversations"]}

    assert ids("") == {clients["own"].pk, clients["unclaimed"].pk}
    assert ids("?status=closed") == {clients["others"].pk}
    assert ids("?box=unassigned") == {clients["unclaimed"].pk}
    assert ids("?box=mine") == set()
    assert ids("?q=own") == {clients["own"].pk}
    assert ids("?q=%2B39%20333%20000%200001") == {clients["own"].pk}  # a phone as typed
    assert ids(f"?channel={rr_channel.pk}") == set()
    assert client.get("/inbox/?box=nonsense&channel=abc").status_code == 200


def test_unread_counts_are_per_user_and_clear_when_opened(client, clients, people):
    conversation = clients["own"]
    inbound(conversation, "second")

    def unread(user):
        client.force_login(user)
        rows = client.get("/inbox/").context["conversations"]
        return next(c.unread_count for c in rows if c.pk == conversation.pk)

    assert unread(people["rep"]) == 2
    client.get(f"/inbox/c/{conversation.pk}/")
    assert unread(people["rep"]) == 0
    assert unread(people["manager"]) == 2  # a manager's glance is theirs alone
    conversation_read_mark(user=people["manager"], conversation=conversation)
    conversation_read_mark(user=people["manager"], conversation=conversation)  # no clash
    assert unread(people["manager"]) == 0


def test_the_poll_returns_what_came_after_the_cursor_and_current_ticks(client, clients, people):
    client.force_login(people["rep"])
    conversation = clients["own"]
    page = client.get(f"/inbox/c/{conversation.pk}/")
    last_id = page.context["last_id"]
    client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "On my way"})
    reply = Message.objects.get(conversation=conversation, direction="out")

    data = client.get(f"/inbox/c/{conversation.pk}/poll.json?after={last_id}").json()
    assert [m["id"] for m in data["messages"]] == [reply.pk]
    assert "On my way" in data["messages"][0]["html"]
    assert data["last_id"] == reply.pk

    # Offline for a while: statuses move and the customer writes; one poll catches up.
    Message.objects.filter(pk=reply.pk).update(
        status="failed", error_code=131026, error_title="Message undeliverable"
    )
    later = inbound(conversation, "are you there?")
    data = client.get(f"/inbox/c/{conversation.pk}/poll.json?after={reply.pk}").json()
    assert [m["id"] for m in data["messages"]] == [later.pk]
    status = next(s for s in data["statuses"] if s["id"] == reply.pk)
    assert status == {
        "id": reply.pk,
        "status": "failed",
        "error": "Message undeliverable",
        "code": 131026,
    }
    assert data["state"]["window_open"] is True
    assert client.get(f"/inbox/c/{conversation.pk}/poll.json?after=x").status_code == 400


def test_a_closed_window_offers_the_template_picker_not_the_reply_box(
    client, clients, people, template
):
    conversation = clients["own"]
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    client.force_login(people["rep"])
    page = client.get(f"/inbox/c/{conversation.pk}/")
    html = page.content.decode()
    assert page.context["state"]["window_open"] is False
    reply_form = f'action="/inbox/c/{conversation.pk}/reply" id="reply-form" class="reply" hidden>'
    assert reply_form in html
    assert 'id="template-form" class="template">' in html
    assert "order_ready [en]" in html
    response = client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "late"}, follow=True)
    assert "24-hour customer-service window is closed" in response.content.decode()
    assert not Message.objects.filter(conversation=conversation, direction="out").exists()
    client.post(
        f"/inbox/c/{conversation.pk}/template", {"template": template.pk, "body_params": ["A"]}
    )
    assert not Message.objects.filter(direction="out").exists()  # one parameter missing
    client.post(
        f"/inbox/c/{conversation.pk}/template",
        {"template": template.pk, "body_params": ["Ann", "#9"]},
    )
    sent = Message.objects.get(direction="out")
    assert sent.text == "Hello Ann, your order #9 is ready."


def test_the_window_shows_its_closing_time_while_open(client, clients, people):
    client.force_login(people["rep"])
    page = client.get(f"/inbox/c/{clients['own'].pk}/")
    state = page.context["state"]
    assert state["window_open"] is True
    assert 23 * 3600 < state["seconds_left"] <= 24 * 3600
    assert f'data-closes-at="{state["window_closes_at"]}"' in page.content.decode()


def test_the_side_cards_show_the_users_deals_and_the_ticket(client, clients, people, pipeline):
    conversation = clients["own"]
    contact = conversation.contact
    stage = Stage.objects.get(pipeline=pipeline, name="New")
    mine = Deal.objects.create(
        name="Kitchen", pipeline=pipeline, stage=stage, responsible=people["rep"]
    )
    won = Deal.objects.create(
        name="Oven", pipeline=pipeline, stage=stage, responsible=people["rep"], status="won"
    )
    theirs = Deal.objects.create(
        name="Fridge", pipeline=pipeline, stage=stage, responsible=people["other"]
    )
    for deal in (mine, won, theirs):
        deal.contacts.add(contact)
    ticket = Ticket.objects.create(number="TT77", title="t", contact=contact)
    Conversation.objects.filter(pk=conversation.pk).update(ticket=ticket)
    client.force_login(people["rep"])
    page = client.get(f"/inbox/c/{conversation.pk}/")
    assert {deal.name for deal, _url in page.context["deals"]} == {"Kitchen", "Oven"}
    assert "TT77" in page.content.decode()
    client.force_login(people["manager"])
    page = client.get(f"/inbox/c/{conversation.pk}/")
    assert {deal.name for deal, _url in page.context["deals"]} == {"Kitchen", "Oven", "Fridge"}


def test_the_inbox_speaks_italian_to_italian_browsers(client, clients, people):
    client.force_login(people["rep"])
    html = client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert 'lang="it"' in html
    assert "Tutte quelle che posso vedere" in html
    page = client.get(f"/inbox/c/{clients['own'].pk}/", HTTP_ACCEPT_LANGUAGE="it")
    assert "Invia" in page.content.decode()
    english = client.get("/inbox/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "All I may see" in english


def test_a_rep_switches_their_availability(client, people):
    client.force_login(people["rep"])
    client.post("/inbox/availability", {"available": "0"})
    people["rep"].agent_profile.refresh_from_db()
    assert people["rep"].agent_profile.is_available is False
    client.post("/inbox/availability", {"available": "1"})
    people["rep"].agent_profile.refresh_from_db()
    assert people["rep"].agent_profile.is_available is True


def test_media_is_served_only_to_who_may_see_the_conversation(
    client, clients, people, settings, tmp_path
):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = tmp_path
    message = Message.objects.create(
        channel=clients["others"].channel,
        conversation=clients["others"],
        direction="in",
        type="image",
        status="received",
    )
    message.media_file.save("photo.png", ContentFile(b"\x89PNG fake"), save=True)
    client.force_login(people["rep"])
    assert client.get(f"/inbox/m/{message.pk}/media").status_code == 404
    client.force_login(people["other"])
    response = client.get(f"/inbox/m/{message.pk}/media")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"\x89PNG fake"


def test_customer_files_that_could_run_script_download_instead_of_rendering(
    client, clients, people, settings, tmp_path
):
    from django.core.files.base import ContentFile

    settings.MEDIA_ROOT = tmp_path
    message = Message.objects.create(
        channel=clients["own"].channel,
        conversation=clients["own"],
        direction="in",
        type="document",
        status="received",
    )
    message.media_file.save("evil.svg", ContentFile(b"<svg onload=alert(1)>"), save=True)
    client.force_login(people["rep"])
    response = client.get(f"/inbox/m/{message.pk}/media")
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment")
    assert response["Content-Security-Policy"] == "sandbox"


def channel_capabilities(channel, **changes):
    """Patch every channel's capabilities to WhatsApp's with `changes`."""
    caps = dataclasses.replace(channel.capabilities, **changes)
    return patch.object(Channel, "capabilities", new_callable=PropertyMock, return_value=caps)


def test_the_reply_box_takes_its_limit_window_and_templates_from_the_channel(
    client, clients, people
):
    client.force_login(people["rep"])
    page = client.get(f"/inbox/c/{clients['own'].pk}/")
    state = page.context["state"]
    assert (state["max_text_length"], state["window_hours"], state["templates_enabled"]) == (
        4096,
        24,
        True,
    )
    assert 'maxlength="4096"' in page.content.decode()


def test_the_reply_limit_follows_the_channel_capabilities(client, clients, people):
    conversation = clients["own"]
    client.force_login(people["rep"])
    with channel_capabilities(conversation.channel, max_text_length=50):
        page = client.get(f"/inbox/c/{conversation.pk}/")
        assert 'maxlength="50"' in page.content.decode()
        response = client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "x" * 51}, follow=True)
        assert "Write a message first (at most 50 characters)." in response.content.decode()
        assert not Message.objects.filter(conversation=conversation, direction="out").exists()
        client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "x" * 50})
    assert Message.objects.get(conversation=conversation, direction="out").text == "x" * 50


def test_a_channel_without_window_or_templates_keeps_the_reply_box_and_no_countdown(
    client, clients, people, template
):
    conversation = clients["own"]
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    client.force_login(people["rep"])
    with channel_capabilities(
        conversation.channel, service_window_hours=None, template_kind=TemplateKind.NONE
    ):
        page = client.get(f"/inbox/c/{conversation.pk}/")
        html = page.content.decode()
        state = page.context["state"]
        assert (state["window_open"], state["window_hours"], state["seconds_left"]) == (
            True,
            None,
            None,
        )
        assert state["templates_enabled"] is False
        assert 'id="reply-form" class="reply">' in html
        assert 'data-window-hours=""' in html
        assert 'id="template-form"' not in html
        client.post(f"/inbox/c/{conversation.pk}/reply", {"text": "Still there?"})
    assert Message.objects.get(conversation=conversation, direction="out").text == "Still there?"


def test_the_closed_window_note_names_the_channels_hours_in_italian(client, clients, people):
    conversation = clients["own"]
    Conversation.objects.filter(pk=conversation.pk).update(
        last_inbound_at=timezone.now() - timedelta(hours=30)
    )
    client.force_login(people["rep"])
    html = client.get(f"/inbox/c/{conversation.pk}/", HTTP_ACCEPT_LANGUAGE="it").content.decode()
    assert "La finestra di 24 ore è chiusa" in html
    with channel_capabilities(conversation.channel, service_window_hours=12):
        html = client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert "The 12-hour window is closed" in html


def test_a_contact_without_a_phone_shows_its_username_and_no_phone_link(client, clients, people):
    conversation = clients["own"]
    Contact.objects.filter(pk=conversation.contact_id).update(
        phone=None, name="", handle="@giulia.shop"
    )
    client.force_login(people["rep"])
    html = client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert "<h1>@giulia.shop</h1>" in html
    assert 'href="tel:' not in html
