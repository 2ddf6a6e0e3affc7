"""Scheduled jobs: claim, run, record, and the attempts state machine.

A run claims its job with one conditional UPDATE and checks the row count (healthchecks'
`sendalerts` pattern): the job is not running, or its lease ran out because the worker that held it
died. The loser of a race sees 0 rows and does nothing, so two runs of one job never overlap,
whichever machines the workers are on.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.tasks import async_task

from integrations.models import JobRun, SyncJob

logger = logging.getLogger(__name__)

# A job task may run this long before the cluster kills it (the cluster-wide Q_TIMEOUT suits
# webhooks and sends, not a CRM sync). The lease outlives it a little, so a worker killed mid-run
# frees its job soon after, and never while it may still be running.
JOB_TASK_TIMEOUT = 1800
JOB_LEASE = timedelta(seconds=JOB_TASK_TIMEOUT + 60)


@dataclass
class JobReport:
    """What a job function hands back: counts, one log line per account, and errors.

    A run with errors failed; a run where every account was skipped is `skipped`.
    """

    counts: dict = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    skipped: bool = False

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def note(self, line: str) -> None:
        self.lines.append(line)

    def fail(self, line: str) -> None:
        self.lines.append(line)
        self.errors.append(line)


class JobRefused(Exception):
    """The job cannot run now; the text says why."""


def job_next_run(*, job: SyncJob, after: datetime) -> datetime:
    """When the job is due next, after `after`."""
    if job.schedule_kind == SyncJob.ScheduleKind.DAILY:
        local = timezone.localtime(after)
        at = job.daily_at or time(0, 0)
        candidate = local.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
        if candidate <= local:
            candidate = timezone.make_aware(
                datetime.combine(local.date() + timedelta(days=1), at), local.tzinfo
            )
        return candidate
    return after + timedelta(seconds=job.every_seconds or 60)


def _claim(*, job_id: int, now: datetime, due_only: bool) -> bool:
    free = ~Q(state=SyncJob.State.RUNNING) | Q(lease_until__lt=now) | Q(lease_until__isnull=True)
    rows = SyncJob.objects.filter(free, pk=job_id, is_active=True).exclude(
        state=SyncJob.State.STOPPED
    )
    if due_only:
        rows = rows.filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
    return (
        rows.update(state=SyncJob.State.RUNNING, lease_until=now + JOB_LEASE, last_run_at=now) == 1
    )


def sync_job_run(*, job_id: int, manual: bool = False, now: datetime | None = None) -> JobRun:
    """Run one job now if it is free (and due, unless `manual`); return its run.

    Raises `JobRefused` when the job is inactive, stopped, already running, or not due.
    """
    from integrations.jobs import JOBS

    now = now or timezone.now()
    if not _claim(job_id=job_id, now=now, due_only=not manual):
        job = SyncJob.objects.get(pk=job_id)
        raise JobRefused(_refusal(job, now=now))
    job = SyncJob.objects.get(pk=job_id)
    # A run still "running" here lost its worker (the lease ran out): say so on its row.
    JobRun.objects.filter(job=job, outcome=JobRun.Outcome.RUNNING).update(
        outcome=JobRun.Outcome.FAILED,
        finished_at=now,
        error="Interrupted: the worker stopped before the run ended.",
    )
    run = JobRun.objects.create(job=job, started_at=now, manual=manual)
    try:
        function = JOBS[job.name]
        if isinstance(function, str):
            function = import_string(function)
        report = function(job=job, run=run)
    except KeyError:
        report = JobReport()
        report.fail(f"No code is registered for the job {job.name!r}.")
    except Exception as exc:
        # The run must end in a recorded failure whatever broke, so operators see it.
        logger.exception("job %s failed", job.name)
        report = JobReport()
        report.fail(f"{type(exc).__name__}: {exc}")
    return _finish(job=job, run=run, report=report)


def _refusal(job: SyncJob, *, now: datetime) -> str:
    if not job.is_active:
        return f"The job {job.name} is inactive: activate it first."
    if job.state == SyncJob.State.STOPPED:
        return (
            f"The job {job.name} stopped after {job.attempts} failed runs in a row: reset its "
            "attempts to start it again."
        )
    if job.state == SyncJob.State.RUNNING:
        return f"The job {job.name} is already running (since {job.last_run_at:%H:%M:%S})."
    return f"The job {job.name} is not due yet (next run {job.next_run_at:%Y-%m-%d %H:%M:%S})."


@transaction.atomic
def _finish(*, job: SyncJob, run: JobRun, report: JobReport) -> JobRun:
    finished = timezone.now()
    if report.errors:
        outcome = JobRun.Outcome.FAILED
    elif report.skipped:
        outcome = JobRun.Outcome.SKIPPED
    else:
        outcome = JobRun.Outcome.SUCCESS
    run.finished_at = finished
    run.outcome = outcome
    run.counts = report.counts
    run.log = "\n".join(report.lines)
    run.error = "\n".join(report.errors)
    run.save(update_fields=["finished_at", "outcome", "counts", "log", "error"])

    job = SyncJob.objects.select_for_update().get(pk=job.pk)
    if job.last_run_at != run.started_at:
        # This run outlived its lease and another run claimed the job since: that run owns the
        # job's state now.
        return run
    if outcome == JobRun.Outcome.FAILED:
        job.attempts += 1
        if job.attempts >= job.max_attempts:
            job.state = SyncJob.State.STOPPED
            job.last_error = (
                f"Stopped after {job.attempts} failed runs in a row; reset attempts to start it "
                f"again. Last error: {run.error}"
            )
        else:
            job.state = SyncJob.State.FAILED
            job.last_error = run.error
    else:
        job.attempts = 0
        job.state = SyncJob.State.IDLE
        job.last_error = ""
    job.lease_until = None
    job.next_run_at = job_next_run(job=job, after=finished)
    job.save(
        update_fields=[
            "attempts",
            "state",
            "last_error",
            "lease_until",
            "next_run_at",
            "updated_at",
        ]
    )
    return run


def job_reset(*, job: SyncJob) -> SyncJob:
    """Attempts back to 0 and the job back in service; due at once."""
    SyncJob.objects.filter(pk=job.pk).exclude(state=SyncJob.State.RUNNING).update(
        attempts=0,
        state=SyncJob.State.IDLE,
        last_error="",
        next_run_at=timezone.now(),
        updated_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


class ScheduleInvalid(Exception):
    pass


@transaction.atomic
def job_schedule_set(
    *,
    job: SyncJob,
    kind: str,
    daily_at: time | None = None,
    every_seconds: int | None = None,
    window_days: int | None = None,
) -> SyncJob:
    if kind == SyncJob.ScheduleKind.DAILY:
        if daily_at is None:
            raise ScheduleInvalid("A daily schedule needs a time (HH:MM).")
        job.daily_at, job.every_seconds = daily_at, None
    elif kind == SyncJob.ScheduleKind.INTERVAL:
        if not every_seconds or every_seconds < 1:
            raise ScheduleInvalid("An interval schedule needs a number of seconds of at least 1.")
        job.every_seconds, job.daily_at = every_seconds, None
    else:
        raise ScheduleInvalid(f"Unknown schedule kind {kind!r}.")
    if window_days is not None:
        if window_days < 1:
            raise ScheduleInvalid("The time window is at least one day.")
        job.window_days = window_days
    job.schedule_kind = kind
    job.next_run_at = job_next_run(job=job, after=timezone.now())
    job.save()
    return job


def job_run_enqueue(*, job: SyncJob, manual: bool = False) -> None:
    async_task(
        "integrations.tasks.sync_job_run", job.pk, manual, group="jobs", timeout=JOB_TASK_TIMEOUT
    )


def job_run_now(*, job: SyncJob) -> None:
    """An operator's "run now": refused at once with the reason when the job cannot run; the
    task claims it again, so a race with the scheduler still runs it only once."""
    job.refresh_from_db()
    now = timezone.now()
    running = job.state == SyncJob.State.RUNNING and job.lease_until and job.lease_until > now
    if not job.is_active or job.state == SyncJob.State.STOPPED or running:
        raise JobRefused(_refusal(job, now=now))
    job_run_enqueue(job=job, manual=True)


def jobs_run_due(*, now: datetime | None = None) -> list[str]:
    """Hand every due job to the task cluster, one task each; the task claims it."""
    now = now or timezone.now()
    free = ~Q(state=SyncJob.State.RUNNING) | Q(lease_until__lt=now) | Q(lease_until__isnull=True)
    due = (
        SyncJob.objects.filter(free, is_active=True)
        .exclude(state=SyncJob.State.STOPPED)
        .filter(Q(next_run_at__isnull=True) | Q(next_run_at__lte=now))
    )
    names = []
    for job in due:
        job_run_enqueue(job=job)
        names.append(job.name)
    return names
