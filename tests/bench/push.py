"""`make bench-push`: the live inbox's two figures, on the servers `make run` starts.

  (1) push latency: from the moment a signed status webhook is posted to the real endpoint
      (POST /webhooks/whatsapp/<key>/: verify, store, wake the task cluster, which applies the
      status and publishes after commit) to the moment the tick changes in a connected chromium
      page (its clock: a MutationObserver stamps Date.now(); the same machine's clock as here).
      Median and p95 over BENCH_PUSH_SAMPLES ticks (delivered, then read, per message).
  (2) idle cost: 50 agents (BENCH_AGENTS) with the inbox's WebSocket open, plus the browser,
      nothing happening for BENCH_IDLE_SECONDS: SQL statements the web process ran, per minute.

The web process is uvicorn serving config.asgi (as the Procfile), the task cluster is
`manage.py qcluster`. With DATABASE_URL/REDIS_URL set (PostgreSQL and Redis), it uses a throwaway
database `switchboard_bench_push` on that server and the Redis channel layer; without them, a
temporary SQLite file, the ORM broker and the in-memory layer reached through the relay (the
embedded default). Every process started here is stopped by its own id.
"""

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
DB_NAME = "switchboard_bench_push"
WABA_ID = "104896532187654"
PHONE_NUMBER_ID = "117094531254879"
APP_SECRET = secrets.token_hex(16)
AGENTS = int(os.environ.get("BENCH_AGENTS") or 50)
SAMPLES = int(os.environ.get("BENCH_PUSH_SAMPLES") or 40)
IDLE_SECONDS = int(os.environ.get("BENCH_IDLE_SECONDS") or 60)

