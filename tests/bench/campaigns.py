"""`make bench-campaigns`: a campaign's achieved send rate against the sandbox, and the time to
build a 100k-contact audience.

One run on this machine, PostgreSQL and Redis on 127.0.0.1:

  (a) audience: 100,000 opted-in contacts; the time `campaign_start` takes to turn the segment into
      recipient rows (one INSERT ... SELECT), for the whole base and for a consent segment, and the
      preview's count;
  (b) send rate: a campaign of N recipients (default 2,400: 30 s at 80/s) at the channel's
      per-number rate (default 80/s), sent by `manage.py campaign_worker` processes through
      `message_send` and `message_deliver` to the sandbox's Graph API served by gunicorn (the
      real WhatsApp Cloud provider over HTTP). The sandbox posts its sent/delivered/read status
      webhooks back to the same server, which stores them; no task cluster runs, so they wait
      unprocessed and the figure is the send path alone.

Tunables (environment): BENCH_CAMPAIGN_AUDIENCE, BENCH_CAMPAIGN_RECIPIENTS, BENCH_CAMPAIGN_RATE,
BENCH_CAMPAIGN_WORKERS (processes), BENCH_CAMPAIGN_CONCURRENCY (threads per process),
BENCH_CAMPAIGN_SERVER_WORKERS (gunicorn), BENCH_CAMPAIGN_REDIS_URL. Nothing is written but a
throwaway database and one Redis db.
"""

import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

DB_NAME = "switchboard_bench_campaigns"
PG_URL = "postgres://postgres@127.0.0.1:5432"
PHONE_NUMBER_ID = "117094531254879"
APP_SECRET = secrets.token_hex(16)


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


AUDIENCE = _int("BENCH_CAMPAIGN_AUDIENCE", 100_000)
RECIPIENTS = _int("BENCH_CAMPAIGN_RECIPIENTS", 2_400)
RATE = _int("BENCH_CAMPAIGN_RATE", 80)
# The channel's per-number counter; the campaign's own throttle is RATE either way.
CHANNEL_RATE = _int("BENCH_CAMPAIGN_CHANNEL_RATE", RATE)
WORKERS = _int("BENCH_CAMPAIGN_WORKERS", 1)
CONCURRENCY = _int("BENCH_CAMPAIGN_CONCURRENCY", 8)
SERVER_WORKERS = _int("BENCH_CAMPAIGN_SERVER_WORKERS", 2)
REDIS_URL = os.environ.get("BENCH_CAMPAIGN_REDIS_URL", "redis://127.0.0.1:6379/15")
# Profile each worker's main thread (cProfile files next to the logs; use concurrency 1).
PROFILE = bool(os.environ.get("BENCH_CAMPAIGN_PROFILE"))


def environment(port: int) -> None:
    from cryptography.fernet import Fernet

    base = f"http://127.0.0.1:{port}"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.bench.campaign_settings",
        DEBUG="False",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECRETS_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DATABASE_URL=f"{PG_URL}/{DB_NAME}",
        REDIS_URL=REDIS_URL,
        SANDBOX_ENABLED="True",
        PUBLIC_BASE_URL=base,
        GRAPH_API_BASE_URL=f"{base}/sandbox/graph",
        PYTHONPATH=str(ROOT),
    )


