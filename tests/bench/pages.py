"""`make bench-pages` (P4): what a person waits for on every list and detail page, at two sizes.

For each size (BENCH_PAGES_SIZES, messages; default 100000 and 1000000) a throwaway PostgreSQL
database is migrated and filled set-based (tests/bench/pages_data.py), then every page is asked
for by a manager and by a sales rep through Django's test client (DEBUG off, the production
middleware), BENCH_PAGES_REPEAT times after one warm-up. It prints the median and p95 time and the
number of queries per page, and at the end whether each page stays under the target at the
largest size and asks the same number of queries at every size.

Needs PostgreSQL on 127.0.0.1 (BENCH_PAGES_DB names the database; it is dropped at the end).
"""

import base64
import os
import platform
import secrets
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PG_URL = "postgres://postgres@127.0.0.1:5432"
DB_NAME = os.environ.get("BENCH_PAGES_DB", "switchboard_pagesbench")
SIZES = [int(s) for s in os.environ.get("BENCH_PAGES_SIZES", "100000,1000000").split(",")]
REPEAT = int(os.environ.get("BENCH_PAGES_REPEAT", "15"))
TARGET_P95_MS = 150


def environment() -> None:
    # A fixed key: a data set kept by `--data` is read again by `--measure` in another process.
    fernet_key = base64.urlsafe_b64encode(b"switchboard page benchmark only!").decode()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.bench.settings",
        DEBUG="False",
        ALLOWED_HOSTS="127.0.0.1,localhost,testserver",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECRETS_ENCRYPTION_KEYS=fernet_key,
        DATABASE_URL=f"{PG_URL}/{DB_NAME}",
        REDIS_URL=os.environ.get("BENCH_PAGES_REDIS_URL", "redis://127.0.0.1:6379/15"),
        API_THROTTLE_READ="1000000/min",
    )


def database_reset(*, drop_only: bool = False) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {DB_NAME}")


def pages(*, contacts: int) -> list[tuple[str, str]]:
    """(name, url) of every page measured. Rows picked are the rep's own client's (contact 101
    belongs to bench-rep-1, as every 100th from 101 does) so both users may open them."""
    from tests.bench.pages_data import phone_of

    mine = 101 if contacts > 101 else 1
    phone = phone_of(mine)
    written = f"{phone[:3]} {phone[3:6]} {phone[6:9]} {phone[9:]}"  # "+39 335 000 0101"
    return [
        ("admin conversations", "/admin/messaging/conversation/"),
        ("admin messages", "/admin/messaging/message/"),
        ("admin tickets", "/admin/tickets/ticket/"),
        ("admin contacts", "/admin/crm/contact/"),
        ("admin deals", "/admin/crm/deal/"),
        ("admin messages ?q=phone", f"/admin/messaging/message/?q={written}"),
        ("admin conversations ?q=phone", f"/admin/messaging/conversation/?q={written}"),
        ("admin contacts ?q=phone", f"/admin/crm/contact/?q={written}"),
        ("admin tickets ?q=phone", f"/admin/tickets/ticket/?q={written}"),
        ("admin contacts ?q=name", "/admin/crm/contact/?q=Romano"),
        ("admin messages ?q=text", "/admin/messaging/message/?q=invoice%201010"),
        ("admin conversation page", f"/admin/messaging/conversation/{mine}/change/"),
        ("admin ticket page", f"/admin/tickets/ticket/{mine}/change/"),
        ("admin contact page", f"/admin/crm/contact/{mine}/change/"),
        ("api tickets", "/api/v1/tickets/"),
        ("api tickets ?search=phone", f"/api/v1/tickets/?search={written}"),
        ("api conversations", "/api/v1/conversations/"),
        ("api contacts", "/api/v1/contacts/"),
        ("api deals", "/api/v1/deals/"),
        ("inbox", "/inbox/"),
        ("inbox list.json", "/inbox/list.json"),
        ("inbox closed", "/inbox/list.json?status=closed"),
        ("inbox ?q=phone", f"/inbox/list.json?q={written}"),
        ("inbox conversation", f"/inbox/c/{mine}/"),
        ("api ticket", f"/api/v1/tickets/{mine}/"),
    ]


