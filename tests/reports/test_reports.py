"""The managers' reports: a day counted from raw rows, stored once by the rollup, read back with
today's live figures, as percentiles per agent and per channel, charts and CSV."""

import csv
import io
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from messaging.models import Conversation
from messaging.services.assignment import conversation_assign, conversation_queue
from tests.reports.conftest import NOW, at
from tickets.report_models import ReportDayCount, ReportRollupDay, ReportSample
from tickets.report_rollup import (
    report_day_rollup,
    report_day_rows,
    report_rollup_missing,
    report_rollup_recent,
)
from tickets.report_selectors import (
    ReportPeriod,
    report_daily,
    report_durations,
    report_messages_by_transport,
    report_template_failures,
)

YESTERDAY = date(2026, 6, 9)
TODAY = date(2026, 6, 10)


def by_key(rows, key="label"):
    return {row[key]: row for row in rows}


def test_it_counts_a_day_from_the_raw_rows(history, channel, rr_channel):
    rows = report_day_rows(day=YESTERDAY)
    counts = {(c.metric, c.channel_id, c.key): c.value for c in rows.counts}
    assert counts[("opened", channel.pk, "")] == 2
    assert counts[("opened", rr_channel.pk, "")] == 2
    assert counts[("closed", channel.pk, "")] == 1
    assert counts[("queue_entered", rr_channel.pk, "")] == 2
    assert counts[("queue_waiting", rr_channel.pk, "")] == 1  # d, still waiting at midnight
    assert counts[("template_failed", channel.pk, "131026")] == 2
    assert counts[("template_failed", channel.pk, "132000")] == 1
    assert counts[("messages_in", channel.pk, "")] == 2
    assert counts[("messages_out", channel.pk, "")] == 3 + 3  # replies and failed templates
    samples = sorted((s.kind, s.seconds) for s in rows.samples)
    assert samples == [
        ("first_response", 300),
        ("first_response", 1800),
        ("first_response", 7200),
        ("queue_wait", 1200),
        ("resolution", 7200),
    ]


def test_a_stored_day_reads_back_as_it_was_counted(history):
    counted = report_day_rows(day=YESTERDAY).counts
    # Selectors read stored days only (the page rolls up what is missing before it reads).
    assert report_daily(period=ReportPeriod(first=YESTERDAY, last=YESTERDAY))[0]["opened"] == 0
    report_day_rollup(day=YESTERDAY)
    report_day_rollup(day=YESTERDAY)  # twice: replaced, never doubled
    assert ReportRollupDay.objects.filter(day=YESTERDAY).count() == 1
    stored = report_daily(period=ReportPeriod(first=YESTERDAY, last=YESTERDAY))
    for metric in ("opened", "closed", "messages_in", "messages_out", "queue_waiting"):
        assert stored[0][metric] == sum(c.value for c in counted if c.metric == metric)
    assert stored[0]["opened"] == 4
    assert ReportSample.objects.filter(day=YESTERDAY).count() == 5


def test_today_is_aggregated_live_and_never_stored(history):
    with pytest.raises(ValueError):
        report_day_rollup(day=TODAY)
    period = ReportPeriod(first=YESTERDAY, last=TODAY)
    report_rollup_missing(first=period.first, last=period.last)
    assert list(ReportRollupDay.objects.values_list("day", flat=True)) == [YESTERDAY]
    daily = by_key(report_daily(period=period), "day")
    assert daily[TODAY]["opened"] == 1
    assert daily[TODAY]["queue_waiting"] == 1  # d waits still
    assert daily[TODAY]["messages_in"] == 1


def test_first_response_median_and_p90_per_agent_and_per_channel(history, channel, rr_channel):
    period = ReportPeriod(first=YESTERDAY, last=TODAY)
    report_rollup_missing(first=period.first, last=period.last)
    agents = by_key(report_durations(period=period, kind="first_response", by="agent"))
    # Rita: 300 and 7200 s; percentile_cont interpolates between them.
    assert agents["Rita"]["count"] == 2
    assert agents["Rita"]["median"] == pytest.approx(3750)
    assert agents["Rita"]["p90"] == pytest.approx(300 + 0.9 * 6900)
    # Otto: 1800 s yesterday (stored) and 60 s today (live).
    assert agents["Otto"]["count"] == 2
    assert agents["Otto"]["median"] == pytest.approx(930)
    channels = by_key(report_durations(period=period, kind="first_response", by="channel"))
    assert channels[channel.name]["count"] == 3
    assert channels[channel.name]["median"] == pytest.approx(300)
    assert channels[rr_channel.name]["count"] == 1
    resolution = by_key(report_durations(period=period, kind="resolution", by="agent"))
    assert resolution["Rita"]["median"] == pytest.approx(7200)
    waits = by_key(report_durations(period=period, kind="queue_wait", by="channel"))
    assert waits[rr_channel.name]["median"] == pytest.approx(1200)


def test_a_channel_filter_narrows_every_figure(history, channel, rr_channel):
    period = ReportPeriod(first=YESTERDAY, last=TODAY, channel_id=rr_channel.pk)
    report_rollup_missing(first=period.first, last=period.last)
    daily = by_key(report_daily(period=period), "day")
    assert daily[YESTERDAY]["opened"] == 2
    assert daily[YESTERDAY]["template_failed"] == 0
    agents = by_key(report_durations(period=period, kind="first_response", by="agent"))
    assert set(agents) == {"Otto"} and agents["Otto"]["count"] == 1
    assert report_template_failures(period=period) == []


