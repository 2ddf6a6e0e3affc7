"""Reading the managers' reports: stored daily rollups for finished days plus a live aggregate of
today, so a year answers from a few thousand small rows and one covering-index scan per duration
table instead of a million messages.

Percentiles are PostgreSQL's percentile_cont (linear interpolation); SQLite computes the same
figures in Python.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Sum
from django.utils.translation import gettext as _

from messaging.models import Channel
from tickets.report_models import ReportDayCount, ReportDuration, ReportMetric, ReportSample
from tickets.report_rollup import local_today, report_day_rows

LIVE_VALUES_LIMIT = 5000


@dataclass
class ReportPeriod:
    first: date
    last: date
    channel_id: int | None = None
    # Today's live aggregate and each duration kind, computed once per period however many
    # sections read them.
    live: tuple | None = field(default=None, compare=False, repr=False)
    durations: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range((self.last - self.first).days + 1)]

    @property
    def includes_today(self) -> bool:
        return self.first <= local_today() <= self.last


def _live_rows(period: ReportPeriod):
    """Today's rows, aggregated from the raw tables on each request (today is never stored)."""
    if not period.includes_today:
        return [], []
    if period.live is None:
        rows = report_day_rows(day=local_today())
        counts = [c for c in rows.counts if _in_channel(c.channel_id, period)]
        samples = [s for s in rows.samples if _in_channel(s.channel_id, period)]
        period.live = (counts, samples)
    return period.live


def _in_channel(channel_id, period: ReportPeriod) -> bool:
    return period.channel_id is None or channel_id == period.channel_id


def _stored_counts(period: ReportPeriod):
    stored = ReportDayCount.objects.filter(day__gte=period.first, day__lte=period.last)
    if period.channel_id is not None:
        stored = stored.filter(channel_id=period.channel_id)
    return stored.exclude(day=local_today())


def report_daily(*, period: ReportPeriod) -> list[dict]:
    """One row per day: conversations opened and closed, messages in and out, template failures,
    conversations that entered the queue and those still waiting at the end of the day."""
    totals: dict[date, dict] = {day: dict.fromkeys(ReportMetric.values, 0) for day in period.days}
    stored = _stored_counts(period).values("day", "metric").annotate(n=Sum("value"))
    live, _samples = _live_rows(period)
    for row in list(stored) + [{"day": c.day, "metric": c.metric, "n": c.value} for c in live]:
        if row["day"] in totals:
            totals[row["day"]][row["metric"]] += row["n"]
    return [{"day": day, **values} for day, values in totals.items()]


def report_messages_by_transport(*, period: ReportPeriod) -> list[dict]:
    """Messages received and sent per channel type (WhatsApp, Telegram, ...) in the period."""
    metrics = (ReportMetric.MESSAGES_IN, ReportMetric.MESSAGES_OUT)
    stored = (
        _stored_counts(period)
        .filter(metric__in=metrics)
        .values("channel_id", "metric")
        .annotate(n=Sum("value"))
    )
    live, _samples = _live_rows(period)
    rows = list(stored) + [
        {"channel_id": c.channel_id, "metric": c.metric, "n": c.value}
        for c in live
        if c.metric in metrics
    ]
    transports = dict(Channel.objects.values_list("pk", "transport"))
    labels = dict(Channel._meta.get_field("transport").choices)
    by_transport: dict[str, dict] = defaultdict(lambda: {"in": 0, "out": 0})
    for row in rows:
        transport = transports.get(row["channel_id"], "")
        direction = "in" if row["metric"] == ReportMetric.MESSAGES_IN else "out"
        by_transport[transport][direction] += row["n"]
    return sorted(
        (
            {"transport": t, "label": str(labels.get(t, t or "—")), **v}
            for t, v in by_transport.items()
        ),
        key=lambda r: -(r["in"] + r["out"]),
    )


def report_template_failures(*, period: ReportPeriod) -> list[dict]:
    """Failed template sends per provider error code, most frequent first."""
    stored = (
        _stored_counts(period)
        .filter(metric=ReportMetric.TEMPLATE_FAILED)
        .values("key")
        .annotate(n=Sum("value"))
    )
    live, _samples = _live_rows(period)
    counts: dict[str, int] = defaultdict(int)
    for row in stored:
        counts[row["key"]] += row["n"]
    for c in live:
        if c.metric == ReportMetric.TEMPLATE_FAILED:
            counts[c.key] += c.value
    return [{"code": code, "count": n} for code, n in sorted(counts.items(), key=lambda i: -i[1])]


