"""`manage.py rotate_credentials [--json]`: re-encrypt every source's credentials."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.credentials import configured_keys, rotate_source_credentials
from connectors.models import Source


class Command(BaseCommand):
    help = (
        "Re-encrypt every source's credentials with the newest key, the first in "
        "CREDENTIALS_KEY (README, 'Secrets'). Prints counts, never credentials; exits 1 when a "
        "source's credentials could not be decrypted by any configured key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        report = rotate_source_credentials()
        names = dict(Source.objects.filter(pk__in=report.failed).values_list("pk", "name"))
        failed = [
            {"id": pk, "name": names.get(pk, ""), "error": error}
            for pk, error in sorted(report.failed.items())
        ]
        if options["json"]:
            summary = {
                "rotated": len(report.rotated),
                "without_credentials": len(report.empty),
                "failed": failed,
                "keys": len(configured_keys()),
            }
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"Re-encrypted the credentials of {len(report.rotated)} sources with the newest "
                f"key; {len(report.empty)} sources have none."
            )
            for row in failed:
                self.stderr.write(
                    f"{row['name']} (source {row['id']}): {row['error']}: no configured key "
                    "decrypts its credentials; put the old key back in CREDENTIALS_KEY and run "
                    "again, or enter the credentials again"
                )
        if failed:
            raise CommandError(
                f"{len(failed)} sources could not be re-encrypted (left unchanged)", returncode=1
            )
