"""`manage.py redact_item ITEM_ID --reason TEXT [--json]`: remove one item everywhere.

{"item_id": int, "redacted": bool, "already_redacted": bool, "chunks": int,
 "versions_deleted": int, "packages_rebuilt": [{"colleague": str, "version": int|null,
 "error": str|null}], "turns_blanked": int, "requests_closed": int}

Run as the console operator (the audit event has no actor). Redacting an item redacted before
changes nothing and says so ("redacted": false, "already_redacted": true); an id that never
was an item, or an item a hold keeps, exits 1 with a one-line error.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.models import Item
from knowledge.redaction import RedactionBlocked, is_redacted, redact_item


class Command(BaseCommand):
    help = (
        "Redact one captured item: delete it, its chunks and index entries, the package "
        "versions citing it (rebuilding those packages) and the conversation excerpts of it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("item_id", type=int, help="the item's id")
        parser.add_argument("--reason", required=True, help="why (kept in the audit trail)")
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        item_id: int = options["item_id"]
        reason = options["reason"].strip()
        if not reason:
            raise CommandError("--reason must say why")
        item = Item.objects.filter(pk=item_id).first()
        if item is None:
            if not is_redacted(item_id):
                raise CommandError(f"no item {item_id}")
            self._report(_unchanged(item_id), options["json"])
            return
        try:
            redacted = redact_item(item, actor=None, reason=reason)
        except RedactionBlocked as exc:
            raise CommandError(f"item {item_id} cannot be redacted now: {exc}") from exc
        result = redacted.as_json() if redacted is not None else _unchanged(item_id)
        self._report(result, options["json"])

    def _report(self, result: dict[str, Any], as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(result))
            return
        if not result["redacted"]:
            self.stdout.write(f"Item {result['item_id']} was redacted before; nothing to do.")
            return
        rebuilt = result["packages_rebuilt"]
        self.stdout.write(
            f"Redacted item {result['item_id']}: {result['chunks']} chunks, "
            f"{result['versions_deleted']} package versions deleted, "
            f"{len(rebuilt)} packages rebuilt, {result['turns_blanked']} conversation turns "
            f"blanked, {result['requests_closed']} requests closed."
        )
        for package in rebuilt:
            if package["error"]:
                self.stdout.write(
                    f"  {package['colleague']}: rebuild failed ({package['error']}); "
                    "left for the next scheduled rebuild"
                )


def _unchanged(item_id: int) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "redacted": False,
        "already_redacted": True,
        "chunks": 0,
        "versions_deleted": 0,
        "packages_rebuilt": [],
        "turns_blanked": 0,
        "requests_closed": 0,
    }
