"""The admin makes API keys (shown once) and shows the event log read-only; the jobs that send
due reminders and purge document links are scheduled."""

import re

import pytest
from django.contrib.messages import get_messages

from accounts.models import User
from integrations.models import AccountAPIKey, BusinessEvent, SyncJob
from integrations.schedules import schedules_setup

from .conftest import graph_bodies, key_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


def test_the_admin_makes_a_key_and_shows_it_once(admin_client, shop):
    response = admin_client.post(
        "/admin/integrations/accountapikey/add/",
        {"name": "shop", "account": shop.pk, "expiry_date_0": "", "expiry_date_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    notices = [str(m) for m in get_messages(response.wsgi_request)]
    [notice] = [n for n in notices if "you will not be able to see it again" in n]
    key = re.search(r"is: (\S+)\. ", notice).group(1)
    api_key = AccountAPIKey.objects.get()
    assert api_key.account == shop
    assert key not in api_key.hashed_key
    assert key_client(key).get("/api/v1/contacts/").status_code == 200
    # Only the hash is stored: the change page never shows the key again.
    page = admin_client.get(f"/admin/integrations/accountapikey/{api_key.pk}/change/")
    assert key not in page.content.decode()


def test_the_event_log_is_read_only_and_filterable(admin_client, shop):
    event = BusinessEvent.objects.create(
        account=shop, external_id="e1", type="cart_abandoned", state="skipped", reason="No rule"
    )
    listing = admin_client.get("/admin/integrations/businessevent/", {"state": "skipped"})
    assert listing.status_code == 200
    assert "e1" in listing.content.decode()
    assert admin_client.get("/admin/integrations/businessevent/add/").status_code == 403
    change = admin_client.post(
        f"/admin/integrations/businessevent/{event.pk}/change/", {"state": "sent"}
    )
    assert change.status_code == 403
    event.refresh_from_db()
    assert event.state == "skipped"


def test_the_rule_admin_refuses_a_template_of_another_account(admin_client, shop, wa_channel):
    from integrations.models import IntegrationAccount
    from messaging.models import MessageTemplate

    other = IntegrationAccount.objects.create(description="o", platform="whatsapp_cloud")
    foreign = MessageTemplate.objects.create(account=other, name="t", language="it", status="X")
    response = admin_client.post(
        "/admin/integrations/notificationrule/add/",
        {
            "account": shop.pk,
            "event_type": "cart_abandoned",
            "is_enabled": "on",
            "channel": wa_channel.pk,
            "template": foreign.pk,
            "parameters": '{"body": ["cart.url"]}',
            "statuses": "[]",
            "lead_time_minutes": "0",
        },
    )
    assert response.status_code == 200
    assert "Pick a template of the channel" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "every_seconds"),
    [
        ("notifications_send_due", 60),
        ("document_links_purge", 600),
        ("idempotency_keys_purge", 3600),
    ],
)
def test_reminders_and_the_purges_are_jobs(name, every_seconds):
    schedules_setup()
    job = SyncJob.objects.get(name=name)
    assert job.every_seconds == every_seconds
    assert job.is_active


def test_the_reminder_job_sends_what_is_due_and_reports_it(
    graph, shop, wa_channel, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from integrations.models import NotificationRule
    from integrations.notifications import business_event_receive
    from integrations.services import sync_job_run
    from messaging.models import MessageTemplate

    template = MessageTemplate.objects.create(
        account=wa_channel.account, name="reminder", language="it", status="APPROVED"
    )
    NotificationRule.objects.create(
        account=shop, event_type="activity_due", channel=wa_channel, template=template
    )
    due = timezone.now() + timedelta(hours=1)
    business_event_receive(
        account=shop,
        body={
            "id": "a1",
            "type": "activity_due",
            "data": {
                "activity": {
                    "title": "Call",
                    "due_at": due.isoformat(),
                    "assignee": {"phone": "+393351032246"},
                }
            },
        },
    )
    schedules_setup()
    job = SyncJob.objects.get(name="notifications_send_due")
    with (
        time_machine.travel(due + timedelta(seconds=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        run = sync_job_run(job_id=job.pk, manual=True)
    assert run.counts == {"reminders_sent": 1, "reminders_skipped": 0, "reminders_failed": 0}
    assert BusinessEvent.objects.get().state == "sent"
    assert len(graph_bodies(graph)) == 1
