"""The sync jobs table in the admin: columns, actions, runs."""

from datetime import time, timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from crm.models import Contact
from integrations.models import IntegrationAccount, JobRun, SyncJob
from messaging.models import Channel, Conversation

pytestmark = pytest.mark.django_db

JOBS_URL = "/admin/integrations/syncjob/"


def post_action(admin_client, action: str, jobs, **extra):
    data = {"action": action, ACTION_CHECKBOX_NAME: [job.pk for job in jobs], **extra}
    return admin_client.post(JOBS_URL, data, follow=True)


@pytest.fixture
def jobs(db):
    return [
        SyncJob.objects.create(name="close_conversations", every_seconds=300),
        SyncJob.objects.create(name="sync_customers", schedule_kind="daily", daily_at=time(17, 45)),
    ]


def test_the_table_shows_attempts_out_of_max_and_the_schedule(admin_client, jobs):
    page = admin_client.get(JOBS_URL).content.decode()
    assert "0 / 5" in page
    assert "every 300 s" in page
    assert "at 17:45" in page
    for header in ("Active", "Name", "State", "Attempts", "Last run at", "Schedule"):
        assert header in page


def test_the_table_costs_the_same_queries_for_many_jobs(
    admin_client, jobs, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        admin_client.get(JOBS_URL)
    for n in range(20):
        SyncJob.objects.create(name=f"job_{n}", every_seconds=60 + n)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = admin_client.get(JOBS_URL)
    assert "every 79 s" in page.content.decode()


def test_run_now_records_a_run_with_its_counts(admin_client, jobs):
    old = timezone.now() - timedelta(days=2)
    account = IntegrationAccount.objects.create(description="WABA", platform="whatsapp_cloud")
    channel = Channel.objects.create(
        name="Line", account=account, provider="whatsapp_cloud", external_id="1"
    )
    contact = Contact.objects.create(phone="+393351032246")
    expired = Conversation.objects.create(channel=channel, contact=contact)
    Conversation.objects.filter(pk=expired.pk).update(opened_at=old)

    response = post_action(admin_client, "run_now", jobs[:1])

    assert response.status_code == 200
    run = JobRun.objects.get(job=jobs[0])
    assert run.outcome == JobRun.Outcome.SUCCESS
    assert run.manual
    assert run.counts["conversations_closed"] == 1
    assert run.finished_at >= run.started_at > old
    said = [str(m) for m in response.context["messages"]]
    assert said == ["close_conversations: started; its run appears below the job."]
    detail = admin_client.get(f"{JOBS_URL}{jobs[0].pk}/change/").content.decode()
    assert "conversations_closed 1" in detail


def test_run_now_on_a_stopped_job_says_why_it_does_not_run(admin_client, jobs):
    SyncJob.objects.filter(pk=jobs[0].pk).update(state="stopped", attempts=5)
    response = post_action(admin_client, "run_now", jobs[:1])
    said = " ".join(str(m) for m in response.context["messages"])
    assert "stopped after 5 failed runs in a row" in said
    assert not JobRun.objects.exists()


def test_reset_attempts_starts_a_stopped_job_again(admin_client, jobs):
    SyncJob.objects.filter(pk=jobs[0].pk).update(state="stopped", attempts=5, last_error="x")
    post_action(admin_client, "reset_attempts", jobs[:1])
    jobs[0].refresh_from_db()
    assert (jobs[0].state, jobs[0].attempts, jobs[0].last_error) == ("idle", 0, "")
    assert "0 / 5" in admin_client.get(JOBS_URL).content.decode()


def test_set_the_schedule_shows_a_form_then_applies_it(admin_client, jobs):
    form = post_action(admin_client, "set_schedule", jobs[:1])
    assert form.status_code == 200
    assert "Save the schedule" in form.content.decode()

    done = post_action(
        admin_client,
        "set_schedule",
        jobs[:1],
        apply="1",
        kind="daily",
        daily_at="06:30",
        window_days="3",
    )
    jobs[0].refresh_from_db()
    assert (jobs[0].schedule_label, jobs[0].window_days) == ("at 06:30", 3)
    assert "at 06:30" in done.content.decode()


def test_set_the_schedule_refuses_an_interval_without_seconds(admin_client, jobs):
    response = post_action(admin_client, "set_schedule", jobs[:1], apply="1", kind="interval")
    assert response.status_code == 200
    assert "An interval schedule needs a number of seconds." in response.content.decode()
    jobs[0].refresh_from_db()
    assert jobs[0].schedule_label == "every 300 s"


def test_runs_have_their_own_list(admin_client, jobs):
    now = timezone.now()
    for n in range(3):
        JobRun.objects.create(
            job=jobs[n % 2], started_at=now, outcome="failed", error=f"error {n}", counts={"a": n}
        )
    page = admin_client.get("/admin/integrations/jobrun/").content.decode()
    assert "error 2" in page
    assert "sync_customers" in page
