"""Every periodic job, in one list. `manage.py setup_schedules` makes django-q2 match it."""

from datetime import timedelta

from django.utils import timezone
from django_q.models import Schedule

SCHEDULES = [
    # name, task, every N minutes, why
    (
        "messaging_sweep",
        "messaging.tasks.messaging_sweep",
        1,
        "re-drive stored webhooks, due retries, unknown sends and failed media downloads",
    ),
    (
        "notifications_send_due",
        "integrations.notification_tasks.notifications_send_due",
        1,
        "send activity reminders at their due time minus the rule's lead time",
    ),
    (
        "document_links_purge",
        "integrations.notification_tasks.document_links_purge",
        10,
        "delete temporary document links that expired without being fetched",
    ),
    (
        "idempotency_keys_purge",
        "integrations.notification_tasks.idempotency_keys_purge",
        60,
        "forget API idempotency keys older than a day",
    ),
    (
        "sync_templates",
        "integrations.tasks.sync_templates",
        60,
        "keep WhatsApp templates and their approval status current",
    ),
]


def schedules_setup() -> list[tuple[str, bool]]:
    """Create or update each schedule by name; running it twice changes nothing."""
    results = []
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
    return results
