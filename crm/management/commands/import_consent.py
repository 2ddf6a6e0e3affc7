"""Import consent from a CSV file: columns phone, purpose, state, and optionally transport,
text_shown and source (default `import`)."""

import csv

from django.core.management.base import BaseCommand, CommandError

from crm.services_consent import consent_import_rows


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV file with a header row")

    def handle(self, *args, path, **options):
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                imported, errors = consent_import_rows(rows=list(csv.DictReader(handle)))
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        for error in errors:
            self.stderr.write(error)
        self.stdout.write(f"{imported} consent record(s) imported, {len(errors)} row(s) refused.")
