"""The jobs of notifications and of the API's temporary state, as `integrations.jobs` runs them:
each calls one service and reports what it did."""

from integrations.notifications import business_events_send_due
from integrations.services.jobs import JobReport
from messaging.documents import document_links_purge
from messaging.idempotency import idempotency_keys_purge
from messaging.services.widget_reference import widget_references_purge


def notifications_send_due_report() -> JobReport:
    """Activity reminders whose time (due time minus the rule's lead time) has come."""
    report = JobReport()
    for state, count in business_events_send_due().items():
        report.add(f"reminders_{state}", count)
    report.skipped = not any(report.counts.values())
    return report


def document_links_purge_report() -> JobReport:
    report = JobReport()
    report.add("links_deleted", document_links_purge())
    return report


def idempotency_keys_purge_report() -> JobReport:
    report = JobReport()
    report.add("keys_deleted", idempotency_keys_purge())
    return report


def widget_references_purge_report() -> JobReport:
    report = JobReport()
    report.add("references_deleted", widget_references_purge())
    return report