def test_messages_per_channel_type_and_failures_per_code(history):
    period = ReportPeriod(first=YESTERDAY, last=TODAY)
    report_rollup_missing(first=period.first, last=period.last)
    assert report_messages_by_transport(period=period) == [
        {"transport": "waba", "label": "WhatsApp Business API", "in": 5, "out": 8}
    ]
    assert report_template_failures(period=period) == [
        {"code": "131026", "count": 2},
        {"code": "132000", "count": 1},
    ]


def test_the_job_rolls_up_recent_and_missing_days_once(history):
    assert report_rollup_recent() == {"days": 1, "left": 0}  # data starts yesterday
    first = list(ReportDayCount.objects.order_by("pk").values_list("metric", "value"))
    assert report_rollup_recent() == {"days": 1, "left": 0}  # yesterday is redone, not doubled
    again = list(ReportDayCount.objects.order_by("pk").values_list("metric", "value"))
    assert sorted(first) == sorted(again)


def test_routing_records_when_a_conversation_entered_and_left_the_queue(now, rr_channel, team):
    conversation = Conversation.objects.create(
        channel=rr_channel,
        contact=__import__("crm.models", fromlist=["Contact"]).Contact.objects.create(
            phone="+393330000099"
        ),
    )
    assert conversation_queue(conversation=conversation, at=at(9, day=NOW))
    assert not conversation_queue(conversation=conversation, at=at(10, day=NOW))  # keeps place
    conversation_assign(conversation=conversation, user=team["rep"], at=at(11, day=NOW))
    conversation.refresh_from_db()
    assert conversation.queued_at is None
    assert conversation.queue_entered_at == at(9, day=NOW)
    assert conversation.queue_left_at == at(11, day=NOW)
    # A transfer later is no queue exit.
    conversation_assign(conversation=conversation, user=team["other"], at=at(12, day=NOW))
    conversation.refresh_from_db()
    assert conversation.queue_left_at == at(11, day=NOW)


def test_a_manager_sees_the_charts_as_inline_svg_without_scripts(client, history, team):
    client.force_login(team["manager"])
    response = client.get("/inbox/reports/?period=7")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("<svg") >= 8
    assert "<script" not in body  # no pygal tooltip script, no CDN
    assert "Rita" in body and "131026" in body
    assert "1 h 02 min" in body  # Rita's median first response, 3750 s


@pytest.mark.parametrize("role", ["rep", "quality"])
def test_sales_reps_and_quality_control_may_not_see_reports(client, history, team, role):
    client.force_login(team[role])
    assert client.get("/inbox/reports/").status_code == 403
    assert client.get("/inbox/reports/daily.csv").status_code == 403
    assert 'id="reports-link"' not in client.get("/inbox/").content.decode()


def test_the_manager_menu_links_to_the_reports(client, history, team):
    client.force_login(team["manager"])
    assert 'id="reports-link"' in client.get("/inbox/").content.decode()


def read_csv(response):
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_every_report_downloads_as_csv(client, history, team, rr_channel):
    client.force_login(team["manager"])
    daily = read_csv(client.get("/inbox/reports/daily.csv?period=7"))
    assert daily[0][:3] == ["date", "opened", "closed"]
    assert len(daily) == 1 + 7
    assert daily[-2][:3] == ["2026-06-09", "4", "1"]
    durations = read_csv(client.get("/inbox/reports/durations.csv?period=7"))
    assert ["first_response", "agent", "Rita", "2", "3750.0", "6510.0"] in durations
    messages = read_csv(client.get("/inbox/reports/messages.csv?period=7"))
    assert messages == [["channel_type", "received", "sent"], ["waba", "5", "8"]]
    failures = read_csv(
        client.get(
            f"/inbox/reports/failures.csv?period=custom&start=2026-06-01&end=2026-06-10"
            f"&channel={rr_channel.pk}"
        )
    )
    assert failures == [["error_code", "failures"]]
    assert client.get("/inbox/reports/nothing.csv").status_code == 404


def test_a_bad_period_says_so_and_shows_the_last_30_days(client, history, team):
    client.force_login(team["manager"])
    response = client.get("/inbox/reports/?period=custom&start=2026-06-10&end=2026-06-01")
    assert response.status_code == 200
    assert "The period ends before it starts." in response.content.decode()


def test_the_page_asks_as_many_queries_for_a_year_as_for_a_week(client, history, team):
    client.force_login(team["manager"])
    client.get("/inbox/reports/?period=365")  # rolls up what the job has not
    counts = []
    for days in (7, 365):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/inbox/reports/?period={days}").status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_a_csv_cell_that_looks_like_a_formula_is_defused(client, history, team):
    team["rep"].first_name = "=HYPERLINK(1)"
    team["rep"].save()
    client.force_login(team["manager"])
    rows = read_csv(client.get("/inbox/reports/durations.csv?period=7"))
    assert any(row[2] == "'=HYPERLINK(1)" for row in rows)
    assert YESTERDAY - timedelta(days=1) < YESTERDAY


def test_a_hostile_agent_name_stays_text_in_the_chart(client, history, team):
    team["rep"].first_name = "</script><img src=x onerror=alert(1)>"
    team["rep"].save()
    client.force_login(team["manager"])
    body = client.get("/inbox/reports/?period=7").content.decode()
    assert "<img src=x" not in body
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in body


def test_the_rollup_is_a_scheduled_sync_job(history):
    from integrations.jobs import JOB_DEFAULTS, JOBS
    from integrations.models import SyncJob
    from integrations.schedules import schedules_setup

    schedules_setup()
    job = SyncJob.objects.get(name="report_rollup")
    assert JOB_DEFAULTS["report_rollup"]["every_seconds"] == 3600
    report = JOBS["report_rollup"](job=job, run=None)
    assert report.counts == {"days": 1, "left": 0}
    assert ReportRollupDay.objects.filter(day=YESTERDAY).exists()
