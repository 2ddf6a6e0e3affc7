from django.core.management.base import BaseCommand

from integrations.demo import DEMO_PASSWORD, demo_data_load


class Command(BaseCommand):
    help = "Load the demo data (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        logins = demo_data_load()
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready. Agents: http://127.0.0.1:8000/inbox/ "
                "Back office: http://127.0.0.1:8000/admin/"
            )
        )
        for login in logins:
            self.stdout.write(
                f"  {login.role:<16} user {login.username:<10} password {DEMO_PASSWORD}"
            )
