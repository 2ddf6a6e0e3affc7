from django.core.management.base import BaseCommand

from integrations.schedules import schedules_setup


class Command(BaseCommand):
    help = "Create or update every periodic job in the task cluster (idempotent; run on deploy)."

    def handle(self, *args, **options):
        for name, created in schedules_setup():
            self.stdout.write(f"  {name}: {'created' if created else 'up to date'}")
