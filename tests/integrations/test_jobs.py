"""Scheduled jobs: the attempts state machine, the claim lock, due dispatch and the schedule."""

import threading
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule

from integrations import jobs as job_registry
from integrations.models import JobRun, SyncJob
from integrations.schedules import SCHEDULES
from integrations.services import (
    JobRefused,
    JobReport,
    job_reset,
    job_schedule_set,
    jobs_run_due,
    sync_job_run,
)
from integrations.services.jobs import job_next_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky(monkeypatch):
    """A job whose outcome the test decides: `flaky.fail = True` makes its runs fail."""

    class Flaky:
        fail = False
        calls = 0

        def __call__(self, *, job, run):
            self.calls += 1
            report = JobReport()
            report.add("seen", 3)
            if self.fail:
                report.fail("the platform said no")
            return report

    function = Flaky()
    monkeypatch.setitem(job_registry.JOBS, "flaky", function)
    function.job = SyncJob.objects.create(name="flaky", every_seconds=300)
    return function


def run(job, **kwargs):
    return sync_job_run(job_id=job.pk, manual=True, **kwargs)


# --- state machine -----------------------------------------------------------------------------


def test_it_counts_a_failed_run_as_an_attempt(flaky):
    flaky.fail = True
    result = run(flaky.job)
    flaky.job.refresh_from_db()
    assert result.outcome == JobRun.Outcome.FAILED
    assert result.error == "the platform said no"
    assert result.counts == {"seen": 3}
    assert (flaky.job.state, flaky.job.attempts) == (SyncJob.State.FAILED, 1)
    assert flaky.job.last_error == "the platform said no"
    assert flaky.job.lease_until is None


def test_it_puts_attempts_back_to_zero_after_a_success(flaky):
    flaky.fail = True
    run(flaky.job)
    run(flaky.job)
    flaky.fail = False
    result = run(flaky.job)
    flaky.job.refresh_from_db()
    assert result.outcome == JobRun.Outcome.SUCCESS
    assert (flaky.job.state, flaky.job.attempts, flaky.job.last_error) == (
        SyncJob.State.IDLE,
        0,
        "",
    )


def test_it_stops_after_five_failed_runs_in_a_row_and_says_so(flaky):
    flaky.fail = True
    for _ in range(5):
        run(flaky.job)
    flaky.job.refresh_from_db()
    assert (flaky.job.state, flaky.job.attempts) == (SyncJob.State.STOPPED, 5)
    assert "Stopped after 5 failed runs in a row" in flaky.job.last_error
    with pytest.raises(JobRefused, match="reset its attempts"):
        run(flaky.job)
    assert flaky.calls == 5
    # the scheduler leaves a stopped job alone too
    SyncJob.objects.filter(pk=flaky.job.pk).update(next_run_at=timezone.now() - timedelta(hours=1))
    assert "flaky" not in jobs_run_due()


def test_reset_starts_a_stopped_job_again(flaky):
    flaky.fail = True
    for _ in range(5):
        run(flaky.job)
    flaky.fail = False
    job_reset(job=flaky.job)
    assert (flaky.job.state, flaky.job.attempts) == (SyncJob.State.IDLE, 0)
    assert run(flaky.job).outcome == JobRun.Outcome.SUCCESS
    assert flaky.calls == 6


def test_a_job_that_raises_ends_in_a_recorded_failure(flaky, monkeypatch):
    def broken(*, job, run):
        raise RuntimeError("boom")

    monkeypatch.setitem(job_registry.JOBS, "flaky", broken)
    result = run(flaky.job)
    flaky.job.refresh_from_db()
    assert result.outcome == JobRun.Outcome.FAILED
    assert result.error == "RuntimeError: boom"
    assert flaky.job.state == SyncJob.State.FAILED


def test_a_running_job_is_not_run_again_until_its_lease_runs_out(flaky):
    now = timezone.now()
    SyncJob.objects.filter(pk=flaky.job.pk).update(
        state=SyncJob.State.RUNNING, lease_until=now + timedelta(minutes=5), last_run_at=now
    )
    with pytest.raises(JobRefused, match="already running"):
        run(flaky.job)
    # the worker holding it died: once the lease is over the job is free again
    lost = JobRun.objects.create(job=flaky.job, started_at=now - timedelta(hours=1))
    SyncJob.objects.filter(pk=flaky.job.pk).update(lease_until=now - timedelta(seconds=1))
    assert run(flaky.job).outcome == JobRun.Outcome.SUCCESS
    assert flaky.calls == 1
    lost.refresh_from_db()
    assert lost.outcome == JobRun.Outcome.FAILED
    assert lost.error == "Interrupted: the worker stopped before the run ended."


def test_a_run_that_outlived_its_lease_leaves_the_new_claim_alone(flaky, monkeypatch):
    def overtaken(*, job, run):
        # meanwhile the lease ran out and another worker claimed the job
        later = timezone.now() + timedelta(hours=1)
        SyncJob.objects.filter(pk=job.pk).update(
            state=SyncJob.State.RUNNING, last_run_at=later, lease_until=later
        )
        return JobReport(errors=["late"])

    monkeypatch.setitem(job_registry.JOBS, "flaky", overtaken)
    result = run(flaky.job)
    flaky.job.refresh_from_db()
    assert result.outcome == JobRun.Outcome.FAILED
    assert (flaky.job.state, flaky.job.attempts) == (SyncJob.State.RUNNING, 0)


