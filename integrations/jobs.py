"""Every scheduled job by name: one literal dict, like the provider registry.

Each function takes the job and its run and calls one service; `SyncJob.name` must be a key here.
`setup_schedules` creates one `SyncJob` row per entry of `JOB_DEFAULTS`.
"""

from datetime import time

from django.conf import settings

from integrations import notification_jobs, services
from integrations.services.gdpr import retention_purge as _retention_purge
from integrations.services.jobs import JobReport
from tickets.report_rollup import report_rollup_recent


def sync_templates(*, job, run):
    return services.templates_sync_all()


def sync_messages(*, job, run):
    return services.messaging_redrive()


def sync_customers(*, job, run):
    return services.customers_sync(job=job, run=run)


def close_conversations(*, job, run):
    return services.conversations_close()


def notifications_send_due(*, job, run):
    return notification_jobs.notifications_send_due_report()


def document_links_purge(*, job, run):
    return notification_jobs.document_links_purge_report()


def idempotency_keys_purge(*, job, run):
    return notification_jobs.idempotency_keys_purge_report()


def widget_references_purge(*, job, run):
    return notification_jobs.widget_references_purge_report()


def retention_purge(*, job, run):
    report = JobReport()
    if settings.RETENTION_DAYS <= 0:
        report.lines.append("RETENTION_DAYS is 0: everything is kept.")
        return report
    for key, count in _retention_purge(days=settings.RETENTION_DAYS).items():
        report.add(f"{key}_purged", count)
    return report


def report_rollup(*, job, run):
    report = JobReport()
    for key, count in report_rollup_recent().items():
        report.add(f"{key}", count)
    return report


JOBS = {
    "sync_templates": sync_templates,
    "sync_messages": sync_messages,
    "sync_customers": sync_customers,
    "close_conversations": close_conversations,
    "notifications_send_due": notifications_send_due,
    "document_links_purge": document_links_purge,
    "idempotency_keys_purge": idempotency_keys_purge,
    "widget_references_purge": widget_references_purge,
    "retention_purge": retention_purge,
    "report_rollup": report_rollup,
}

# The schedule a job gets when it is first created; later changes in the admin are kept.
JOB_DEFAULTS = {
    "sync_templates": {"schedule_kind": "interval", "every_seconds": 3600},
    "sync_messages": {"schedule_kind": "interval", "every_seconds": 300},
    "sync_customers": {"schedule_kind": "daily", "daily_at": time(2, 0), "window_days": 1},
    "close_conversations": {"schedule_kind": "interval", "every_seconds": 300},
    # Reminders go at their minute; links and keys only need tidying now and then.
    "notifications_send_due": {"schedule_kind": "interval", "every_seconds": 60},
    "document_links_purge": {"schedule_kind": "interval", "every_seconds": 600},
    "idempotency_keys_purge": {"schedule_kind": "interval", "every_seconds": 3600},
    "widget_references_purge": {"schedule_kind": "interval", "every_seconds": 3600},
    # Media and message texts older than RETENTION_DAYS go at night (nothing when it is 0).
    "retention_purge": {"schedule_kind": "daily", "daily_at": time(3, 30)},
    # The managers' reports read finished days from rollups; hourly keeps yesterday's late
    # statuses and replies in and fills any day a stopped cluster missed.
    "report_rollup": {"schedule_kind": "interval", "every_seconds": 3600},
}
