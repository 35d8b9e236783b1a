"""`manage.py sync NAME [--prune] [--json]`: sync a configured source now."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.commandline import sync_and_report
from connectors.models import Source


class Command(BaseCommand):
    help = "Sync a configured source (see add_source) now; the summary is ingest's."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--prune", action="store_true", help="then delete what is gone")
        parser.add_argument("--json", action="store_true", help="print the contract's JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        source = Source.objects.filter(name=options["name"]).first()
        if source is None:
            known = ", ".join(Source.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"no source named {options['name']!r} (known: {known})")
        if source.status != Source.Status.ACTIVE:
            raise CommandError(f"{source.name} is paused; resume it on its Sources page")
        sync_and_report(
            self, source, prune=options["prune"], as_json=options["json"], started=started
        )
