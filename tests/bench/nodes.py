"""`make bench-nodes`: the production shape on one machine, as if on two hosts.

Two nodes, each a web server (gunicorn, own port) and a task cluster (qcluster), every one in its
own process group, on one PostgreSQL and one Redis. A round-robin client posts N distinct signed
Meta webhooks over the live nodes, as a load balancer would (a node that refuses connections is
taken out and the request goes to the other). Three runs, each on a fresh database:

  1. both web nodes, ONE task cluster: inbound messages stored per second;
  2. both web nodes, TWO task clusters: the same;
  3. two of each, and node B (its web server and its cluster) is killed with SIGKILL halfway:
     every webhook is acknowledged once by some node, and in the end each one is a stored event,
     each message is stored once, and each message is in its ticket once (description or comment).

Figures are printed with the machine; nothing is written but the database `switchboard_nodes`,
Redis db 15 and a temp dir. BENCH_NODES_MESSAGES (default 4000) sets N.
"""

import io
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench import run
from tests.bench.run import BIN, PG_URL, Processes, free_port, http_get, signature

DB_NAME = "switchboard_nodes"
MESSAGES = int(os.environ.get("BENCH_NODES_MESSAGES") or 4000)
SENDERS = 800
COUNTED = ("events", "events_by_state", "messages", "distinct_messages", "tickets", "in_tickets")
CLIENTS = 8  # concurrent connections of the round-robin client


class Node:
    def __init__(self, name: str, procs: Processes, tmp: Path):
        self.name, self.procs, self.tmp = name, procs, tmp
        self.web = self.cluster = None
        self.port = 0

    def web_start(self) -> None:
        self.port = free_port()
        self.web = self.procs.start(
            [
                str(BIN / "gunicorn"),
                "config.wsgi:application",
                f"--bind=127.0.0.1:{self.port}",
                "--workers=2",
                "--log-level=warning",
            ],
            log=self.tmp / f"web-{self.name}.log",
        )
        deadline = time.monotonic() + 60
        while http_get(self.port, "/healthz") != 200:
            if self.web.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"node {self.name}: web server did not start")
            time.sleep(0.25)

    def cluster_start(self) -> None:
        self.cluster = self.procs.start(
            [str(BIN / "python"), "manage.py", "qcluster"],
            log=self.tmp / f"cluster-{self.name}.log",
            env={**os.environ, "Q_WORKERS": "1"},
        )

    def kill(self) -> None:
        """The host is gone: every process of the node dies at once, nothing is told."""
        import signal

        for proc in (self.web, self.cluster):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                self.procs.running.remove(proc)

    def stop(self) -> None:
        for proc in (self.web, self.cluster):
            if proc is not None:
                self.procs.stop(proc, grace=10)


def setup() -> object:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ["DATABASE_URL"] = f"{PG_URL}/{DB_NAME}"
    run.redis_flush()
    from django.db import connections

    connections.close_all()
    return run.fixtures()


def bodies(tag: str) -> list[bytes]:
    return [run.envelope(tag, i, SENDERS) for i in range(MESSAGES)]


class Balancer:
    """Round robin over the nodes that answer; a refused connection takes a node out."""

    def __init__(self, nodes: list[Node], key: str):
        self.nodes, self.key = list(nodes), key
        self.lock = threading.Lock()
        self.turn = 0
        self.acked = self.retried = 0
        self.by_node: dict[str, int] = {node.name: 0 for node in nodes}

    def _pick(self) -> Node:
        with self.lock:
            if not self.nodes:
                raise RuntimeError("no node answers")
            self.turn += 1
            return self.nodes[self.turn % len(self.nodes)]

    def _out(self, node: Node) -> None:
        with self.lock:
            if node in self.nodes:
                self.nodes.remove(node)

    def post(self, body: bytes) -> None:
        import http.client

        while True:
            node = self._pick()
            conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
            try:
                conn.request(
                    "POST",
                    f"/webhooks/whatsapp/{self.key}/",
                    body=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Hub-Signature-256": signature(body),
                    },
                )
                status = conn.getresponse().status
            except (ConnectionError, OSError):
                # Refused or cut mid-request: the balancer tries the other node, as Meta's
                # retry would. The store deduplicates a body that did arrive the first time.
                self._out(node)
                with self.lock:
                    self.retried += 1
                continue
            finally:
                conn.close()
            if status != 200:
                raise RuntimeError(f"node {node.name} answered {status}")
            with self.lock:
                self.acked += 1
                self.by_node[node.name] += 1
            return


def post_all(balancer: Balancer, payloads: list[bytes], *, at_half=None) -> float:
    queue = list(reversed(payloads))
    lock = threading.Lock()
    half = len(payloads) // 2
    sent = [0]
    errors = []

    def client():
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
                sent[0] += 1
                fire = at_half is not None and sent[0] == half
            if fire:
                at_half()
            try:
                balancer.post(body)
            except Exception as exc:  # reported after the run
                errors.append(exc)
                return

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.monotonic() - started


