"""`manage.py sync_directory [--full] [--json]`: sync colleagues from the LDAP directory now."""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.errors import ConnectorError


class Command(BaseCommand):
    help = (
        "Sync people, titles, departments, managers, groups and account status from the LDAP "
        "directory (LDAP_* settings). Incremental by modifyTimestamp unless --full or a full "
        "pass is due; only a full pass sees deleted accounts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--full", action="store_true", help="read every entry")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        from connectors.directory.actions import sync_directory

        show_progress = not options["json"] and sys.stderr.isatty()
        try:
            result = sync_directory(
                full=options["full"], on_progress=_show_progress if show_progress else None
            )
        except (ConnectorError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from exc
        if show_progress:
            sys.stderr.write("\n")
        summary = result.summary()
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            f"directory ({result.mode}): {result.read} read, {result.created} created, "
            f"{result.updated} updated, {result.departed} departed, {result.unchanged} "
            f"unchanged, {result.groups} groups in {summary['seconds']}s"
        )
        for uid in result.reenabled:
            self.stdout.write(
                f"  enabled again, still departed: {uid} (LDAP_REINSTATE_REENABLED is off)"
            )
        for uid in result.reinstated:
            self.stdout.write(f"  enabled again, made current: {uid}")
        for warning in result.warnings:
            self.stdout.write(f"  warning: {warning}")


def _show_progress(done: int, total: int) -> None:
    sys.stderr.write(f"\r{done:>9,} / {total:,} entries")
    sys.stderr.flush()
