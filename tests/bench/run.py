"""`make bench`: how many signed Meta webhooks Switchboard acknowledges, and how fast it files them.

One run, one gunicorn configuration, PostgreSQL and Redis on this machine:

  (a) signed POSTs/s acknowledged by the real endpoint POST /webhooks/whatsapp/<key>/
      (verify, store a WebhookEvent, enqueue the task after commit);
  (b) the same for bench/ceiling.py, which only verifies and inserts one row of the same shape;
  (c) inbound messages/s carried by `manage.py qcluster` from N stored events (stored through
      the endpoint's service, which wakes a drain task) to N stored messages;
  (d) status events/s carried the same way: N events telling N/2 sent messages `delivered`,
      then `read`, all applied.

(b) and (a) alternate in rounds of a fixed length after a warm-up; the task cluster is not running
then, so their tasks wait in Redis and (a) measures only the acknowledgment path. Every request
body is distinct (the endpoint stores a repeated body once and answers the repeat without an
insert), signed ahead of time and sent by wrk from a file; tunables are BENCH_* environment
variables (see Config). Nothing is written but a throwaway database, Redis db 15 and a temp dir.
"""

import contextlib
import hashlib
import hmac
import http.client
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = ROOT / "tests" / "bench"
BIN = Path(sys.executable).parent

DB_NAME = "switchboard_bench"
PG_URL = "postgres://postgres@127.0.0.1:5432"
REDIS_URL = "redis://127.0.0.1:6379/15"
WABA_ID = "104896532187654"
PHONE_NUMBER_ID = "117094531254879"
APP_SECRET = secrets.token_hex(16)
TICK = os.sysconf("SC_CLK_TCK")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass
class Config:
    workers: int = _env_int("BENCH_WORKERS", 4)  # 2 x cores, as the README's production line
    worker_class: str = os.environ.get("BENCH_WORKER_CLASS", "sync")
    threads: int = _env_int("BENCH_THREADS", 1)  # per worker, gthread only
    connections: int = _env_int("BENCH_CONNECTIONS", 16)
    wrk_threads: int = _env_int("BENCH_WRK_THREADS", 1)
    duration: int = _env_int("BENCH_DURATION", 15)
    warmup: int = _env_int("BENCH_WARMUP", 5)
    rounds: int = _env_int("BENCH_ROUNDS", 2)
    max_rate: int = _env_int("BENCH_MAX_RATE", 4000)  # bodies signed per second of a round
    messages: int = _env_int("BENCH_MESSAGES", 5000)
    senders: int = _env_int("BENCH_SENDERS", 1000)
    q_workers: int = _env_int("BENCH_Q_WORKERS", 2)
    cluster_timeout: int = _env_int("BENCH_CLUSTER_TIMEOUT", 300)
    generator: str = os.environ.get("BENCH_LOADGEN", "wrk")  # or "python"
    port: int = 0
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="switchboard-bench-")))


# Processes: every one started here runs in its own session and is stopped by its own id.


class Processes:
    def __init__(self):
        self.running: list[subprocess.Popen] = []

    def start(self, args, *, log: Path, **kwargs) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen, grace: float = 15) -> None:
        if proc.poll() is None:
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(grace)
        # Whatever the leader left behind in its session (workers, cluster children).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.wait(10)
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc, grace=5)


# CPU accounting from /proc: who used the two cores during a phase.


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def _tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for child in children:
            pids.extend(_tree(int(child)))
    return pids


def _named(name: str) -> list[int]:
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == name:
                pids.append(int(comm.parent.name))
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def _group_cpu(pids: list[int]) -> dict[int, float]:
    return {pid: _cpu_seconds(pid) for pid in pids}


def cpu_snapshot(server_pid: int | None) -> dict:
    """CPU seconds so far: machine-wide, per process of each group, and of reaped children."""
    stat = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "wall": time.monotonic(),
        # user, nice, system, irq, softirq (guest time is inside user); steal: the hypervisor
        # gave the core to another machine (a noisy neighbour, not this benchmark).
        "machine_busy": (stat[0] + stat[1] + stat[2] + stat[5] + stat[6]) / TICK,
        "steal": stat[7] / TICK,
        "server": _group_cpu(_tree(server_pid)) if server_pid else {},
        "postgres": _group_cpu(_named("postgres")),
        "redis": _group_cpu(_named("redis-server")),
        "client": children.ru_utime + children.ru_stime,  # the load generator, once reaped
    }