def _percentile(ordered: list[int], fraction: float) -> float:
    """percentile_cont: linear interpolation between the closest ranks of a sorted list."""
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def report_durations(*, period: ReportPeriod, kind: str, by: str) -> list[dict]:
    """Count, median and p90 (seconds) of one duration kind, per agent or per channel."""
    if kind not in ReportDuration.values or by not in ("agent", "channel"):
        raise ValueError(f"Unknown duration report {kind!r} by {by!r}.")
    if kind not in period.durations:
        period.durations[kind] = _durations_both(period, kind)
    rows = [dict(row) for row in period.durations[kind][by]]
    names = _names(by, [row["key"] for row in rows if row["key"] is not None])
    for row in rows:
        row["label"] = names.get(row["key"], "") or (
            _("unassigned") if row["key"] is None else f"#{row['key']}"
        )
    return sorted(rows, key=lambda r: (-r["count"], str(r["label"])))


def _durations_both(period: ReportPeriod, kind: str) -> dict:
    """Both groupings of one kind from one read of the samples (the page shows both)."""
    _counts, live = _live_rows(period)
    live_values = [(s.agent_id, s.channel_id, s.seconds) for s in live if s.kind == kind]
    last_stored = min(period.last, local_today() - timedelta(days=1))
    if connection.vendor == "postgresql" and len(live_values) <= LIVE_VALUES_LIMIT:
        return _durations_sql(period, kind, last_stored, live_values)
    return _durations_python(period, kind, last_stored, live_values)


def _names(by: str, keys: list) -> dict:
    """Who or what each key is, in one query: an agent's full name (else username), a channel's
    name."""
    if by == "channel":
        return dict(Channel.objects.filter(pk__in=keys).values_list("pk", "name"))
    users = get_user_model().objects.filter(pk__in=keys)
    return {
        pk: f"{first} {last}".strip() or username
        for pk, first, last, username in users.values_list(
            "pk", "first_name", "last_name", "username"
        )
    }


def _durations_sql(period, kind, last_stored, live_values) -> dict:
    params: list = [kind, period.first, last_stored]
    channel_filter = ""
    if period.channel_id is not None:
        channel_filter = " AND channel_id = %s"
        params.append(period.channel_id)
    live_sql = ""
    if live_values:
        placeholders = ", ".join(["(%s::bigint, %s::bigint, %s::bigint)"] * len(live_values))
        live_sql = f" UNION ALL SELECT * FROM (VALUES {placeholders}) AS live"  # noqa: S608
        params += [value for triple in live_values for value in triple]
    # GROUPING(agent_id) is 1 on the rows grouped by channel.
    sql = f"""
        WITH samples AS (
            SELECT agent_id, channel_id, seconds FROM tickets_reportsample
            WHERE kind = %s AND day >= %s AND day <= %s{channel_filter}
            {live_sql}
        )
        SELECT GROUPING(agent_id), agent_id, channel_id, count(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
               percentile_cont(0.9) WITHIN GROUP (ORDER BY seconds)
        FROM samples GROUP BY GROUPING SETS ((agent_id), (channel_id))
    """  # noqa: S608
    result = {"agent": [], "channel": []}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for by_channel, agent_id, channel_id, n, p50, p90 in cursor.fetchall():
            by = "channel" if by_channel else "agent"
            key = channel_id if by_channel else agent_id
            result[by].append({"key": key, "count": n, "median": float(p50), "p90": float(p90)})
    return result


def _durations_python(period, kind, last_stored, live_values) -> dict:
    stored = ReportSample.objects.filter(kind=kind, day__gte=period.first, day__lte=last_stored)
    if period.channel_id is not None:
        stored = stored.filter(channel_id=period.channel_id)
    samples = list(stored.values_list("agent_id", "channel_id", "seconds")) + live_values
    result = {}
    for by, position in (("agent", 0), ("channel", 1)):
        groups: dict = defaultdict(list)
        for sample in samples:
            groups[sample[position]].append(sample[2])
        result[by] = []
        for key, values in groups.items():
            values.sort()
            result[by].append(
                {
                    "key": key,
                    "count": len(values),
                    "median": _percentile(values, 0.5),
                    "p90": _percentile(values, 0.9),
                }
            )
    return result
