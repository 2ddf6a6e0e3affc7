"""`make bench-reports`: the managers' report page over a year of data, at two sizes.

For each size (BENCH_REPORTS_SIZES, messages; default 100000 and 1000000) a throwaway
PostgreSQL database gets the page benchmark's data set (tests/bench/pages_data.py: a year of
conversations, ten messages each, tickets) plus what reports read and that set leaves out: the
agent who wrote each outbound message, queue entry and exit on a quarter of the conversations, and
1% of outbound messages as failed template sends. Then:
- the rollup job's backfill of the whole year is timed (what `report_rollup` does once);
- for contrast, one straightforward aggregate over the raw messages of the year;
- the report page and its CSVs are asked for by the manager BENCH_REPORTS_REPEAT times after one
  warm-up (median, p95, queries). Today is always aggregated live, as in production. Charts are
  kept once drawn (same figures, same picture); the last line draws every chart each time.
Target: the year's page under 1 s at the largest size.

Needs PostgreSQL on 127.0.0.1 (BENCH_REPORTS_DB names the database; dropped at the end).
"""

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("BENCH_PAGES_DB", os.environ.get("BENCH_REPORTS_DB", "sb_reports_bench"))
os.environ.setdefault("BENCH_PAGES_REDIS_URL", "redis://127.0.0.1:6379/13")
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import pages

SIZES = [int(s) for s in os.environ.get("BENCH_REPORTS_SIZES", "100000,1000000").split(",")]
REPEAT = int(os.environ.get("BENCH_REPORTS_REPEAT", "7"))
TARGET_MS = 1000

# What the reports read that the page data set does not hold.
EXTRA = [
    # Each outbound message was written by the conversation's agent.
    """
    UPDATE messaging_message m SET sent_by_id = v.assignee_id
    FROM messaging_conversation v
    WHERE m.conversation_id = v.id AND m.direction = 'out' AND v.assignee_id IS NOT NULL
    """,
    # A quarter of the conversations waited in a queue for 0-59 minutes.
    """
    UPDATE messaging_conversation
    SET queue_entered_at = opened_at,
        queue_left_at = opened_at + (id % 60) * interval '1 minute'
    WHERE id % 4 = 0
    """,
    # 1% of outbound messages are template sends that failed, with a few error codes.
    """
    UPDATE messaging_message
    SET type = 'template', status = 'failed',
        error_code = (ARRAY[131026, 131047, 132000, 130429, 131049])[1 + id % 5]
    WHERE direction = 'out' AND id % 100 = 1
    """,
    "VACUUM ANALYZE",
]


def urls(channel_id: int) -> list[tuple[str, str]]:
    return [
        ("reports, last year", "/inbox/reports/?period=365"),
        ("reports, last year, one channel", f"/inbox/reports/?period=365&channel={channel_id}"),
        ("reports, last 30 days", "/inbox/reports/?period=30"),
        ("csv daily, last year", "/inbox/reports/daily.csv?period=365"),
        ("csv durations, last year", "/inbox/reports/durations.csv?period=365"),
    ]


def timed(label: str, fn) -> float:
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    print(f"  {label}: {elapsed * 1000:.0f} ms {result if result is not None else ''}", flush=True)
    return elapsed


def run_size(messages: int) -> dict:
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from messaging.models import Channel
    from tests.bench.pages_data import MANAGER, data_generate
    from tickets.report_rollup import report_rollup_recent

    pages.database_reset()
    call_command("migrate", verbosity=0, interactive=False)
    start = time.perf_counter()
    data_generate(messages=messages)
    with connection.cursor() as cursor:
        for statement in EXTRA:
            cursor.execute(statement)
    print(f"\n{messages} messages: data set in {time.perf_counter() - start:.0f} s", flush=True)

    def naive():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT date_trunc('day', created_at), channel_id, direction, count(*) "
                "FROM messaging_message WHERE created_at >= now() - interval '365 days' "
                "GROUP BY 1, 2, 3"
            )
            return f"({len(cursor.fetchall())} rows)"

    timed("straight aggregate of a year of raw messages per day (for contrast)", naive)
    timed("naive, again (warm)", naive)
    timed(
        "rollup job, whole year backfilled",
        lambda: report_rollup_recent(budget_seconds=3600),
    )
    timed("rollup job, next run (last 3 days again)", report_rollup_recent)

    slow_ms = float(os.environ.get("BENCH_REPORTS_SLOW_MS") or 0)
    if slow_ms:  # name the queries that take longer, to see where a page spends its time

        def report_slow(execute, sql, params, many, context):
            start = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                ms = (time.perf_counter() - start) * 1000
                if ms > slow_ms:
                    print(f"    {ms:.0f} ms: {sql[:300]}")

        connection.execute_wrappers.append(report_slow)
    client = Client()
    client.force_login(User.objects.get(username=MANAGER))
    channel_id = Channel.objects.order_by("pk").values_list("pk", flat=True).first()
    results = {}
    print(f"  {'page':34} {'median':>8} {'p95':>8} {'queries':>7}  status")
    from django.core.cache import cache

    def cold(client, url):
        # Every chart drawn again, as when today's figures moved since the last view.
        times, queries, status = [], 0, 0
        for n in range(REPEAT + 1):
            cache.clear()
            start = time.perf_counter()
            status = client.get(url).status_code
            if n:
                times.append((time.perf_counter() - start) * 1000)
        return times, queries, status

    for name, url in [*urls(channel_id), ("reports, last year, charts drawn", "")]:
        if url:
            times, queries, status = pages.measure(client, url)
        else:
            times, queries, status = cold(client, "/inbox/reports/?period=365")
        row = {
            "median": statistics.median(times),
            "p95": pages.p95(times),
            "queries": queries,
            "status": status,
        }
        results[name] = row
        print(
            f"  {name:34} {row['median']:7.1f}ms {row['p95']:7.1f}ms {queries:7d}  {status}",
            flush=True,
        )
    return results


def main() -> int:
    pages.REPEAT = REPEAT
    pages.environment()
    pages.database_reset()
    pages.django_setup()
    print("Switchboard report benchmark")
    print(pages.machine())
    print(f"each page {REPEAT} times after one warm-up; sizes {SIZES} messages")
    by_size = {}
    try:
        for size in SIZES:
            by_size[size] = run_size(size)
    finally:
        if not os.environ.get("BENCH_REPORTS_KEEP"):  # kept: EXPLAIN the queries afterwards
            pages.database_reset(drop_only=True)
    largest = by_size[max(SIZES)]
    missed = [name for name, row in largest.items() if row["p95"] >= TARGET_MS]
    print(
        f"\nat {max(SIZES)} messages: {len(largest) - len(missed)}/{len(largest)} under 1 s (p95)"
    )
    for name in missed:
        print(f"  MISSED {name}: p95 {largest[name]['p95']:.0f} ms")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
