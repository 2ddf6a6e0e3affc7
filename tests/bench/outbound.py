"""`make bench-outbound` (P5): one WhatsApp number sending at its per-number rate.

A local mock of the Graph API (in this process, threaded, answering like Meta after a fixed
latency) records when each send arrives. The task cluster (`manage.py qcluster`, real Redis and
PostgreSQL) delivers:

  (1) a backlog of N text messages queued before it starts: achieved rate (first to last arrival),
      the busiest second (the most arrivals in any one-second window, sliding) against the
      channel's rate (default 80/s, Meta's default per number);
  (2) a steady feed at 75 % of the rate for a while: p50/p95 latency from queued to sent.

BENCH_OUTBOUND_MESSAGES (2000), BENCH_OUTBOUND_RATE (80), BENCH_OUTBOUND_LATENCY_MS (60: the
mock's answer time), BENCH_Q_WORKERS (2). Nothing is written but the database
`switchboard_outbound`, Redis db 15 and a temp dir.
"""

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import run
from tests.bench.run import BIN, PG_URL, Processes

DB_NAME = "switchboard_outbound"
MESSAGES = int(os.environ.get("BENCH_OUTBOUND_MESSAGES") or 2000)
RATE = int(os.environ.get("BENCH_OUTBOUND_RATE") or 80)
LATENCY = int(os.environ.get("BENCH_OUTBOUND_LATENCY_MS") or 60) / 1000
Q_WORKERS = int(os.environ.get("BENCH_Q_WORKERS") or 2)
FEED_SECONDS = 15
FEEDERS = 4


class Graph(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # kept-alive connections, as Meta's
    arrivals: list[float] = []
    lock = threading.Lock()
    counter = 0

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        arrived = time.time()
        with Graph.lock:
            Graph.arrivals.append(arrived)
            Graph.counter += 1
            number = Graph.counter
        time.sleep(LATENCY)
        body = json.dumps(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": "x", "wa_id": "x"}],
                "messages": [{"id": f"wamid.BENCH{number:012d}"}],
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def busiest_second(arrivals: list[float]) -> int:
    arrivals = sorted(arrivals)
    best, start = 0, 0
    for end, at in enumerate(arrivals):
        while arrivals[start] <= at - 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best


def setup(graph_port: int):
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    run.redis_flush()
    import django

    django.setup()
    import logging

    from django.core.management import call_command

    from crm.models import Contact
    from integrations.models import IntegrationAccount
    from messaging.models import Channel, Conversation

    logging.getLogger("django-q").setLevel(logging.WARNING)  # no "Enqueued" line per message
    call_command("migrate", verbosity=0, interactive=False)
    account = IntegrationAccount.objects.create(
        description="Bench WhatsApp",
        platform="whatsapp_cloud",
        settings={"app_id": "1", "waba_id": "2", "graph_version": "v23.0"},
        secrets={"app_secret": "s", "verify_token": "v", "access_token": "t"},
    )
    channel = Channel.objects.create(
        name="Bench number",
        account=account,
        provider="whatsapp_cloud",
        external_id=run.PHONE_NUMBER_ID,
        display_number="+15550199234",
        throughput_per_second=RATE,
    )
    contacts = Contact.objects.bulk_create(
        [Contact(name=f"Customer {i}", phone=f"+39333{i:07d}") for i in range(500)]
    )
    from django.utils import timezone

    Conversation.objects.bulk_create(
        [
            Conversation(channel=channel, contact=contact, last_inbound_at=timezone.now())
            for contact in contacts
        ]
    )
    return channel, contacts


def queue(channel, contacts, count: int, tag: str, first: int = 0) -> None:
    """`count` texts to the contacts in turn from contacts[first]: one conversation's messages
    leave one after the other, so a feed to one person would measure the provider's latency."""
    from messaging.services import message_send_text

    for i in range(first, first + count):
        message_send_text(
            channel=channel, contact=contacts[i % len(contacts)], text=f"{tag} update {i}"
        )


def feed_steadily(channel, contacts, count: int, rate: float) -> float:
    """Queue `count` messages at `rate` from FEEDERS threads (one message_send costs a few
    database round trips; one thread alone could not keep up); the rate achieved."""
    from django.db import connection

    started = time.monotonic()

    def feeder(k: int) -> None:
        try:
            for i in range(k, count, FEEDERS):
                time.sleep(max(0.0, started + i / rate - time.monotonic()))
                queue(channel, contacts, 1, "feed", first=i)
        finally:
            connection.close()

    threads = [threading.Thread(target=feeder, args=(k,)) for k in range(FEEDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return count / (time.monotonic() - started)


def wait_sent(total: int, timeout: float = 600) -> None:
    from messaging.models import Message

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Message.objects.filter(status="sent").count() >= total:
            return
        time.sleep(0.2)
    raise RuntimeError("not every message was sent in time")


def main() -> int:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Graph)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cfg = run.Config(q_workers=Q_WORKERS)
    run.environment(cfg)
    os.environ.update(
        DATABASE_URL=f"{PG_URL}/{DB_NAME}",
        GRAPH_API_BASE_URL=f"http://127.0.0.1:{server.server_port}",
        PUBLIC_BASE_URL="http://127.0.0.1:9",
    )
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-outbound-"))
    ok = False
    try:
        channel, contacts = setup(server.server_port)
        print("Switchboard outbound benchmark (P5)")
        for line in run.machine_report(cfg)[:3]:
            print(line)
        print(
            f"sending   one WhatsApp number at {RATE}/s to a local Graph mock answering after "
            f"{LATENCY * 1000:.0f} ms; manage.py qcluster with {Q_WORKERS} workers\n",
            flush=True,
        )
        queue(channel, contacts, MESSAGES, "backlog")
        cluster = procs.start(
            [str(BIN / "python"), "manage.py", "qcluster"], log=tmp / "qcluster.log"
        )
        wait_sent(MESSAGES)
        arrivals = sorted(Graph.arrivals)
        rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        backlog_busiest = busiest = busiest_second(arrivals)
        print(
            f"(1) backlog of {MESSAGES}: {len(arrivals)} sends, {rate:.1f} messages/s first to "
            f"last; busiest second {busiest} (limit {RATE}: "
            f"{'within 5 %' if busiest <= RATE * 1.05 else 'OVER by more than 5 %'})",
            flush=True,
        )

        from messaging.models import Message

        Graph.arrivals = []
        feed = int(RATE * 0.75 * FEED_SECONDS)
        fed = feed_steadily(channel, contacts, feed, RATE * 0.75)
        wait_sent(MESSAGES + feed)
        latencies = [
            (sent - created).total_seconds()
            for created, sent in Message.objects.filter(text__startswith="feed").values_list(
                "created_at", "sent_at"
            )
        ]
        latencies.sort()
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        busiest = busiest_second(Graph.arrivals)
        print(
            f"(2) steady feed of {feed} at {RATE * 0.75:.0f}/s ({fed:.0f}/s achieved by "
            f"{FEEDERS} threads calling message_send_text): queued-to-sent p50 "
            f"{statistics.median(latencies) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms; busiest "
            f"second {busiest}"
        )
        procs.stop(cluster)
        failed = Message.objects.exclude(status="sent").count()
        print(
            f"\nP5 outbound  {rate:8.1f} messages/s (target >= {RATE}), busiest second "
            f"{backlog_busiest} (at most {RATE * 1.05:.0f}), p95 queued-to-sent {p95 * 1000:.0f} ms"
        )
        ok = failed == 0
        return 0 if ok else 1
    finally:
        procs.stop_all()
        server.shutdown()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
