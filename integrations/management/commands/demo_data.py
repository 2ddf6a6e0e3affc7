from django.conf import settings
from django.core.management.base import BaseCommand

from integrations.demo import DEMO_PASSWORD, demo_data_load


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        logins = demo_data_load()
        base = settings.PUBLIC_BASE_URL
        self.stdout.write(
            self.style.SUCCESS(f"Demo data ready. Agents: {base}/inbox/ Back office: {base}/admin/")
        )
        for login in logins:
            self.stdout.write(
                f"  {login.role:<16} user {login.username:<10} password {DEMO_PASSWORD}"
            )
