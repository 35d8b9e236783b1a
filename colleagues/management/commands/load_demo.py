"""`manage.py load_demo [--json]`: build the demo company, ingest it, print the demo logins."""

from __future__ import annotations

import json
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from colleagues.demo.load import load_demo


class Command(BaseCommand):
    help = (
        "Generate Northwind Robotics (Slack export, mail, documents, HR directory) into "
        "var/demo, ingest it and print three demo logins. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print a JSON summary")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        as_json = options["json"]
        loaded = load_demo(
            settings.VAR_DIR / "demo",
            on_step=None if as_json else lambda message: self.stderr.write(message + " ..."),
        )
        summary = {
            "company": loaded.company.summary(),
            "sources": [
                {
                    "source": run.source.name,
                    "items_created": run.items_created,
                    "items_updated": run.items_updated,
                    "items_unchanged": run.items_unchanged,
                    "colleagues": run.colleagues,
                    "quarantined": run.files_quarantined,
                }
                for run in loaded.runs
            ],
            "packages_built": loaded.packages_built,
            "logins": [
                {"username": login.username, "password": login.password, "role": login.role}
                for login in loaded.logins
            ],
            "seconds": round(time.perf_counter() - started, 3),
        }
        if as_json:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        for run in loaded.runs:
            self.stdout.write(
                f"{run.source.name}: {run.items_created} created, {run.items_updated} updated, "
                f"{run.items_unchanged} unchanged, {run.files_quarantined} quarantined"
            )
        self.stdout.write(f"Skill packages built: {loaded.packages_built}")
        self.stdout.write(self.style.SUCCESS(f"\n{summary['company']}\n\nDemo logins:"))
        for login in loaded.logins:
            self.stdout.write(
                f"  {login.username:<9} {login.password:<14} {login.colleague} — {login.role}"
            )