def measure(client, url: str) -> tuple[list[float], int, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    queries = 0
    status = 0
    for n in range(REPEAT + 1):
        connection.queries_log.clear()  # a full log (9000) would make the capture read 0
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000
        status = response.status_code
        if n:  # the first is the warm-up
            times.append(elapsed)
            queries = len(captured.captured_queries)
    return times, queries, status


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def machine() -> str:
    from django.db import connection

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        buffers = cursor.fetchone()[0]
    return (
        f"machine   {os.cpu_count()} cores, {model}, {mem_kb / 1024 / 1024:.0f} GiB RAM; "
        f"PostgreSQL {version} (shared_buffers={buffers}); Django test client, DEBUG off"
    )


def run_size(messages: int) -> dict:
    from django.core.management import call_command

    from tests.bench.pages_data import data_generate

    database_reset()
    call_command("migrate", verbosity=0, interactive=False)
    start = time.perf_counter()
    sizes = data_generate(messages=messages)
    print(
        f"\n{messages} messages: data set of {sizes['contacts']} contacts, conversations and "
        f"tickets generated in {time.perf_counter() - start:.0f} s",
        flush=True,
    )
    settle()
    return measure_users(contacts=sizes["contacts"])


def settle(*, below: float = 0.7, at_most: int = 150) -> None:
    """Pages are timed on a database at rest, not while it writes out the rows just loaded: a
    checkpoint, then a wait for the machine's load to fall (at most `at_most` seconds)."""
    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    while os.getloadavg()[0] >= below and time.perf_counter() - start < at_most:
        time.sleep(5)
    print(f"  settled for {time.perf_counter() - start:.0f} s (checkpoint, load under {below})")


def measure_users(*, contacts: int) -> dict:
    from django.test import Client

    from accounts.models import User
    from tests.bench.pages_data import MANAGER, REP

    only = os.environ.get("BENCH_PAGES_ONLY", "")
    print(f"  load average before: {os.getloadavg()[0]:.1f} (2 = both cores busy)")
    print(f"  {'page':32} {'user':8} {'median':>8} {'p95':>8} {'queries':>7}  status")
    results = {}
    for who in (MANAGER, REP):
        client = Client()
        client.force_login(User.objects.get(username=who))
        role = "manager" if who == MANAGER else "rep"
        for name, url in pages(contacts=contacts):
            if only and only not in name:
                continue
            times, queries, status = measure(client, url)
            row = {
                "median": statistics.median(times),
                "p95": p95(times),
                "queries": queries,
                "status": status,
            }
            results[(name, role)] = row
            print(
                f"  {name:32} {role:8} {row['median']:7.1f}ms {row['p95']:7.1f}ms "
                f"{queries:7d}  {status}",
                flush=True,
            )
    print(f"  load average after: {os.getloadavg()[0]:.1f}")
    return results


def django_setup() -> None:
    import django

    django.setup()
    from django.conf import settings

    # Pages are timed without `collectstatic`: static URLs unhashed, as under runserver.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def main() -> int:
    environment()
    if sys.argv[1:2] == ["--data"]:
        # A data set kept for EXPLAIN: `pages.py --data 1000000` (BENCH_PAGES_DB names it).
        database_reset()
        django_setup()
        from django.core.management import call_command

        from tests.bench.pages_data import data_generate

        call_command("migrate", verbosity=0, interactive=False)
        print(data_generate(messages=int(sys.argv[2])))
        return 0
    if sys.argv[1:2] == ["--measure"]:
        # Time the pages on a kept data set (after `--data`); BENCH_PAGES_ONLY picks pages.
        django_setup()
        slow_ms = float(os.environ.get("BENCH_PAGES_SLOW_MS") or 0)
        if slow_ms:
            from django.db import connection

            def report_slow(execute, sql, params, many, context):
                start = time.perf_counter()
                try:
                    return execute(sql, params, many, context)
                finally:
                    ms = (time.perf_counter() - start) * 1000
                    if ms > slow_ms:
                        print(f"    {ms:.0f} ms: {sql % tuple(repr(p) for p in params or ())}")

            connection.execute_wrappers.append(report_slow)
        measure_users(contacts=int(sys.argv[2]) // 10)
        return 0

    database_reset()
    django_setup()
    print("Switchboard page benchmark (P4)")
    print(machine())
    print(f"each page {REPEAT} times after one warm-up, per user; sizes {SIZES} messages")
    by_size = {}
    try:
        for size in SIZES:
            by_size[size] = run_size(size)
    finally:
        database_reset(drop_only=True)
    largest = max(SIZES)
    print(f"\nP4 at {largest} messages (p95 target {TARGET_P95_MS} ms; same queries at every size)")
    failures = 0
    for key, row in by_size[largest].items():
        counts = {by_size[size][key]["queries"] for size in SIZES}
        slow = row["p95"] >= TARGET_P95_MS
        grows = len(counts) > 1
        bad = row["status"] != 200
        failures += slow or grows or bad
        if slow or grows or bad:
            print(
                f"  MISSED {key[0]} ({key[1]}): p95 {row['p95']:.0f} ms, queries "
                f"{sorted(counts)}, status {row['status']}"
            )
    total = len(by_size[largest])
    print(f"P4 = {total - failures}/{total} pages within target")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