def test_an_inactive_job_does_not_run(flaky):
    SyncJob.objects.filter(pk=flaky.job.pk).update(is_active=False)
    with pytest.raises(JobRefused, match="inactive"):
        run(flaky.job)
    assert flaky.calls == 0


# --- no overlapping runs, with real threads on PostgreSQL -------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_starting_one_job_at_once_run_it_once(monkeypatch):
    job = SyncJob.objects.create(name="slow", every_seconds=60)
    calls = []

    def slow(*, job, run):
        calls.append(run.pk)
        time.sleep(0.5)  # still running when the other worker tries
        return JobReport(counts={"ok": 1})

    monkeypatch.setitem(job_registry.JOBS, "slow", slow)
    barrier = threading.Barrier(4)
    outcomes = []

    def worker():
        try:
            barrier.wait()
            outcomes.append(sync_job_run(job_id=job.pk, manual=True).outcome)
        except JobRefused as exc:
            outcomes.append(f"refused: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(calls) == 1
    assert JobRun.objects.filter(job=job).count() == 1
    assert sorted(o.split(":")[0] for o in outcomes) == ["refused"] * 3 + ["success"]
    job.refresh_from_db()
    assert job.state == SyncJob.State.IDLE


# --- dispatch of due jobs ---------------------------------------------------------------------


def test_the_scheduler_runs_due_jobs_and_only_those(flaky, monkeypatch):
    now = timezone.now()
    later = SyncJob.objects.create(
        name="later", every_seconds=60, next_run_at=now + timedelta(minutes=5)
    )
    monkeypatch.setitem(job_registry.JOBS, "later", flaky)
    SyncJob.objects.filter(pk=flaky.job.pk).update(next_run_at=now - timedelta(seconds=1))

    # django-q runs tasks inline in tests: each due job ran as its own task
    assert jobs_run_due() == ["flaky"]
    assert flaky.calls == 1
    flaky.job.refresh_from_db()
    assert flaky.job.next_run_at > now + timedelta(seconds=290)
    assert not JobRun.objects.filter(job=later).exists()
    # not due any more
    assert jobs_run_due() == []


def test_a_scheduled_run_that_is_not_due_is_refused(flaky):
    SyncJob.objects.filter(pk=flaky.job.pk).update(
        next_run_at=timezone.now() + timedelta(minutes=5)
    )
    with pytest.raises(JobRefused, match="not due"):
        sync_job_run(job_id=flaky.job.pk)
    assert run(flaky.job).outcome == JobRun.Outcome.SUCCESS  # "run now" does not wait


def test_next_run_of_a_daily_job_is_the_next_occurrence_of_its_local_time(settings):
    settings.TIME_ZONE = "Europe/Rome"
    job = SyncJob(name="x", schedule_kind="daily", daily_at=clock_time(17, 45))
    before = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)  # 12:00 in Rome
    after = datetime(2024, 5, 6, 16, 0, tzinfo=UTC)  # 18:00 in Rome
    assert job_next_run(job=job, after=before) == datetime(2024, 5, 6, 15, 45, tzinfo=UTC)
    assert job_next_run(job=job, after=after) == datetime(2024, 5, 7, 15, 45, tzinfo=UTC)


def test_setting_the_schedule_changes_kind_time_and_window(flaky):
    job_schedule_set(job=flaky.job, kind="daily", daily_at=clock_time(17, 45), window_days=3)
    flaky.job.refresh_from_db()
    assert flaky.job.schedule_label == "at 17:45"
    assert flaky.job.window_days == 3
    assert flaky.job.next_run_at > timezone.now()
    job_schedule_set(job=flaky.job, kind="interval", every_seconds=300)
    flaky.job.refresh_from_db()
    assert flaky.job.schedule_label == "every 300 s"
    assert flaky.job.daily_at is None


# --- setup_schedules --------------------------------------------------------------------------


def test_running_setup_schedules_twice_creates_no_duplicates():
    Schedule.objects.create(name="sync_templates", func="integrations.tasks.sync_templates")
    call_command("setup_schedules")
    call_command("setup_schedules")

    assert sorted(Schedule.objects.values_list("name", flat=True)) == sorted(
        name for name, *_ in SCHEDULES
    )
    dispatcher = Schedule.objects.get(name="jobs_run_due")
    assert (dispatcher.func, dispatcher.schedule_type, dispatcher.minutes) == (
        "integrations.tasks.jobs_run_due",
        Schedule.MINUTES,
        1,
    )
    jobs = {job.name: job for job in SyncJob.objects.all()}
    assert sorted(jobs) == sorted(job_registry.JOBS)
    assert jobs["sync_templates"].schedule_label == "every 3600 s"
    assert jobs["sync_messages"].schedule_label == "every 300 s"
    assert jobs["close_conversations"].schedule_label == "every 300 s"
    assert jobs["sync_customers"].schedule_label == "at 02:00"
    assert jobs["sync_customers"].window_days == 1
    assert all(job.next_run_at for job in jobs.values())


def test_setup_schedules_keeps_what_operators_changed():
    call_command("setup_schedules")
    job = SyncJob.objects.get(name="sync_customers")
    job_schedule_set(job=job, kind="daily", daily_at=clock_time(17, 45), window_days=7)
    call_command("setup_schedules")
    job.refresh_from_db()
    assert (job.schedule_label, job.window_days) == ("at 17:45", 7)
    assert SyncJob.objects.filter(name="sync_customers").count() == 1