def _delta(before, after) -> float:
    if isinstance(after, dict):
        # Per process: one that ended counts up to its last reading, one that started counts
        # whole; never negative, as a plain difference of sums could be.
        return sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())
    return after - before


def cpu_percent(before: dict, after: dict) -> dict[str, float]:
    """Percent of one core per group over the interval (200 % = both cores).

    "other" is the rest of the machine: other work on a shared host, the kernel, this script.
    """
    wall = after["wall"] - before["wall"]
    cpu = {k: 100 * _delta(before[k], after[k]) / wall for k in before if k != "wall"}
    ours = cpu["server"] + cpu["postgres"] + cpu["redis"] + cpu["client"]
    cpu["other"] = max(0.0, cpu["machine_busy"] - ours)
    return cpu


class CpuWatch:
    """CPU per group over an interval, sampled often enough that processes which end in between
    (recycled cluster workers, database connections past CONN_MAX_AGE) still count."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.before = cpu_snapshot(server_pid)
        self.latest = {k: dict(v) for k, v in self.before.items() if isinstance(v, dict)}

    def sample(self) -> dict:
        snapshot = cpu_snapshot(self.server_pid)
        for group, per_pid in self.latest.items():
            per_pid.update(snapshot[group])
        return snapshot

    def result(self) -> tuple[dict[str, float], dict[str, float]]:
        """(percent of one core, CPU seconds) per group since the watch began."""
        after = {**self.sample(), **self.latest}
        seconds = {k: _delta(self.before[k], after[k]) for k in self.latest}
        return cpu_percent(self.before, after), seconds


# Webhook bodies: realistic Meta inbound text envelopes, pairwise distinct, signed ahead of time.


def envelope(tag: str, i: int, senders: int) -> bytes:
    sender_no = i % senders
    wa_id = f"39333{sender_no:07d}"
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550199234", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": f"Bench Customer {sender_no}"}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": f"wamid.HBgM{wa_id}FQIAEhgg{tag}{i:010d}QkVOQ0gA",
                "timestamp": str(1752489000 + i),
                "text": {"body": f"Hi, my order #{100000 + i} has not arrived yet"},
                "type": "text",
            }
        ],
    }
    data = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(data, separators=(",", ":")).encode()


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()


def write_bodies(path: Path, tag: str, count: int, senders: int) -> None:
    with open(path, "wb") as out:
        for i in range(count):
            body = envelope(tag, i, senders)
            out.write(signature(body).encode() + b"\t" + body + b"\n")


# Set-up: a fresh database, one WhatsApp account and channel, the ceiling's table.


def environment(cfg: Config) -> None:
    from cryptography.fernet import Fernet

    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.bench.settings",
        DEBUG="False",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECRETS_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=f"{PG_URL}/{DB_NAME}",
        REDIS_URL=REDIS_URL,
        Q_WORKERS=str(cfg.q_workers),
        BENCH_APP_SECRET=APP_SECRET,
        PYTHONPATH=str(ROOT),
    )


def database_reset() -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def redis_flush() -> None:
    import redis

    redis.from_url(REDIS_URL).flushdb()


def fixtures():
    from django.core.management import call_command
    from django.db import connection

    from integrations.models import IntegrationAccount
    from messaging.models import Channel

    call_command("migrate", verbosity=0, interactive=False)
    account = IntegrationAccount.objects.create(
        description="Bench WhatsApp",
        platform="whatsapp_cloud",
        settings={"app_id": "1", "waba_id": "2", "graph_version": "v23.0"},
        secrets={
            "app_secret": APP_SECRET,
            "verify_token": secrets.token_hex(8),
            "access_token": secrets.token_hex(16),
        },
    )
    Channel.objects.create(
        name="Bench number",
        account=account,
        provider="whatsapp_cloud",
        external_id=PHONE_NUMBER_ID,
        display_number="+15550199234",
    )
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_ceiling (LIKE messaging_webhookevent INCLUDING ALL)")
    return account


def machine_report(cfg: Config) -> list[str]:
    import django
    from django.db import connection
    from django_q.brokers import get_broker

    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
        pg_settings = []
        for name in ("shared_buffers", "synchronous_commit", "fsync", "max_connections"):
            cursor.execute(f"SHOW {name}")
            pg_settings.append(f"{name}={cursor.fetchone()[0]}")
    if cfg.generator == "wrk" and not shutil.which("wrk"):
        generator = "wrk (not installed: this benchmark does not use it)"
    elif cfg.generator == "wrk":
        wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
        generator = (wrk.stdout or wrk.stderr).split("[")[0].strip()
        generator += f", {cfg.wrk_threads} thread(s)"
    else:
        generator = "tests/bench/loadgen.py (Python, http.client), 2 processes"
    return [
        f"machine   {os.cpu_count()} cores, {model}, {mem_kb / 1024 / 1024:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}",
        f"services  PostgreSQL {pg_version} ({', '.join(pg_settings)}); {get_broker().info()}",
        f"software  Python {platform.python_version()}, Django {django.get_version()}, "
        f"gunicorn {version('gunicorn')}, django-q2 {version('django-q2')}, "
        f"psycopg {version('psycopg')}",
        f"server    gunicorn --worker-class {cfg.worker_class} --workers {cfg.workers}"
        + (f" --threads {cfg.threads}" if cfg.worker_class == "gthread" else "")
        + f", DJANGO_SETTINGS_MODULE=tests.bench.settings (DEBUG off, CONN_MAX_AGE=60, "
        f"LOG_LEVEL={os.environ.get('LOG_LEVEL', 'INFO')}), REDIS_URL={REDIS_URL}",
        f"load      {generator}, {cfg.connections} connections, {cfg.warmup} s warm-up per "
        f"view, then {cfg.rounds} x ({cfg.duration} s ceiling, {cfg.duration} s real)",
        f"cluster   manage.py qcluster, {cfg.q_workers} workers (Q_WORKERS), Redis broker, "
        f"{cfg.messages} events from {min(cfg.senders, cfg.messages)} senders",
    ]


# Load phases.


def ensure_wrk(cfg: Config) -> None:
    if cfg.generator != "wrk" or shutil.which("wrk"):
        return
    if shutil.which("apt-get") and os.geteuid() == 0:
        print("wrk is missing: installing it with apt-get ...", flush=True)
        for step in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            subprocess.run(step, check=False, stdout=subprocess.DEVNULL, timeout=600)
    if not shutil.which("wrk"):
        print("wrk is unavailable: falling back to tests/bench/loadgen.py (costs more client CPU).")
        cfg.generator = "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_get(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return 0
    finally:
        conn.close()


def gunicorn_start(cfg: Config, procs: Processes) -> subprocess.Popen:
    cfg.port = free_port()
    args = [
        str(BIN / "gunicorn"),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{cfg.port}",
        f"--workers={cfg.workers}",
        f"--worker-class={cfg.worker_class}",
        "--backlog=2048",
        "--timeout=30",
        "--graceful-timeout=10",
        "--log-level=warning",
    ]
    if cfg.worker_class == "gthread":
        args.append(f"--threads={cfg.threads}")
    server = procs.start(args, log=cfg.tmp / "gunicorn.log")
    deadline = time.monotonic() + 60
    while http_get(cfg.port, "/healthz") != 200:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not become healthy; see {cfg.tmp / 'gunicorn.log'}")
        time.sleep(0.25)
    return server


def load(
    cfg: Config, procs: Processes, *, path: str, bodies: Path, seconds: int, watch: CpuWatch
) -> dict:
    if cfg.generator == "wrk":
        args = [
            "wrk",
            f"--threads={cfg.wrk_threads}",
            f"--connections={cfg.connections}",
            f"--duration={seconds}s",
            "--timeout=10s",
            f"--script={HERE / 'wrk_signed.lua'}",
            f"http://127.0.0.1:{cfg.port}",
        ]
        env = {
            **os.environ,
            "BENCH_BODIES": str(bodies),
            "BENCH_PATH": path,
            "BENCH_WRK_THREADS": str(cfg.wrk_threads),
        }
    else:
        args = [sys.executable, str(HERE / "loadgen.py"), str(bodies), str(cfg.port), path]
        args += [str(seconds), str(cfg.connections), "2"]
        env = dict(os.environ)
    log = cfg.tmp / "load.out"
    log.write_bytes(b"")
    proc = procs.start(args, log=log, env=env)
    deadline = time.monotonic() + seconds + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            watch.sample()
    finally:
        procs.stop(proc, grace=5)
    for line in log.read_text().splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    raise RuntimeError(f"the load generator printed no result:\n{log.read_text()[-2000:]}")


def table_rows(table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (fixed table names)
        return cursor.fetchone()[0]


VIEWS = {
    "ceiling": ("/bench/ceiling/{key}/", "bench_ceiling"),
    "real": ("/webhooks/whatsapp/{key}/", "messaging_webhookevent"),
}


def measure_view(cfg, procs, server, account, view: str, tag: str, seconds: int) -> dict:
    path_template, table = VIEWS[view]
    bodies = cfg.tmp / f"bodies-{tag}.txt"
    write_bodies(bodies, tag, cfg.max_rate * seconds, cfg.senders)
    rows_before = table_rows(table)
    watch = CpuWatch(server.pid)
    path = path_template.format(key=account.key)
    result = load(cfg, procs, path=path, bodies=bodies, seconds=seconds, watch=watch)
    cpu, _ = watch.result()
    bodies.unlink()
    acked = result["requests"] - result["non_2xx"]
    return {
        **result,
        "view": view,
        "tag": tag,
        "rate": acked / result["duration_s"],
        "acked": acked,
        "stored": table_rows(table) - rows_before,
        "connections": cfg.connections,
        "cpu": cpu,
    }


def round_line(r: dict) -> str:
    cpu = r["cpu"]
    flags = []
    if r["non_2xx"] or r["errors"]:
        flags.append(f"{r['non_2xx']} non-2xx, {r['errors']} socket errors")
    if r["wraps"]:
        flags.append(f"bodies repeated ({r['wraps']} wraps): raise BENCH_MAX_RATE")
    # Requests still in flight when the generator stops are stored but not counted as acked.
    if not 0 <= r["stored"] - r["acked"] <= r["connections"]:
        flags.append(f"stored {r['stored']} rows for {r['acked']} acks")
    return (
        f"  {r['tag']:<5} {r['view']:<8} {r['rate']:>8.0f} {r['p50_ms']:>7.1f} "
        f"{r['p99_ms']:>7.1f} {cpu['server']:>7.0f} {cpu['postgres']:>5.0f} "
        f"{cpu['client']:>6.0f} {cpu['other']:>5.0f} {cpu['machine_busy']:>5.0f} "
        f"{cpu['steal']:>5.0f}  " + "; ".join(flags or ["ok"])
    )


# (c): the task cluster drains N enqueued events into N messages.
# (d): the same for N status events (delivered, then read) about N/2 messages we sent.


def status_envelope(wamid: str, status: str, i: int) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550199234", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [
            {
                "id": wamid,
                "status": status,
                "timestamp": str(1752489000 + i),
                "recipient_id": f"39333{i % 1000:07d}",
                "conversation": {"id": f"c{i}", "origin": {"type": "service"}},
                "pricing": {"billable": True, "pricing_model": "PMP", "category": "service"},
            }
        ],
    }
    data = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(data, separators=(",", ":")).encode()


def events_store(account, bodies) -> int:
    """Store bodies through the endpoint's own service (insert, then wake the drain on commit),
    so the cluster starts from what the endpoint leaves behind."""
    from django.db import connection
    from django_q.brokers import get_broker

    from messaging.models import WebhookEvent
    from messaging.services import webhook_event_store

    redis_flush()  # only the drain tasks of this phase are waiting
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE messaging_webhookevent, bench_ceiling")
    count = 0
    for body in bodies:
        headers = {
            "content-type": "application/json",
            "user-agent": "facebookexternalua",
            "x-hub-signature-256": signature(body),
        }
        webhook_event_store(provider="whatsapp_cloud", account=account, body=body, headers=headers)
        count += 1
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    pending = WebhookEvent.objects.filter(state=WebhookEvent.State.PENDING).count()
    queued = get_broker().queue_size()
    if pending != count or queued < 1:
        raise RuntimeError(f"{pending} pending events, {queued} drain tasks for {count}")
    return count


def cluster_run(cfg: Config, procs: Processes, *, total: int, done, span, log: str) -> dict:
    """Start the task cluster, wait until `done()` reaches `total`; rates and CPU."""
    import logging

    from django.db.models import Count
    from django_q.models import Task

    from messaging.models import WebhookEvent

    logging.getLogger("django-q").setLevel(logging.WARNING)  # no "Enqueued" line per task here
    Task.objects.all().delete()
    watch = CpuWatch(None)
    started = time.monotonic()
    cluster = procs.start([str(BIN / "python"), "manage.py", "qcluster"], log=cfg.tmp / log)
    watch.server_pid = cluster.pid  # every cluster process counts whole: none ran before
    finished = 0
    deadline = started + cfg.cluster_timeout
    while finished < total and time.monotonic() < deadline and cluster.poll() is None:
        time.sleep(0.2)
        watch.sample()
        finished = done()
    wall = time.monotonic() - started
    cpu, seconds = watch.result()
    results_saved = Task.objects.count()
    procs.stop(cluster, grace=10)

    first, last = span()
    steady = None
    if finished > 1 and last > first:
        steady = (finished - 1) / (last - first).total_seconds()
    states = dict(WebhookEvent.objects.values_list("state").annotate(n=Count("id")))
    return {
        "stored": finished,
        "total": total,
        "wall": wall,
        "rate_wall": finished / wall,
        "rate_steady": steady,
        "results_saved": results_saved,
        "states": states,
        "cpu": cpu,
        "cpu_ms_per_item": {
            "qcluster": 1000 * seconds["server"] / max(finished, 1),
            "postgres": 1000 * seconds["postgres"] / max(finished, 1),
        },
        "log": cfg.tmp / log,
    }


def measure_cluster(cfg: Config, procs: Processes, account) -> dict:
    from django.db.models import Max, Min

    from messaging.models import Message

    total = events_store(account, (envelope("c", i, cfg.senders) for i in range(cfg.messages)))

    def span():
        found = Message.objects.aggregate(first=Min("created_at"), last=Max("created_at"))
        return found["first"], found["last"]

    return cluster_run(
        cfg, procs, total=total, done=Message.objects.count, span=span, log="qcluster.log"
    )


def measure_statuses(cfg: Config, procs: Processes, account) -> dict:
    """N/2 messages we sent, each told `delivered` then `read`: N status events in all."""
    from django.db.models import Max, Min

    from messaging.models import Channel, Conversation, Message, WebhookEvent

    channel = Channel.objects.get(external_id=PHONE_NUMBER_ID)
    conversations = list(Conversation.objects.values_list("pk", flat=True))
    sent = cfg.messages // 2
    Message.objects.bulk_create(
        [
            Message(
                channel=channel,
                conversation_id=conversations[i % len(conversations)],
                direction=Message.Direction.OUTBOUND,
                provider_message_id=f"wamid.OUT{i:010d}",
                type="text",
                text=f"Your order #{100000 + i} ships today",
                status=Message.Status.SENT,
            )
            for i in range(sent)
        ],
        batch_size=1000,
    )
    bodies = (
        status_envelope(f"wamid.OUT{i % sent:010d}", "delivered" if i < sent else "read", i)
        for i in range(2 * sent)
    )
    total = events_store(account, bodies)
    done = WebhookEvent.objects.exclude(state=WebhookEvent.State.PENDING).count

    def span():
        found = WebhookEvent.objects.aggregate(first=Min("processed_at"), last=Max("processed_at"))
        return found["first"], found["last"]

    result = cluster_run(cfg, procs, total=total, done=done, span=span, log="qcluster-d.log")
    result["read"] = Message.objects.filter(
        direction=Message.Direction.OUTBOUND, status=Message.Status.READ
    ).count()
    result["sent"] = sent
    return result


def cluster_lines(r: dict, unit: str) -> list[str]:
    rate = r["rate_steady"] or r["rate_wall"]
    cpu, per = r["cpu"], r["cpu_ms_per_item"]
    lines = [
        f"      {r['stored']} {unit} in {r['wall']:.1f} s from cluster start "
        f"({r['rate_wall']:.0f}/s incl. start-up); first-to-last {rate:.0f}/s; events by state "
        f"{r['states']}; task results saved by the monitor by then: {r['results_saved']}",
        f"      CPU: qcluster {cpu['server']:.0f} %, postgres {cpu['postgres']:.0f} %, "
        f"redis {cpu['redis']:.0f} %, other {cpu['other']:.0f} %, machine busy "
        f"{cpu['machine_busy']:.0f} %, steal {cpu['steal']:.0f} %; per item: qcluster "
        f"{per['qcluster']:.1f} ms, postgres {per['postgres']:.1f} ms",
    ]
    if r["stored"] < r["total"]:
        lines.append(f"      INCOMPLETE: see {r['log']}")
    return lines


def main() -> int:
    cfg = Config()
    procs = Processes()

    def stop_on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop_on_signal)
    ok = False
    try:
        ensure_wrk(cfg)
        environment(cfg)
        database_reset()
        redis_flush()
        import django

        django.setup()
        account = fixtures()
        print("Switchboard webhook benchmark")
        for line in machine_report(cfg):
            print(line)
        print(flush=True)

        server = gunicorn_start(cfg, procs)
        print(
            "  round view        acks/s  p50 ms  p99 ms  server    pg client other  busy "
            "steal  (CPU, % of one core)",
            flush=True,
        )
        for view in ("ceiling", "real"):
            print(round_line(measure_view(cfg, procs, server, account, view, "warm", cfg.warmup)))
        measured = []
        for n in range(1, cfg.rounds + 1):
            for view in ("ceiling", "real"):
                result = measure_view(cfg, procs, server, account, view, f"r{n}", cfg.duration)
                measured.append(result)
                print(round_line(result), flush=True)
        procs.stop(server)

        from django_q.brokers import get_broker

        waiting = get_broker().queue_size()
        stored_real = table_rows("messaging_webhookevent")
        print(
            f"  drain tasks waiting in Redis after (a): {waiting} for {stored_real} stored events"
        )
        print(f"\n  (c) task cluster: {cfg.messages} enqueued events ...", flush=True)
        c = measure_cluster(cfg, procs, account)
        print("\n".join(cluster_lines(c, "messages")), flush=True)
        print(f"\n  (d) task cluster: {cfg.messages} enqueued status events ...", flush=True)
        d = measure_statuses(cfg, procs, account)
        print("\n".join(cluster_lines(d, "status events")))
        print(f"      {d['read']} of {d['sent']} sent messages read")

        a = sum(r["acked"] for r in measured if r["view"] == "real")
        a /= sum(r["duration_s"] for r in measured if r["view"] == "real")
        b = sum(r["acked"] for r in measured if r["view"] == "ceiling")
        b /= sum(r["duration_s"] for r in measured if r["view"] == "ceiling")
        c_rate = c["rate_steady"] or c["rate_wall"]
        d_rate = d["rate_steady"] or d["rate_wall"]
        print()
        print(f"(a) real endpoint      {a:8.0f} webhooks acknowledged/s")
        print(f"(b) ceiling            {b:8.0f} webhooks acknowledged/s")
        print(f"(c) task cluster       {c_rate:8.0f} inbound messages stored/s")
        print(f"(d) task cluster       {d_rate:8.0f} status events applied/s")
        for name, ratio, target in (
            ("P1 acks       a/b", a / b, 0.9),
            ("P2 inbound    c/b", c_rate / b, 0.8),
            ("P3 statuses   d/c", d_rate / c_rate, 1.0),
        ):
            verdict = "met" if ratio >= target else "MISSED"
            print(f"{name} = {ratio:.2f}  (target >= {target}: {verdict})")
        ok = c["stored"] == cfg.messages and d["read"] == d["sent"]
        return 0 if ok else 1
    finally:
        procs.stop_all()
        if ok:
            shutil.rmtree(cfg.tmp, ignore_errors=True)
        else:
            print(f"logs kept in {cfg.tmp}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
