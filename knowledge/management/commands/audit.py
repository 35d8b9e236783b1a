"""`manage.py audit verify [--json]`: check the audit trail's hash chain (knowledge/audit.py).

Walks every event in seq order, recomputes its hash and its link to the one before, and
compares the last event with the stored chain head. Prints the first broken link and exits 1
when there is one: an edited, deleted, reordered or forged event, or a removed tail.

    verify --json  {"ok": bool, "events": int, "head": {"seq": int|null, "hash": str|null},
                    "broken": {"seq": int, "event_id": int|null, "reason": str} | null}
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from knowledge.audit import verify_chain


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain; exit 1 at the first broken link."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify"])
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_chain()
        if options["json"]:
            self.stdout.write(json.dumps(result.as_json()))
        elif result.broken is None:
            head = f"#{result.head_seq} {result.head_hash}" if result.head_seq else "none"
            self.stdout.write(f"audit chain intact: {result.events} events, head {head}")
        else:
            broken = result.broken
            row = f" (row id {broken.event_id})" if broken.event_id is not None else ""
            self.stdout.write(
                f"audit chain BROKEN at #{broken.seq}{row}: {broken.reason}; "
                f"{result.events} events checked up to there"
            )
        if not result.ok:
            sys.exit(1)
