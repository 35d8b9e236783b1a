"""What `ingest` and `sync` share: running a source's sync from a terminal and reporting it
in the command-line contract's shape."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from connectors.actions import SyncProgress, prune_source, run_sync
from connectors.errors import ConnectorError
from connectors.models import Source


def sync_and_report(
    command: BaseCommand, source: Source, *, prune: bool, as_json: bool, started: float
) -> None:
    """Sync `source` (then prune it if asked), with a progress line on a terminal, and write
    the contract's summary: JSON with `as_json`, a line per fact otherwise."""
    show_progress = not as_json and sys.stderr.isatty()
    try:
        run = run_sync(source=source, on_progress=_show_progress if show_progress else None)
        pruned = prune_source(source=source) if prune else None
    except ConnectorError as exc:
        raise CommandError(str(exc)) from exc
    if show_progress:
        sys.stderr.write("\n")
    quarantined = [
        {"path": q.path, "error": f"{q.error_type}: {q.message}"}
        for q in run.quarantined.order_by("id")
    ]
    summary: dict[str, Any] = {
        "source": source.name,
        "items_created": run.items_created,
        "items_updated": run.items_updated,
        "items_unchanged": run.items_unchanged,
        "colleagues": run.colleagues,
        "quarantined": quarantined,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if run.items_excluded or run.items_removed_by_exclusions:
        # Only when exclusion rules (README "Exclusions and masking") kept something out: the
        # documents not stored, and items stored earlier that a rule added since removed.
        summary["items_excluded"] = run.items_excluded
        summary["items_removed_by_exclusions"] = run.items_removed_by_exclusions
        summary["exclusions"] = {
            "skipped": run.exclusions.get("skipped", {}),
            "removed": run.exclusions.get("removed", {}),
        }
    if pruned is not None:
        summary["items_pruned"] = pruned.deleted
        # Items not listed but kept: what failed while listing may hold them.
        summary["items_kept_unlisted"] = pruned.kept
        summary["prune_failures"] = [
            {"path": failure.path, "error": f"{failure.error_type}: {failure.message}"}
            for failure in pruned.failures
        ]
    if as_json:
        command.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    command.stdout.write(
        f"{source.name}: {run.items_created} created, {run.items_updated} updated, "
        f"{run.items_unchanged} unchanged, {run.colleagues} colleagues, "
        f"{len(quarantined)} quarantined in {summary['seconds']}s"
        + (f", {run.items_excluded} excluded" if run.items_excluded else "")
        + (
            f", {run.items_removed_by_exclusions} removed by exclusion rules"
            if run.items_removed_by_exclusions
            else ""
        )
        + (f", {pruned.deleted} pruned" if pruned is not None else "")
        + (f", {pruned.kept} kept (not listed)" if pruned is not None and pruned.kept else "")
    )
    for entry in quarantined:
        command.stdout.write(f"  quarantined {entry['path']}: {entry['error']}")
    for entry in summary.get("prune_failures", []):
        command.stdout.write(f"  not pruned, could not list {entry['path']}: {entry['error']}")


def _show_progress(progress: SyncProgress) -> None:
    run = progress.run
    sys.stderr.write(
        f"\r{run.items_stored:>9,} items · {progress.items_per_second:,.0f}/s · "
        f"{run.files_quarantined} quarantined · {run.current_container[:40]:<40}"
    )
    sys.stderr.flush()