TICK_RECORDER = """
window.__ticks = [];
new MutationObserver(function (changes) {
  changes.forEach(function (change) {
    var node = change.target;
    if (node.classList && node.classList.contains("ticks")) {
      window.__ticks.push({ id: node.closest("li").dataset.id, status: node.dataset.status,
                            at: Date.now() });
    }
  });
}).observe(document, { attributes: true, attributeFilter: ["data-status"], subtree: true });
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(tmp: Path, port: int) -> dict:
    from cryptography.fernet import Fernet

    env = {
        "DJANGO_SETTINGS_MODULE": "tests.bench.push_settings",
        "DEBUG": "False",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECRETS_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(ROOT),
        "Q_WORKERS": "1",
    }
    database = os.environ.get("DATABASE_URL", "")
    if database.startswith("postgres"):
        parts = urlsplit(database)
        env["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{DB_NAME}"))
        env["REDIS_URL"] = os.environ.get("REDIS_URL", "")
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
        env["REDIS_URL"] = ""
        env["LIVE_RELAY_URL"] = f"http://127.0.0.1:{port}/live/relay"
    os.environ.update(env)
    return env


def database_reset(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def fixtures():
    """One WhatsApp channel, a manager, AGENTS sales reps, one client of the first rep with a
    conversation holding SAMPLES/2 sent messages (each will be delivered, then read)."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from accounts.models import AgentProfile, Role, User
    from crm.models import Contact
    from integrations.models import IntegrationAccount
    from messaging.models import Channel, Conversation, Message

    call_command("migrate", verbosity=0, interactive=False)
    account = IntegrationAccount.objects.create(
        description="Bench WhatsApp",
        platform="whatsapp_cloud",
        settings={"app_id": "1", "waba_id": WABA_ID, "graph_version": "v23.0"},
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
    )

    def person(username, role):
        # No password (they sign in by session): hashing 51 of them would take a minute.
        user = User.objects.create_user(username=username, password=None, is_staff=True)
        AgentProfile.objects.create(user=user, role=role).channels.add(channel)
        session = SessionStore()
        session.update(
            {
                "_auth_user_id": str(user.pk),
                "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
                "_auth_user_hash": user.get_session_auth_hash(),
            }
        )
        session.create()
        return user, session.session_key

    manager = person("manager", Role.MANAGER)
    reps = [person(f"rep{n}", Role.SALES_REP) for n in range(AGENTS)]
    contact = Contact.objects.create(
        name="Bench client", phone="+393330000001", responsible=reps[0][0]
    )
    conversation = Conversation.objects.create(
        channel=channel, contact=contact, assignee=reps[0][0]
    )
    messages = [
        Message.objects.create(
            channel=channel,
            conversation=conversation,
            direction="out",
            text=f"Update {n}",
            provider_message_id=f"wamid.BENCH{n:06d}",
            status="sent",
            sent_by=manager[0],
        )
        for n in range(max(1, SAMPLES // 2))
    ]
    return account, conversation, messages, manager[1], [key for _user, key in reps]


def status_body(wamid: str, status: str) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550199234", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [
            {
                "id": wamid,
                "status": status,
                "timestamp": str(int(time.time())),
                "recipient_id": "393330000001",
            }
        ],
    }
    data = {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(data, separators=(",", ":")).encode()


def post_signed(url: str, body: bytes) -> int:
    import requests

    signature = "sha256=" + hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    response = requests.post(
        url,
        data=body,
        timeout=10,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
    )
    return response.status_code


class Agents:
    """AGENTS inbox sockets held open by plain WebSocket clients in one thread."""

    def __init__(self, base: str, session_keys: list[str]):
        self.url = base.replace("http://", "ws://") + "/inbox/live"
        self.origin = base
        self.keys = session_keys
        self.ready = threading.Event()
        self.stop = None
        self.opened = 0
        self.alive = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.run(),), daemon=True
        )

    async def run(self):
        import websockets

        self.stop = asyncio.Event()
        sockets, pongs = [], []
        for key in self.keys:
            ws = await websockets.connect(
                self.url, origin=self.origin, additional_headers={"Cookie": f"sessionid={key}"}
            )
            assert json.loads(await ws.recv()) == {"type": "hello"}
            sockets.append(ws)
            pongs.append(asyncio.Event())
        # Each agent reads what it is sent, as a page does (an unread client stops answering
        # the server's keep-alive pings and is dropped).
        readers = [
            asyncio.create_task(self.read(ws, pong))
            for ws, pong in zip(sockets, pongs, strict=True)
        ]
        self.opened = len(sockets)
        self.ready.set()
        await self.stop.wait()
        # Still open after the idle window: each answers a ping.
        for ws, pong in zip(sockets, pongs, strict=True):
            with contextlib.suppress(Exception):
                await ws.send(json.dumps({"type": "ping"}))
                await asyncio.wait_for(pong.wait(), 5)
                self.alive += 1
        for ws in sockets:
            await ws.close()
        for reader in readers:
            reader.cancel()

    async def read(self, ws, pong: asyncio.Event):
        with contextlib.suppress(Exception):
            async for frame in ws:
                if json.loads(frame).get("type") == "pong":
                    pong.set()

    def start(self):
        self.thread.start()
        if not self.ready.wait(120):
            raise RuntimeError("the agents' sockets did not open")

    def close(self):
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(20)


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="switchboard-bench-push-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = environment(tmp, port)
    database_reset(env["DATABASE_URL"])
    import django

    django.setup()
    from django.db import connection

    from messaging.webhook_accounts import webhook_url

    account, conversation, messages, manager_key, rep_keys = fixtures()
    hook = webhook_url(account)
    connection.close()

    procs = []

    def start(args, log):
        with open(tmp / log, "ab") as out:
            proc = subprocess.Popen(
                args,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=os.environ.copy(),
            )
        procs.append(proc)
        return proc

    try:
        start(
            [
                str(BIN / "uvicorn"),
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--ws",
                "websockets-sansio",
                "--no-access-log",
            ],
            "web.log",
        )
        start([str(BIN / "python"), "manage.py", "qcluster"], "qcluster.log")
        import requests

        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{base}/healthz", timeout=2).status_code < 500:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start: see {tmp / 'web.log'}")
            time.sleep(0.2)

        agents = Agents(base, rep_keys)
        agents.start()
        from playwright.sync_api import sync_playwright

        # Playwright keeps an event loop in this thread; the ORM reads here stay synchronous.
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-dev-shm-usage"],
            )
            context = browser.new_context()
            context.add_cookies([{"name": "sessionid", "value": manager_key, "url": base}])
            page = context.new_page()
            page.add_init_script(TICK_RECORDER)
            page.goto(f"{base}/inbox/c/{conversation.pk}/")
            page.wait_for_selector("html[data-live=up]", state="attached", timeout=20000)
            page.wait_for_timeout(1000)

            from messaging.models import Message

            latencies, applied = [], []
            for message in messages:
                for status in ("delivered", "read"):
                    started = time.time() * 1000
                    assert (
                        post_signed(hook, status_body(message.provider_message_id, status)) == 200
                    )
                    # When the task cluster has committed the status (read here every 5 ms): the
                    # rest of the latency is the push itself.
                    while not Message.objects.filter(pk=message.pk, status=status).exists():
                        time.sleep(0.005)
                    applied.append(time.time() * 1000 - started)
                    page.wait_for_function(
                        "([id, status]) => window.__ticks.some("
                        "t => t.id === id && t.status === status)",
                        arg=[str(message.pk), status],
                        polling="raf",
                        timeout=30000,
                    )
                    seen = page.evaluate(
                        "([id, status]) => window.__ticks.find("
                        "t => t.id === id && t.status === status).at",
                        [str(message.pk), status],
                    )
                    latencies.append(seen - started)
            time.sleep(2)  # the last events' reads settle before the idle window opens

            before = requests.get(f"{base}/bench/queries", timeout=5).json()["queries"]
            time.sleep(IDLE_SECONDS)
            after = requests.get(f"{base}/bench/queries", timeout=5).json()["queries"]
            browser.close()
        agents.close()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    shared = bool(env["REDIS_URL"])
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    print("Switchboard live push benchmark (make bench-push)")
    print(
        f"machine   {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(
        f"servers   uvicorn {version('uvicorn')} (config.asgi, 1 process) + manage.py qcluster"
        f" (1 worker); channels {version('channels')}"
    )
    print(
        "database  "
        + ("PostgreSQL" if env["DATABASE_URL"].startswith("postgres") else "SQLite")
        + (
            "; Redis broker and channels-redis layer"
            if shared
            else "; ORM broker (polls every 0.5 s); in-memory layer reached through /live/relay"
        )
    )
    print(
        f"(1) status webhook -> tick in chromium, {len(latencies)} ticks: "
        f"median {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms,"
        f" min {min(latencies):.0f} ms, max {max(latencies):.0f} ms"
    )
    pushed = [total - stored for total, stored in zip(latencies, applied, strict=True)]
    print(
        f"    of which webhook -> status committed by the task cluster: median "
        f"{statistics.median(applied):.0f} ms, p95 {percentile(applied, 0.95):.0f} ms; "
        f"committed -> tick on screen: median {statistics.median(pushed):.0f} ms, "
        f"p95 {percentile(pushed, 0.95):.0f} ms"
    )
    idle = (after - before) * 60 / IDLE_SECONDS
    print(
        f"(2) idle: {agents.opened} agent sockets + 1 browser page open for {IDLE_SECONDS} s: "
        f"{after - before} SQL statements in the web process ({idle:.1f} per minute); "
        f"{agents.alive} of {agents.opened} agent sockets still open after it"
    )


if __name__ == "__main__":
    main()
