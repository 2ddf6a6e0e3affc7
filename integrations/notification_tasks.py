"""Task-cluster entry points for notifications and temporary document links: thin, each calls
one service. Listed in integrations/schedules.py."""

from integrations.notifications import business_events_send_due
from messaging.documents import document_links_purge as _document_links_purge
from messaging.idempotency import idempotency_keys_purge as _idempotency_keys_purge


def notifications_send_due() -> dict:
    """Every minute: send the activity reminders whose time has come."""
    return business_events_send_due()


def document_links_purge() -> int:
    """Every few minutes: delete temporary document links that expired unfetched."""
    return _document_links_purge()


def idempotency_keys_purge() -> int:
    """Hourly: forget API idempotency keys older than a day."""
    return _idempotency_keys_purge()
