"""Every periodic task, in one list, and the jobs it drives. `manage.py setup_schedules` makes
django-q2 and the SyncJob table match it.

Two django-q2 schedules only:
- `messaging_sweep`, every minute: the fast path that re-drives delivery retries whose backoff is
  a few seconds, stored webhooks and media downloads. Folding it into `sync_messages` (every
  300 s) would stretch a 5-second retry to 5 minutes.
- `jobs_run_due`, every minute: starts the SyncJobs that are due, each as its own task. Their
  schedules (`at 02:00`, `every 300 s`), state and attempts live in SyncJob rows that operators
  change in the admin, not in django-q2.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django_q.models import Schedule

from integrations.jobs import JOB_DEFAULTS
from integrations.models import SyncJob
from integrations.services.jobs import job_next_run

SCHEDULES = [
    # name, task, every N minutes, why
    (
        "messaging_sweep",
        "messaging.tasks.messaging_sweep",
        1,
        "re-drive stored webhooks, due retries, unknown sends and failed media downloads",
    ),
    (
        "jobs_run_due",
        "integrations.tasks.jobs_run_due",
        1,
        "start the sync jobs that are due (sync_templates, sync_messages, sync_customers, ...)",
    ),
    (
        "campaigns_tick",
        "integrations.campaign_tasks.campaigns_tick",
        1,
        "start scheduled campaigns whose time came; wake running ones no worker holds",
    ),
]
# django-q2 schedules of earlier versions whose work is now a SyncJob.
RETIRED = ["sync_templates"]


@transaction.atomic
def schedules_setup() -> list[tuple[str, bool]]:
    """Create or update each schedule and job by name; running it twice changes nothing.

    A job that exists keeps its schedule, state and attempts: operators own them after creation.
    """
    results = []
    Schedule.objects.filter(name__in=RETIRED).delete()
    for name, func, minutes, _why in SCHEDULES:
        _, created = Schedule.objects.update_or_create(
            name=name,
            defaults={
                "func": func,
                "schedule_type": Schedule.MINUTES,
                "minutes": minutes,
                "repeats": -1,
            },
        )
        if created:
            # Let the web server come up first: the sandbox answers the first template sync.
            Schedule.objects.filter(name=name).update(
                next_run=timezone.now() + timedelta(seconds=20)
            )
        results.append((name, created))
    now = timezone.now()
    for name, defaults in JOB_DEFAULTS.items():
        job = SyncJob(name=name, **defaults)
        _, created = SyncJob.objects.get_or_create(
            name=name, defaults={**defaults, "next_run_at": _first_run(job, now)}
        )
        results.append((f"job {name}", created))
    return results


def _first_run(job: SyncJob, now):
    # Interval jobs start at once (after the web server is up); daily ones at their time.
    if job.schedule_kind == SyncJob.ScheduleKind.INTERVAL:
        return now + timedelta(seconds=20)
    return job_next_run(job=job, after=now)
