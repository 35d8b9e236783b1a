"""`manage.py ingest PATH [--kind K] [--source NAME] [--json]`: capture files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.actions import source_for_path
from connectors.commandline import sync_and_report
from connectors.errors import ConnectorError
from connectors.registry import CONNECTORS


class Command(BaseCommand):
    help = (
        "Ingest a Slack export (.zip or folder), mail (.eml, .mbox, maildir) or documents "
        "(.docx .pdf .md .txt .html, a file or a folder). Re-running stores only what changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path")
        parser.add_argument("--kind", choices=sorted(CONNECTORS), help="detected when omitted")
        parser.add_argument(
            "--source", metavar="NAME", help="the source's name (default: the absolute path)"
        )
        parser.add_argument(
            "--audience",
            choices=["public", "author"],
            help="documents only: who may see them (default: author)",
        )
        parser.add_argument(
            "--workspace-url", help="Slack exports: e.g. https://acme.slack.com, for links"
        )
        parser.add_argument(
            "--include-direct-messages",
            action="store_true",
            default=None,
            help="capture DMs and group DMs too (off unless the source enables them)",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="then delete stored items no longer at the source (adds items_pruned)",
        )
        parser.add_argument("--json", action="store_true", help="print the contract's JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        path = Path(options["path"])
        extra: dict[str, Any] = {}
        if options["audience"]:
            extra["audience"] = options["audience"]
        if options["workspace_url"]:
            extra["workspace_url"] = options["workspace_url"]
        if options["include_direct_messages"]:
            extra["include_direct_messages"] = True
        try:
            source = source_for_path(path, kind=options["kind"], name=options["source"], **extra)
        except ConnectorError as exc:
            raise CommandError(str(exc)) from exc
        sync_and_report(
            self, source, prune=options["prune"], as_json=options["json"], started=started
        )
