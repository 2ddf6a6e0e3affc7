"""A 10,000-recipient campaign on PostgreSQL whose worker process is killed twice (SIGKILL):
every recipient gets exactly one provider call, and the totals are right.

The provider is a local HTTP mock of the Graph API (tests/campaigns/graph_mock.py) that counts
template sends per recipient. Meta reports every message it accepted with a status webhook
carrying our message id; the test plays that part by posting signed status webhooks through the
real webhook URL of a live server, for the accepted sends whose message is still unsettled (for
the others the status would change nothing). A worker killed between the provider's answer and
its own settle is thus settled by the webhook, and one killed before its call reached the
provider is sent by the next worker after the grace (integrations/services/campaigns.py).
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.db import connection

from crm.models import ConsentPurpose, ConsentRecord, ConsentSource, ConsentState, Contact
from integrations.campaign_models import Campaign, CampaignRecipient
from integrations.campaign_selectors import campaign_totals
from integrations.models import IntegrationAccount
from integrations.services import campaigns
from integrations.services.campaigns import campaign_create, campaign_start
from messaging.models import Channel, Message, MessageTemplate
from tests.messaging.conftest import APP_SECRET, PHONE_NUMBER_ID, WABA_ID, sign, status_body

from .graph_mock import GraphMock

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = 10_000

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _setup(graph_url: str) -> Campaign:
    account = IntegrationAccount.objects.create(
        description="Campaign WABA",
        platform="whatsapp_cloud",
        settings={"app_id": "1234567890", "waba_id": WABA_ID, "graph_version": "v23.0"},
        secrets={"app_secret": APP_SECRET, "verify_token": "v", "access_token": "EAAtok"},
    )
    # Far above what the machine reaches: the test measures correctness, not pacing.
    channel = Channel.objects.create(
        name="Campaign line",
        account=account,
        provider="whatsapp_cloud",
        external_id=PHONE_NUMBER_ID,
        throughput_per_second=100_000,
    )
    template = MessageTemplate.objects.create(
        account=account,
        external_id="tpl-1",
        name="spring_sale",
        language="it",
        category="MARKETING",
        status="APPROVED",
        components=[{"type": "BODY", "text": "Ciao {{1}}!"}],
        body_param_count=1,
    )
    contacts = Contact.objects.bulk_create(
        Contact(phone=f"+39333{n:07d}", name=f"Cliente {n}", kind="customer")
        for n in range(RECIPIENTS)
    )
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            contact=c,
            purpose=ConsentPurpose.MARKETING,
            state=ConsentState.OPTED_IN,
            source=ConsentSource.IMPORT,
        )
        for c in contacts
    )
    campaign = campaign_create(
        name="Ten thousand",
        template=template,
        parameters=["contact.first_name"],
        channel=channel,
        throttle_per_second=100_000,
    )
    return campaign, account


def _worker(campaign_id: int, graph_url: str) -> subprocess.Popen:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.campaigns.worker_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "GRAPH_API_BASE_URL": graph_url,
    }
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "campaign_worker",
            str(campaign_id),
            "--concurrency",
            "12",
            "--batch-size",
            "200",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


class StatusWebhooks(threading.Thread):
    """Meta's side: a `sent` status for each accepted send, posted through the real URL. Only
    sends still unsettled a moment after acceptance are posted; for the others it is a no-op."""

    def __init__(self, mock: GraphMock, url: str):
        super().__init__(daemon=True)
        self.mock, self.url = mock, url
        self.seen = 0
        self.posted = 0
        self.stop = threading.Event()

    def run(self):
        try:
            while not self.stop.wait(0.3):
                self.post_due(older_than=0.3)
            self.post_due(older_than=0)
        finally:
            connection.close()

    def post_due(self, *, older_than: float):
        time.sleep(older_than)
        with self.mock.lock:
            batch = self.mock.accepted[self.seen :]
        self.seen += len(batch)
        by_id = {int(cb): (wamid, to) for wamid, to, cb in batch if cb.isdigit()}
        unsettled = Message.objects.filter(
            pk__in=list(by_id), provider_message_id__isnull=True
        ).values_list("pk", flat=True)
        for pk in unsettled:
            wamid, to = by_id[pk]
            body = json.dumps(
                status_body(wamid, "sent", biz_opaque_callback_data=str(pk), recipient_id=to)
            ).encode()
            response = requests.post(
                self.url,
                data=body,
                headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)},
                timeout=10,
            )
            assert response.status_code == 200
            self.posted += 1


def _wait(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_a_campaign_survives_two_killed_workers_sending_each_recipient_once(
    live_server, monkeypatch
):
    # The worker processes below are the only workers: no inline run in this process.
    monkeypatch.setattr(campaigns, "campaign_run_enqueue", lambda **kwargs: None)
    with GraphMock() as mock:
        campaign, account = _setup(mock.url)
        campaign = campaign_start(campaign=campaign)
        assert campaign.audience_count == RECIPIENTS
        webhooks = StatusWebhooks(mock, f"{live_server.url}/webhooks/whatsapp/{account.key}/")
        webhooks.start()
        started = time.monotonic()
        kills = []
        workers = []
        try:
            for threshold in (RECIPIENTS // 4, RECIPIENTS * 3 // 5):
                worker = _worker(campaign.pk, mock.url)
                workers.append(worker)
                _wait(
                    lambda t=threshold: mock.total() >= t,
                    timeout=600,
                    what=f"{threshold} sends",
                )
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
                kills.append((worker.returncode, mock.total(), time.monotonic() - started))
            last = _worker(campaign.pk, mock.url)
            workers.append(last)
            out, err = last.communicate(timeout=600)
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.wait()
            webhooks.stop.set()
            webhooks.join(timeout=30)
        print(out.decode(), err.decode()[-2000:], sep="\n")
        print(
            f"kills (code, sends, seconds): {kills}; all sent after "
            f"{time.monotonic() - started:.1f} s; status webhooks posted: {webhooks.posted}"
        )
        assert [kill[0] for kill in kills] == [-signal.SIGKILL, -signal.SIGKILL]
        assert last.returncode == 0, err.decode()[-2000:]

        # Each recipient exactly once at the provider: no duplicate, no gap.
        assert len(mock.calls) == RECIPIENTS
        assert set(mock.calls.values()) == {1}
        assert mock.total() == RECIPIENTS

    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FINISHED
    totals = campaign_totals(campaign=campaign)
    assert totals["total"] == totals["done"] == totals["sent"] == RECIPIENTS
    assert totals["failed"] == totals["skipped"] == totals["waiting"] == totals["queued"] == 0
    messages = Message.objects.filter(campaign_recipient__campaign=campaign)
    assert messages.count() == RECIPIENTS
    assert not messages.filter(provider_message_id__isnull=True).exists()
    assert not CampaignRecipient.objects.filter(campaign=campaign).exclude(state="settled").exists()
