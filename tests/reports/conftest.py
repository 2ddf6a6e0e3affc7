"""A small history for the reports, at a fixed instant (2026-06-10 15:00 in Rome): yesterday's
first responses, a resolved ticket, a queue wait, failed template sends; and a reply today."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine

from accounts.models import Role
from crm.models import Contact
from messaging.models import Conversation, Message, MessageTemplate
from tests.inbox import conftest as inbox
from tests.inbox.conftest import make_user
from tickets.models import Ticket, TicketStatus

# The inbox's channels and account, shared rather than copied.
account, pipeline, channel, rr_channel = (
    inbox.account,
    inbox.pipeline,
    inbox.channel,
    inbox.rr_channel,
)

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2026, 6, 10, 15, 0, tzinfo=ROME)
YESTERDAY = datetime(2026, 6, 9, tzinfo=ROME)


@pytest.fixture
def now(db):
    with time_machine.travel(NOW, tick=False):
        yield NOW


def at(hour, minute=0, *, day=YESTERDAY):
    return day.replace(hour=hour, minute=minute)


def message(conversation, direction, when, *, by=None, **extra):
    extra.setdefault("status", "received" if direction == "in" else "read")
    created = Message.objects.create(
        channel=conversation.channel,
        conversation=conversation,
        direction=direction,
        text="x",
        sent_by=by,
        **extra,
    )
    Message.objects.filter(pk=created.pk).update(created_at=when)
    return created


def conversation_at(channel, phone, opened, **extra):
    contact = Contact.objects.create(phone=phone, name=f"Client {phone[-2:]}")
    created = Conversation.objects.create(channel=channel, contact=contact, **extra)
    Conversation.objects.filter(pk=created.pk).update(opened_at=opened)
    created.refresh_from_db()
    return created


def named(username, first_name, role):
    user = make_user(username, role)
    user.first_name = first_name
    user.save(update_fields=["first_name"])
    return user


@pytest.fixture
def team(db):
    return {
        "manager": named("manager", "Maria", Role.MANAGER),
        "rep": named("rep", "Rita", Role.SALES_REP),
        "other": named("other", "Otto", Role.SALES_REP),
        "quality": named("quality", "Quinn", Role.QUALITY_CONTROL),
    }


@pytest.fixture
def history(now, team, channel, rr_channel, account):
    rep, other = team["rep"], team["other"]
    a = conversation_at(channel, "+393330000001", at(10), assignee=rep)
    message(a, "in", at(10))
    message(a, "out", at(10, 5), by=rep)  # first response: 300 s
    message(a, "out", at(10, 30), by=rep)  # a second reply is not a first response
    Conversation.objects.filter(pk=a.pk).update(status="closed", closed_at=at(16))

    b = conversation_at(rr_channel, "+393330000002", at(11), assignee=other)
    Conversation.objects.filter(pk=b.pk).update(queue_entered_at=at(11), queue_left_at=at(11, 20))
    message(b, "in", at(11))
    message(b, "out", at(11, 30), by=other)  # 1800 s

    c = conversation_at(channel, "+393330000003", at(12), assignee=rep)
    message(c, "in", at(12))
    message(c, "out", at(14), by=rep)  # 7200 s

    # Still waiting at midnight, and now.
    d = conversation_at(rr_channel, "+393330000004", at(23), queued_at=at(23))
    Conversation.objects.filter(pk=d.pk).update(queue_entered_at=at(23))
    message(d, "in", at(23))

    ticket = Ticket.objects.create(
        number="TT1", title="t", contact=a.contact, channel=channel, assignee=rep
    )
    Ticket.objects.filter(pk=ticket.pk).update(
        created_at=at(10), status=TicketStatus.CLOSED, closed_at=at(12)
    )

    template = MessageTemplate.objects.create(
        account=account, name="order_ready", language="en", status="APPROVED"
    )
    for code in (131026, 131026, 132000):
        message(
            c, "out", at(15), type="template", template=template, status="failed", error_code=code
        )

    # Today: a new client answered after 60 s, aggregated live.
    e = conversation_at(channel, "+393330000005", at(14, day=NOW), assignee=other)
    message(e, "in", at(14, day=NOW))
    message(e, "out", at(14, 1, day=NOW), by=other)
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "ticket": ticket}
