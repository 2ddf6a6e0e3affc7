"""Writing the daily report rollups (tickets/report_models.py).

`report_day_rows` aggregates one day straight from conversations, messages and tickets, reading
them by their time indexes; `report_day_rollup` stores that day; `report_rollup_recent` is the
scheduled job's service: the last few finished days again (late statuses and replies land there)
and any older day that was never rolled up, newest first, within a time budget.
Days are the local days of TIME_ZONE, as the page shows them.
"""

import time as clock
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from messaging.models import Conversation, Message
from tickets.models import Ticket, TicketStatus
from tickets.report_models import (
    ReportDayCount,
    ReportDuration,
    ReportMetric,
    ReportRollupDay,
    ReportSample,
)

RECOMPUTE_DAYS = 3
JOB_BUDGET_SECONDS = 60


@dataclass
class DayRows:
    counts: list[ReportDayCount] = field(default_factory=list)
    samples: list[ReportSample] = field(default_factory=list)


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The aware start and end of a local day (23 or 25 hours long when the clocks change)."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), tz)
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), tz)
    return start, end


def local_today() -> date:
    return timezone.localdate()


def _counts(day, metric, rows, key_field=None) -> list[ReportDayCount]:
    return [
        ReportDayCount(
            day=day,
            metric=metric,
            channel_id=row["channel_id"],
            key="" if key_field is None or row[key_field] is None else str(row[key_field]),
            value=row["n"],
        )
        for row in rows
    ]


def _seconds(start: datetime, end: datetime) -> int:
    return max(int((end - start).total_seconds()), 0)


def report_day_rows(*, day: date) -> DayRows:
    """Everything the reports count for one day, computed from the raw rows (nothing saved)."""
    start, end = day_bounds(day)
    rows = DayRows()
    conversations = Conversation.objects.order_by()
    opened = conversations.filter(opened_at__gte=start, opened_at__lt=end)
    closed = conversations.filter(closed_at__gte=start, closed_at__lt=end)
    entered = conversations.filter(queue_entered_at__gte=start, queue_entered_at__lt=end)
    if day >= local_today():
        # Today is read on every page view: the queue as routing holds it now, from the
        # queued_at index, instead of every conversation that ever waited.
        waiting = conversations.filter(queued_at__isnull=False, status=Conversation.Status.OPEN)
    else:
        # Still waiting at the end of the day: entered before it, neither given to an agent nor
        # closed by then (a close ends the wait even when routing never cleared the queue mark).
        waiting = conversations.filter(queue_entered_at__lt=end).filter(
            Q(queue_left_at__isnull=True) | Q(queue_left_at__gte=end),
            Q(closed_at__isnull=True) | Q(closed_at__gte=end),
        )
    for metric, queryset in (
        (ReportMetric.OPENED, opened),
        (ReportMetric.CLOSED, closed),
        (ReportMetric.QUEUE_ENTERED, entered),
        (ReportMetric.QUEUE_WAITING, waiting),
    ):
        rows.counts += _counts(day, metric, queryset.values("channel_id").annotate(n=Count("pk")))

    messages = Message.objects.order_by().filter(created_at__gte=start, created_at__lt=end)
    by_direction = messages.values("channel_id", "direction").annotate(n=Count("pk"))
    for direction, metric in (("in", ReportMetric.MESSAGES_IN), ("out", ReportMetric.MESSAGES_OUT)):
        rows.counts += _counts(
            day, metric, [r for r in by_direction if r["direction"] == direction]
        )
    failed = messages.filter(
        Q(template__isnull=False) | Q(type="template"), status=Message.Status.FAILED
    )
    rows.counts += _counts(
        day,
        ReportMetric.TEMPLATE_FAILED,
        failed.values("channel_id", "error_code").annotate(n=Count("pk")),
        key_field="error_code",
    )
    rows.samples += _first_responses(day, start, end)
    rows.samples += _resolutions(day, start, end)
    rows.samples += _queue_waits(day, start, end)
    return rows


def _first_responses(day, start, end) -> list[ReportSample]:
    """A conversation's first response is the first message a person sent in it, measured from
    the customer's first message before it; it belongs to the day it was sent."""
    staff = Message.objects.order_by().filter(direction="out", sent_by__isnull=False)
    replies = staff.filter(created_at__gte=start, created_at__lt=end).values_list(
        "conversation_id", "created_at", "sent_by_id", "channel_id"
    )
    first: dict[int, tuple] = {}
    for conversation_id, at, agent_id, channel_id in replies.order_by("created_at", "pk"):
        first.setdefault(conversation_id, (at, agent_id, channel_id))
    if not first:
        return []
    ids = list(first)
    answered_before = set(
        staff.filter(conversation_id__in=ids, created_at__lt=start)
        .values_list("conversation_id", flat=True)
        .distinct()
    )
    asked = dict(
        Message.objects.order_by()
        .filter(conversation_id__in=ids, direction="in", created_at__lt=end)
        .values("conversation_id")
        .annotate(at=Min("created_at"))
        .values_list("conversation_id", "at")
    )
    samples = []
    for conversation_id, (at, agent_id, channel_id) in first.items():
        question = asked.get(conversation_id)
        if conversation_id in answered_before or question is None or question > at:
            continue  # answered on an earlier day, or opened by us (no question yet)
        samples.append(
            ReportSample(
                day=day,
                kind=ReportDuration.FIRST_RESPONSE,
                channel_id=channel_id,
                agent_id=agent_id,
                seconds=_seconds(question, at),
            )
        )
    return samples


