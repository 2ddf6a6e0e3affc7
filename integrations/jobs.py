"""Every scheduled job by name: one literal dict, like the provider registry.

Each function takes the job and its run and calls one service; `SyncJob.name` must be a key here.
`setup_schedules` creates one `SyncJob` row per entry of `JOB_DEFAULTS`.
"""

from datetime import time

from integrations import services


def sync_templates(*, job, run):
    return services.templates_sync_all()


def sync_messages(*, job, run):
    return services.messaging_redrive()


def sync_customers(*, job, run):
    return services.customers_sync(job=job, run=run)


def close_conversations(*, job, run):
    return services.conversations_close()


JOBS = {
    "sync_templates": sync_templates,
    "sync_messages": sync_messages,
    "sync_customers": sync_customers,
    "close_conversations": close_conversations,
}

# The schedule a job gets when it is first created; later changes in the admin are kept.
JOB_DEFAULTS = {
    "sync_templates": {"schedule_kind": "interval", "every_seconds": 3600},
    "sync_messages": {"schedule_kind": "interval", "every_seconds": 300},
    "sync_customers": {"schedule_kind": "daily", "daily_at": time(2, 0), "window_days": 1},
    "close_conversations": {"schedule_kind": "interval", "every_seconds": 300},
}
