"""`manage.py style_match "text" [--limit N] [--input FILE] [--json]`."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.commandline import first_text, run_batch
from skills.selectors import ColleagueMatcher, style_matcher


class Command(BaseCommand):
    help = "Rank colleagues by how closely a text matches their writing style."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("text", nargs="?", help="the text to attribute")
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--json", action="store_true", help="print the contract's JSON")
        parser.add_argument(
            "--input",
            metavar="FILE",
            help='rank each {"text": ...} line of FILE, one JSON line out per line in',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        matcher = style_matcher()
        if matcher is None:
            raise CommandError("no skill packages built yet: run build_skills first")
        if options["input"]:
            run_batch(
                self,
                options["input"],
                lambda obj: self.answer(matcher, first_text(obj, "text"), options["limit"]),
            )
            return
        if not options["text"] or not options["text"].strip():
            raise CommandError("give a text, or --input FILE")
        result = self.answer(matcher, options["text"], options["limit"])
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        for row in result["results"]:
            who = row["colleague"]
            self.stdout.write(f"{row['score']:.3f}  {who['name']} <{who['email']}>")

    def answer(self, matcher: ColleagueMatcher, text: str, limit: int) -> dict[str, Any]:
        return {"results": matcher.ranked(text, limit=limit)}
