"""`manage.py search "query" [--colleague EMAIL] [--as USERNAME] [--limit N] [--json]`."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from colleagues.models import Colleague
from colleagues.selectors import colleague_by_email
from knowledge.commandline import (
    add_reader_arguments,
    first_text,
    reader_from_options,
    run_batch,
)
from knowledge.search import hit_as_json, search_items
from knowledge.visibility import Reader


class Command(BaseCommand):
    help = "Search captured knowledge by keywords, as a user would see it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query", nargs="?", help="words to look for")
        parser.add_argument("--colleague", metavar="EMAIL", help="only what this person wrote")
        parser.add_argument("--limit", type=int, default=10)
        add_reader_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        reader = reader_from_options(options)
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        if options["input"]:
            run_batch(
                self,
                options["input"],
                lambda obj: self.answer(
                    reader,
                    first_text(obj, "query", "question", "text"),
                    obj.get("colleague") or options["colleague"],
                    options["limit"],
                ),
            )
            return
        if not options["query"]:
            raise CommandError("give a query, or --input FILE")
        result = self.answer(reader, options["query"], options["colleague"], options["limit"])
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        for row in result["results"]:
            who = row["colleague"] or "unknown"
            self.stdout.write(f"[{row['item_id']}] {who} · {row['source']} · {row['created_at']}")
            self.stdout.write(f"    {row['excerpt']}")
        self.stdout.write(f"{len(result['results'])} results in {result['seconds']:.3f}s")

    def answer(self, reader: Reader, query: str, email: str | None, limit: int) -> dict[str, Any]:
        colleague: Colleague | None = None
        if email:
            colleague = colleague_by_email(email)
            if colleague is None:
                raise CommandError(f"no colleague with email {email}")
        started = time.perf_counter()
        hits = search_items(reader=reader, query=query, colleague=colleague, limit=limit)
        return {
            "results": [hit_as_json(hit) for hit in hits],
            "seconds": round(time.perf_counter() - started, 4),
        }
