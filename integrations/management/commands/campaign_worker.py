"""Run a campaign's sends in this process until it is finished, paused or cancelled.

The task cluster runs the same service (integrations.campaign_tasks.campaign_run); this command is
for running extra workers by hand, or on another machine, next to it. Any number may run at once.
"""

from django.core.management.base import BaseCommand

from integrations.services.campaigns import campaign_run


class Command(BaseCommand):
    help = "Send a running campaign's messages (several workers may share one campaign)."

    def add_arguments(self, parser):
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("--concurrency", type=int, default=None)
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--lease-seconds", type=float, default=None)

    def handle(self, *args, campaign_id, concurrency, batch_size, lease_seconds, **options):
        report = campaign_run(
            campaign_id=campaign_id,
            concurrency=concurrency,
            batch_size=batch_size,
            lease_seconds=lease_seconds,
        )
        self.stdout.write(
            f"campaign {campaign_id}: {report.sent} handed over, {report.failed} failed, "
            f"{report.skipped} skipped, {report.reclaimed} taken over from stopped workers, "
            f"{report.requeued} put back after the grace; "
            f"{'finished' if report.finished else 'stopped: ' + report.stopped}"
        )
        for error in report.errors[:20]:
            self.stderr.write(error)