def database_reset(*, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        if not drop_only:
            conn.execute(f"CREATE DATABASE {DB_NAME}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line),
        platform.processor() or "unknown",
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{os.cpu_count()} cores, {model}, {mem_kb / 1024 / 1024:.0f} GiB RAM"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def fixtures():
    from django.core.management import call_command

    from integrations.models import IntegrationAccount
    from messaging.models import Channel, MessageTemplate
    from messaging.sandbox.emulator import find_template

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
    channel = Channel.objects.create(
        name="Bench number",
        account=account,
        provider="whatsapp_cloud",
        external_id=PHONE_NUMBER_ID,
        display_number="+15550199234",
        throughput_per_second=CHANNEL_RATE,
    )
    sandbox = find_template("cart_reminder", "en_US")
    template = MessageTemplate.objects.create(
        account=account,
        external_id=sandbox["id"],
        name="cart_reminder",
        language="en_US",
        category="MARKETING",
        status="APPROVED",
        components=sandbox["components"],
        body_param_count=1,
        header_format="TEXT",
    )
    return channel, template


def contacts_load(count: int) -> None:
    from crm.models import ConsentPurpose, ConsentRecord, ConsentSource, ConsentState, Contact

    batch = 10_000
    for start in range(0, count, batch):
        made = Contact.objects.bulk_create(
            Contact(phone=f"+39320{n:07d}", name=f"Cliente {n}", kind="customer")
            for n in range(start, min(start + batch, count))
        )
        ConsentRecord.objects.bulk_create(
            ConsentRecord(
                contact=c,
                purpose=ConsentPurpose.MARKETING,
                state=ConsentState.OPTED_IN,
                source=ConsentSource.IMPORT,
            )
            for c in made
        )


def audience_figures(channel, template) -> list[str]:
    from django.db import connection

    from integrations.campaign_selectors import campaign_preview
    from integrations.services import campaigns

    campaigns.campaign_run_enqueue = lambda **kwargs: None  # measured alone: nothing sends
    lines = []
    for label, segment in (("whole base", {}), ("consent = opted in", {"consent": "opted_in"})):
        campaign = campaigns.campaign_create(
            name=f"Audience {label}",
            template=template,
            parameters=["contact.first_name"],
            channel=channel,
            segment=segment,
        )
        began = time.perf_counter()
        count, _ = campaign_preview(campaign=campaign)
        preview = time.perf_counter() - began
        began = time.perf_counter()
        campaign = campaigns.campaign_start(campaign=campaign)
        build = time.perf_counter() - began
        campaigns.campaign_cancel(campaign=campaign)
        lines.append(
            f"audience  {label}: {campaign.audience_count:,} recipients built in {build:.2f} s "
            f"({campaign.audience_count / build:,.0f} rows/s); preview (count + 3 samples) "
            f"{preview * 1000:.0f} ms for {count:,}"
        )
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE integrations_campaignrecipient")
    return lines


def gunicorn_start(port: int, log: Path, *, status_delay: float) -> subprocess.Popen:
    import http.client

    env = {**os.environ, "BENCH_SANDBOX_STATUS_DELAY": str(status_delay)}
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            f"--bind=127.0.0.1:{port}",
            f"--workers={SERVER_WORKERS}",
            "--worker-class=gthread",
            "--threads=8",
            "--timeout=30",
            "--log-level=warning",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not become healthy; see {log}")
        time.sleep(0.25)


def send_figures(channel, template, tmp: Path, *, label: str) -> list[str]:
    from django.db.models import Max, Min

    from crm.models import Company, Contact
    from integrations.campaign_selectors import campaign_totals
    from integrations.services import campaigns
    from messaging.models import Message

    company = Company.objects.create(name=f"Bench recipients, {label}")
    ids = list(
        Contact.objects.filter(company__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:RECIPIENTS]
    )
    Contact.objects.filter(pk__in=ids).update(company=company)
    campaign = campaigns.campaign_create(
        name=f"Send rate, {label}",
        template=template,
        parameters=["contact.first_name"],
        channel=channel,
        segment={"company": company.pk},
        throttle_per_second=RATE,
    )
    campaign = campaigns.campaign_start(campaign=campaign)
    load_before = load()
    began = time.monotonic()
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                *(["-m", "cProfile", "-o", str(tmp / f"worker{n}.prof")] if PROFILE else []),
                "manage.py",
                "campaign_worker",
                str(campaign.pk),
                "--concurrency",
                str(CONCURRENCY),
            ],
            cwd=ROOT,
            stdout=(tmp / f"worker{n}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for n in range(WORKERS)
    ]
    for worker in workers:
        worker.wait()
    wall = time.monotonic() - began
    totals = campaign_totals(campaign=campaign)
    window = Message.objects.filter(campaign_recipient__campaign=campaign).aggregate(
        first=Min("sent_at"), last=Max("sent_at")
    )
    span = (window["last"] - window["first"]).total_seconds() if window["first"] else 0
    handed = totals["sent"] + totals["delivered"] + totals["read"]
    rate = (handed - 1) / span if span else 0.0
    return [
        f"send      ({label}) {RECIPIENTS:,} recipients, throttle {RATE}/s (channel "
        f"counter {CHANNEL_RATE}/s), {WORKERS} worker process(es) x {CONCURRENCY} threads, "
        f"sandbox on gunicorn ({SERVER_WORKERS} workers x 8 threads)",
        f"          accepted by the sandbox: {handed:,}; failed {totals['failed']}, skipped "
        f"{totals['skipped']}, still queued {totals['queued'] + totals['waiting']}",
        f"          achieved rate {rate:.1f} msg/s between the first and last send "
        f"({rate / RATE:.0%} of the throttle); {handed / wall:.1f} msg/s over the workers' "
        f"whole run of {wall:.1f} s (start-up included)",
        f"          load average before {load_before}, after {load()}",
    ]


def main() -> int:
    port = free_port()
    environment(port)
    database_reset()
    import django

    django.setup()
    import redis

    redis.from_url(REDIS_URL).flushdb()
    tmp = Path(tempfile.mkdtemp(prefix="bench-campaigns-"))
    server = None
    try:
        channel, template = fixtures()
        began = time.perf_counter()
        contacts_load(AUDIENCE)
        lines = [
            "Campaigns bench (make bench-campaigns)",
            f"machine   {machine()}; load average at start {load()}",
            f"contacts  {AUDIENCE:,} opted-in contacts loaded in "
            f"{time.perf_counter() - began:.1f} s (bulk, not measured)",
        ]
        lines += audience_figures(channel, template)
        print("\n".join(lines), flush=True)
        for label, delay in (
            ("status webhooks deferred", 3600.0),
            ("status webhooks live", 1.0),
        ):
            server = gunicorn_start(port, tmp / f"gunicorn-{delay}.log", status_delay=delay)
            figures = send_figures(channel, template, tmp, label=label)
            print("\n".join(figures), flush=True)
            server.terminate()
            server.wait(timeout=30)
            server = None
        if PROFILE:
            print(f"profiles in {tmp}")
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        database_reset(drop_only=True)


if __name__ == "__main__":
    sys.exit(main())