def _resolutions(day, start, end) -> list[ReportSample]:
    """A ticket's resolution time runs from its opening to its closing, for its assignee."""
    closed = (
        Ticket.objects.order_by()
        .filter(status=TicketStatus.CLOSED, closed_at__gte=start, closed_at__lt=end)
        .values_list("created_at", "closed_at", "assignee_id", "channel_id")
    )
    return [
        ReportSample(
            day=day,
            kind=ReportDuration.RESOLUTION,
            channel_id=channel_id,
            agent_id=agent_id,
            seconds=_seconds(opened, closed_at),
        )
        for opened, closed_at, agent_id, channel_id in closed
    ]


def _queue_waits(day, start, end) -> list[ReportSample]:
    """A wait ends when an agent gets the conversation, or when it closes still waiting. Two
    range reads, each on its own index, rather than one OR that scans every queued row."""
    fields = ("queue_entered_at", "queue_left_at", "closed_at", "assignee_id", "channel_id")
    queued = Conversation.objects.order_by().filter(queue_entered_at__isnull=False)
    to_agent = queued.filter(queue_left_at__gte=start, queue_left_at__lt=end)
    closed_waiting = queued.filter(
        closed_at__gte=start, closed_at__lt=end, queue_left_at__isnull=True
    )
    waits = list(to_agent.values_list(*fields)) + list(closed_waiting.values_list(*fields))
    return [
        ReportSample(
            day=day,
            kind=ReportDuration.QUEUE_WAIT,
            channel_id=channel_id,
            agent_id=agent_id if left else None,
            seconds=_seconds(entered, left or closed_at),
        )
        for entered, left, closed_at, agent_id, channel_id in waits
    ]


@transaction.atomic
def report_day_rollup(*, day: date) -> DayRows:
    """Store one finished day's rows, replacing what was there.

    The marker row is written first: a second rollup of the same day (the job and a page at
    once) waits on it until this one commits, then replaces these rows instead of doubling them.
    """
    if day >= local_today():
        raise ValueError("Only finished days are rolled up; today is aggregated live.")
    ReportRollupDay.objects.bulk_create(
        [ReportRollupDay(day=day, computed_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["day"],
        update_fields=["computed_at"],
    )
    rows = report_day_rows(day=day)
    ReportDayCount.objects.filter(day=day).delete()
    ReportSample.objects.filter(day=day).delete()
    ReportDayCount.objects.bulk_create(rows.counts, batch_size=2000)
    ReportSample.objects.bulk_create(rows.samples, batch_size=2000)
    return rows


def first_data_day() -> date | None:
    """The first local day anything happened: earlier days have nothing to roll up."""
    first = Conversation.objects.order_by().aggregate(first=Min("opened_at"))["first"]
    return timezone.localdate(first) if first else None


def report_days_missing(*, first: date, last: date) -> list[date]:
    """Finished days in [first, last] that hold data and were never rolled up, newest first."""
    data_from = first_data_day()
    last = min(last, local_today() - timedelta(days=1))
    if data_from is None or last < first:
        return []
    first = max(first, data_from)
    done = set(
        ReportRollupDay.objects.filter(day__gte=first, day__lte=last).values_list("day", flat=True)
    )
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return sorted((d for d in days if d not in done), reverse=True)


def report_rollup_missing(*, first: date, last: date) -> int:
    """Roll up the days of a period the job has not reached yet (a fresh install, a new day)."""
    days = report_days_missing(first=first, last=last)
    for day in days:
        report_day_rollup(day=day)
    return len(days)


def report_rollup_recent(*, budget_seconds: float = JOB_BUDGET_SECONDS) -> dict:
    """The scheduled job: redo the last RECOMPUTE_DAYS finished days, then fill older gaps."""
    today = local_today()
    recent = [today - timedelta(days=n) for n in range(1, RECOMPUTE_DAYS + 1)]
    data_from = first_data_day()
    if data_from is None:
        return {"days": 0, "left": 0}
    recent = [day for day in recent if day >= data_from]
    older = report_days_missing(first=data_from, last=today - timedelta(days=RECOMPUTE_DAYS + 1))
    started = clock.monotonic()
    done = Counter()
    todo = recent + older
    for day in todo:
        if done["days"] and clock.monotonic() - started > budget_seconds:
            break  # the next run carries on; the page rolls up what it needs meanwhile
        report_day_rollup(day=day)
        done["days"] += 1
    return {"days": done["days"], "left": len(todo) - done["days"]}
