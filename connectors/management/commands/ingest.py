"""`manage.py ingest PATH [--kind K] [--source NAME] [--json]`: capture files."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.actions import SyncProgress, prune_source, run_sync, source_for_path
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
        show_progress = not options["json"] and sys.stderr.isatty()
        try:
            source = source_for_path(path, kind=options["kind"], name=options["source"], **extra)
            run = run_sync(source=source, on_progress=self.show_progress if show_progress else None)
            pruned = prune_source(source=source) if options["prune"] else None
        except ConnectorError as exc:
            raise CommandError(str(exc)) from exc
        if show_progress:
            sys.stderr.write("\n")
        quarantined = [
            {"path": q.path, "error": f"{q.error_type}: {q.message}"}
            for q in run.quarantined.order_by("id")
        ]
        summary = {
            "source": source.name,
            "items_created": run.items_created,
            "items_updated": run.items_updated,
            "items_unchanged": run.items_unchanged,
            "colleagues": run.colleagues,
            "quarantined": quarantined,
            "seconds": round(time.perf_counter() - started, 3),
        }
        if pruned is not None:
            summary["items_pruned"] = pruned
        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
            return
        self.stdout.write(
            f"{source.name}: {run.items_created} created, {run.items_updated} updated, "
            f"{run.items_unchanged} unchanged, {run.colleagues} colleagues, "
            f"{len(quarantined)} quarantined in {summary['seconds']}s"
            + (f", {pruned} pruned" if pruned is not None else "")
        )
        for entry in quarantined:
            self.stdout.write(f"  quarantined {entry['path']}: {entry['error']}")

    def show_progress(self, progress: SyncProgress) -> None:
        run = progress.run
        sys.stderr.write(
            f"\r{run.items_stored:>9,} items · {progress.items_per_second:,.0f}/s · "
            f"{run.files_quarantined} quarantined · {run.current_container[:40]:<40}"
        )
        sys.stderr.flush()
