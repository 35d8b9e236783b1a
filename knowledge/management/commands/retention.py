"""`manage.py retention purge [--dry-run] [--json] [--batch-size N]`, `retention verify
[--json]` and `retention explain ITEM_ID [--json]`: retention policies and legal holds.

purge:   {"dry_run", "now", "items_deleted", "would_delete", "chunks_deleted",
          "versions_deleted", "packages_rebuilt", "packages_failed", "packages_marked_stale",
          "turns_blanked", "batches", "held_items", "held_by": {hold id: count}}
verify:  {"ok", "now", "backend", "expired_unheld", "expired_unheld_ids", "expired_held",
          "chunks", "indexed", "index_orphans", "index_orphan_ids",
          "erased_identities_present", "orphan_files", "orphan_file_paths"}; exits 1 unless
          ok.
explain: {"item_id", "expires_at", "expired", "policy", "policy_name", "policies_applying",
          "holds", "will_be_deleted", "explanation"}

Run as the console operator (audit events have no actor). A purge is safe to interrupt and to
run again: each batch commits whole or not at all.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.models import Item
from knowledge.retention.policies import expiry_of
from knowledge.retention.purge import BATCH_SIZE, PurgeBatch, purge_expired, verify_retention


class Command(BaseCommand):
    help = "Purge expired items (legal holds honoured), verify the purge, explain an item."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        purge = commands.add_parser("purge", help="delete expired items no legal hold covers")
        purge.add_argument("--dry-run", action="store_true", help="count, change nothing")
        purge.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        purge.add_argument("--json", action="store_true")
        verify = commands.add_parser("verify", help="scan the database and the index")
        verify.add_argument("--json", action="store_true")
        explain = commands.add_parser("explain", help="when an item expires, and why")
        explain.add_argument("item_id", type=int)
        explain.add_argument("--json", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"_{options['command']}")(options)

    def _purge(self, options: dict[str, Any]) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")

        def progress(batch: PurgeBatch) -> None:
            if not options["json"]:
                self.stdout.write(f"  batch {batch.number}: {len(batch.item_ids)} items deleted")

        report = purge_expired(
            batch_size=options["batch_size"], dry_run=options["dry_run"], on_batch=progress
        )
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json()))
            return
        held = ", ".join(f"hold #{k}: {v}" for k, v in sorted(report.held.items())) or "none"
        if report.dry_run:
            self.stdout.write(
                f"Would delete {report.would_delete} expired items; "
                f"{report.held_items} kept by holds ({held})."
            )
            return
        self.stdout.write(
            f"Deleted {report.items_deleted} expired items ({report.chunks_deleted} chunks) in "
            f"{report.batches} batches; {report.versions_deleted} package versions deleted, "
            f"{len(report.packages_rebuilt)} packages rebuilt, "
            f"{len(report.packages_marked_stale)} marked stale, "
            f"{report.turns_blanked} conversation turns blanked; "
            f"{report.held_items} expired items kept by holds ({held})."
        )

    def _verify(self, options: dict[str, Any]) -> None:
        report = verify_retention()
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json()))
        else:
            self.stdout.write(
                f"{len(report.expired_unheld)} expired unheld items, {report.expired_held} "
                f"expired held items; {report.backend} index: {report.indexed} entries for "
                f"{report.chunks} chunks, {len(report.index_orphans)} orphans; "
                f"{len(report.erased_identities)} identities of erased people; "
                f"{len(report.orphan_files)} stored files of deleted items."
            )
        if not report.ok:
            raise CommandError(
                f"{len(report.expired_unheld)} expired unheld items, "
                f"{len(report.index_orphans)} index orphans, "
                f"{len(report.erased_identities)} identities of erased people and "
                f"{len(report.orphan_files)} stored files of deleted items remain"
            )

    def _explain(self, options: dict[str, Any]) -> None:
        item = Item.objects.filter(pk=options["item_id"]).first()
        if item is None:
            raise CommandError(f"no item {options['item_id']}")
        expiry = expiry_of(item)
        if options["json"]:
            self.stdout.write(json.dumps(expiry.as_json()))
        else:
            self.stdout.write(f"Item {item.pk}: {expiry.explanation}")