def wait_stored(expected: int, timeout: float = 600) -> float:
    from messaging.models import Message

    deadline = time.monotonic() + timeout
    while Message.objects.count() < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    return time.monotonic()


def counts() -> dict:
    from django.db.models import Count

    from messaging.models import Message, WebhookEvent
    from tickets.models import Ticket, TicketComment

    messages = Message.objects.count()
    distinct = Message.objects.values("provider_message_id").distinct().count()
    tickets = Ticket.objects.count()
    comments = TicketComment.objects.filter(message__isnull=False).count()
    return {
        "events": WebhookEvent.objects.count(),
        "events_by_state": dict(WebhookEvent.objects.values_list("state").annotate(n=Count("id"))),
        "messages": messages,
        "distinct_messages": distinct,
        "tickets": tickets,
        "in_tickets": tickets + comments,
    }


def phase(procs, tmp, *, clusters: int, kill: bool, tag: str) -> dict:
    account = setup()
    from django.core.management import call_command

    call_command(
        "setup_schedules", stdout=io.StringIO()
    )  # the sweep re-drives what a dead node held
    nodes = [Node("A", procs, tmp), Node("B", procs, tmp)]
    for node in nodes:
        node.web_start()
    for node in nodes[:clusters]:
        node.cluster_start()
    balancer = Balancer(nodes, account.key)
    payloads = bodies(tag)
    started = time.monotonic()
    killed_at = []

    def kill_b():
        killed_at.append(time.monotonic() - started)
        nodes[1].kill()

    post_seconds = post_all(balancer, payloads, at_half=kill_b if kill else None)
    done = wait_stored(MESSAGES)
    result = counts() | {
        "post_seconds": post_seconds,
        "total_seconds": done - started,
        "acked": balancer.acked,
        "retried": balancer.retried,
        "by_node": balancer.by_node,
        "killed_at": killed_at[0] if killed_at else None,
    }
    for node in nodes:
        node.stop()
    return result


def main() -> int:
    procs = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-nodes-"))
    cfg = run.Config(q_workers=1, messages=MESSAGES, senders=SENDERS)
    run.environment(cfg)
    os.environ["DATABASE_URL"] = f"{PG_URL}/{DB_NAME}"
    import django

    ok = False
    try:
        setup_first = True
        django.setup()
        results = {}
        for name, clusters, kill in (("one", 1, False), ("two", 2, False), ("kill", 2, True)):
            if setup_first:
                setup()
                print("Switchboard on two nodes")
                for line in run.machine_report(cfg)[:3]:
                    print(line)
                print(
                    f"nodes     2 x (gunicorn 2 sync workers, own port; qcluster Q_WORKERS=1), "
                    f"own process groups; client: {CLIENTS} connections, round robin; "
                    f"{MESSAGES} webhooks from {SENDERS} senders per run\n",
                    flush=True,
                )
                setup_first = False
            results[name] = r = phase(procs, tmp, clusters=clusters, kill=kill, tag=name)
            rate = r["messages"] / r["total_seconds"]
            print(
                f"  {name:5} clusters={clusters} posted in {r['post_seconds']:.1f} s, all stored "
                f"after {r['total_seconds']:.1f} s: {rate:.0f} messages/s end to end; acked "
                f"{r['acked']} (A {r['by_node']['A']}, B {r['by_node']['B']}), retried "
                f"{r['retried']}" + (f", B killed at {r['killed_at']:.1f} s" if kill else ""),
                flush=True,
            )
            print(f"        counts {json.dumps({k: r[k] for k in COUNTED})}")
        one = results["one"]["messages"] / results["one"]["total_seconds"]
        two = results["two"]["messages"] / results["two"]["total_seconds"]
        k = results["kill"]
        whole = (
            k["acked"] == MESSAGES
            and k["events"] == MESSAGES
            and k["messages"] == k["distinct_messages"] == MESSAGES
            and k["in_tickets"] == MESSAGES
            and set(k["events_by_state"]) == {"processed"}
        )
        print()
        print(f"(e) one cluster node   {one:8.0f} inbound messages/s")
        print(f"    two cluster nodes  {two:8.0f} inbound messages/s  (ratio {two / one:.2f})")
        print(
            f"    node B killed mid-run: {'nothing lost or duplicated' if whole else 'MISMATCH'} "
            f"({k['messages']} messages, {k['events']} events, {k['in_tickets']} in tickets "
            f"for {MESSAGES} webhooks)"
        )
        ok = whole
        return 0 if ok else 1
    finally:
        procs.stop_all()
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
