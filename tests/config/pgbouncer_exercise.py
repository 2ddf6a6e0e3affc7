"""Run by tests/config/test_pgbouncer.py in a process of its own, connected through PgBouncer.

It does what production does on the database: the drain's claims (SELECT ... FOR UPDATE SKIP
LOCKED) from two threads at once, the batch inserts, the statuses batch, a query run often enough
for psycopg to prepare it, and a GDPR export (which reads with `.iterator()`). Prints one JSON line.
"""

import hashlib
import hmac
import json
import os
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from crm.models import Contact  # noqa: E402
from integrations.models import IntegrationAccount  # noqa: E402
from integrations.services.gdpr import contact_export  # noqa: E402
from messaging.models import Channel, Message, WebhookEvent  # noqa: E402
from messaging.services import webhook_event_store, webhook_events_drain  # noqa: E402
from tests.concurrency import run_at_once  # noqa: E402

SECRET = "pgbouncer-check"
PHONE_NUMBER_ID = "117094531254879"


def envelope(value: dict) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550199234", "phone_number_id": PHONE_NUMBER_ID},
        **value,
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def store(account, body: bytes) -> None:
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    webhook_event_store(
        provider="whatsapp_cloud",
        account=account,
        body=body,
        headers={"x-hub-signature-256": signature},
    )


def main() -> None:
    account = IntegrationAccount.objects.create(
        description="Through PgBouncer",
        platform="whatsapp_cloud",
        settings={"app_id": "1", "waba_id": "2", "graph_version": "v23.0"},
        secrets={"app_secret": SECRET, "verify_token": "v", "access_token": "t"},
    )
    channel = Channel.objects.create(
        name="Line", account=account, provider="whatsapp_cloud", external_id=PHONE_NUMBER_ID
    )
    for i in range(40):
        wa_id = f"39333{i % 10:07d}"
        store(
            account,
            envelope(
                {
                    "contacts": [{"profile": {"name": f"Customer {i % 10}"}, "wa_id": wa_id}],
                    "messages": [
                        {
                            "from": wa_id,
                            "id": f"wamid.in{i}",
                            "timestamp": "1752489300",
                            "type": "text",
                            "text": {"body": f"message {i}"},
                        }
                    ],
                }
            ),
        )
    drained = []
    errors = run_at_once(2, lambda _: drained.append(webhook_events_drain(batch_size=7)))
    conversation = Message.objects.first().conversation
    for i in range(10):
        Message.objects.create(
            channel=channel,
            conversation=conversation,
            direction="out",
            provider_message_id=f"wamid.out{i}",
            type="text",
            text="ok",
            status="sent",
        )
        store(
            account,
            envelope(
                {
                    "statuses": [
                        {
                            "id": f"wamid.out{i}",
                            "status": "read",
                            "timestamp": "1752489400",
                            "recipient_id": "393330000000",
                        }
                    ]
                }
            ),
        )
    webhook_events_drain()
    # While other clients keep PgBouncer's few server sessions busy, this client's transactions
    # land on whichever session is free: a statement psycopg prepared on one (it prepares on the
    # fifth run) or a cursor declared on one is missing on the next.
    stop = threading.Event()

    def others(_):
        while not stop.is_set():
            with transaction.atomic():
                Message.objects.filter(direction="in").exists()
            connection.close()

    busy = [threading.Thread(target=others, args=(i,)) for i in range(4)]
    for thread in busy:
        thread.start()
    try:
        for _ in range(30):
            Message.objects.filter(direction="out").count()
        read_back = sum(1 for _ in Message.objects.order_by("pk").iterator(chunk_size=1))
    finally:
        stop.set()
        for thread in busy:
            thread.join()
    export = contact_export(contact=Contact.objects.get(phone="+393330000001"))
    print(
        json.dumps(
            {
                "errors": [repr(e) for e in errors],
                "drained": sum(drained),
                "messages_in": Message.objects.filter(direction="in").count(),
                "distinct_in": Message.objects.filter(direction="in")
                .values("provider_message_id")
                .distinct()
                .count(),
                "read": Message.objects.filter(direction="out", status="read").count(),
                "events": dict(
                    WebhookEvent.objects.values_list("state").annotate(
                        n=django.db.models.Count("id")
                    )
                ),
                "export_bytes": len(export),
                "read_back": read_back,
                "server_side_cursors_disabled": settings.DATABASES["default"].get(
                    "DISABLE_SERVER_SIDE_CURSORS", False
                ),
                "prepare_threshold": settings.DATABASES["default"]
                .get("OPTIONS", {})
                .get("prepare_threshold", "default"),
                "port": connection.settings_dict["PORT"],
            }
        )
    )


if __name__ == "__main__":
    main()
