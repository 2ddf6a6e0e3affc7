from django.core.management.base import BaseCommand

from integrations.services import secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt stored secrets with the first key of SECRETS_ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        count = secrets_rotate()
        self.stdout.write(f"Re-encrypted the secrets of {count} account(s) and channel(s).")
