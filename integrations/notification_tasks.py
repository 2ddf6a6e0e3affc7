"""Task-cluster entry points for notifications and temporary document links: thin, each calls
one service. Listed in integrations/schedules.py."""

from integrations.notifications import business_events_send_due
from messaging.documents import document_links_purge as _document_links_purge


def notifications_send_due() -> dict:
    """Every minute: send the activity reminders whose time has come."""
    return business_events_send_due()


def document_links_purge() -> int:
    """Every few minutes: delete temporary document links that expired unfetched."""
    return _document_links_purge()
