"""The jobs that drive messaging: sync_templates, sync_messages, close_conversations."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
import responses
from django.utils import timezone

from crm.models import Contact
from integrations.models import IntegrationAccount, JobRun, SyncJob
from integrations.services import sync_job_run
from messaging.models import Channel, Conversation, Message, MessageTemplate, WebhookEvent

pytestmark = pytest.mark.django_db

WA_FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "whatsapp_cloud"
WABA_ID = "104896532187654"
TEMPLATES_URL = re.compile(rf"https://graph\.facebook\.com/v23\.0/{WABA_ID}/message_templates.*")


def wa_fixture(name: str) -> dict:
    return json.loads((WA_FIXTURES / name).read_text())


def wa_account(description="WABA", **fields):
    return IntegrationAccount.objects.create(
        description=description,
        platform="whatsapp_cloud",
        settings={"app_id": "1234567890", "waba_id": WABA_ID, "graph_version": "v23.0"},
        secrets={"app_secret": "s", "verify_token": "v", "access_token": "EAAtok"},
        **fields,
    )


def run(name: str) -> JobRun:
    job = SyncJob.objects.create(name=name, every_seconds=300)
    return sync_job_run(job_id=job.pk, manual=True)


@pytest.fixture
def graph():
    with responses.RequestsMock() as mocked:
        yield mocked


def test_sync_templates_reads_every_active_account_and_skips_inactive_ones(graph):
    active = wa_account()
    wa_account("Paused number", is_active=False)
    page1, page2 = wa_fixture("templates_page1.json"), wa_fixture("templates_page2_last.json")
    graph.get(page1["paging"]["next"], json=page2)
    graph.get(TEMPLATES_URL, json=page1)

    result = run("sync_templates")

    assert result.outcome == JobRun.Outcome.SUCCESS, result.error
    assert result.counts["templates_created"] == 3
    assert result.counts["accounts_skipped"] == 1
    assert "Paused number (WhatsApp Cloud API): skipped, the account is inactive." in result.log
    assert MessageTemplate.objects.filter(account=active).count() == 3


def test_sync_templates_fails_the_run_with_the_provider_error(graph):
    wa_account()
    graph.get(TEMPLATES_URL, json=wa_fixture("error_190_expired_token.json"), status=401)
    result = run("sync_templates")
    assert result.outcome == JobRun.Outcome.FAILED
    assert result.error.startswith("WABA (WhatsApp Cloud API): ")
    assert "EAAtok" not in result.error


def test_sync_templates_with_only_inactive_accounts_is_skipped():
    wa_account(is_active=False)
    assert run("sync_templates").outcome == JobRun.Outcome.SKIPPED


@pytest.fixture
def conversation(db):
    account = wa_account()
    channel = Channel.objects.create(
        name="Line", account=account, provider="whatsapp_cloud", external_id="117094531254879"
    )
    contact = Contact.objects.create(phone="+393351032246")
    return Conversation.objects.create(channel=channel, contact=contact)


def test_sync_messages_re_drives_failed_webhooks_and_messages_left_queued(
    conversation, monkeypatch
):
    enqueued = []
    monkeypatch.setattr(
        "messaging.services.inbound.task_wake", lambda *args, **kw: enqueued.append(args)
    )
    monkeypatch.setattr(
        "messaging.services.outbound.task_wake", lambda *args, **kw: enqueued.append(args)
    )
    old = timezone.now() - timedelta(minutes=10)
    account = conversation.channel.account
    failed = WebhookEvent.objects.create(
        provider="whatsapp_cloud", account=account, body=b"{}", state="failed", attempts=1
    )
    given_up = WebhookEvent.objects.create(
        provider="whatsapp_cloud", account=account, body=b"[]", state="failed", attempts=5
    )
    left = Message.objects.create(
        channel=conversation.channel,
        conversation=conversation,
        direction="out",
        type="text",
        text="hello",
        status="queued",
    )
    Message.objects.filter(pk=left.pk).update(created_at=old)

    result = run("sync_messages")

    assert result.outcome == JobRun.Outcome.SUCCESS, result.error
    assert result.counts["webhook_events_requeued"] == 1
    assert result.counts["messages_requeued"] == 1
    # The failed event is handed back to the drain; the one out of attempts stays failed.
    failed.refresh_from_db()
    given_up.refresh_from_db()
    assert (failed.state, given_up.state) == ("pending", "failed")
    assert ("messaging.tasks.webhook_events_drain",) in enqueued
    # The channel's delivery drain sends what was left queued.
    assert ("messaging.tasks.channel_deliveries_drain", conversation.channel_id) in enqueued


def test_close_conversations_closes_the_expired_ones(conversation):
    Conversation.objects.filter(pk=conversation.pk).update(
        opened_at=timezone.now() - timedelta(hours=25)
    )
    result = run("close_conversations")
    conversation.refresh_from_db()
    assert result.counts == {"conversations_closed": 1, "queued_conversations_assigned": 0}
    assert conversation.status == Conversation.Status.CLOSED
