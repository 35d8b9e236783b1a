"""`manage.py search "query" [--colleague EMAIL] [--as USERNAME] [--limit N] [--json]`,
plus `--mode keyword|vector|hybrid`, `--source NAME`, `--kind KIND`, `--since`, `--until`."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from colleagues.selectors import colleague_by_email
from connectors.models import Source
from knowledge.commandline import (
    add_reader_arguments,
    first_text,
    reader_from_options,
    run_batch,
)
from knowledge.index.base import Filters
from knowledge.models import Item
from knowledge.retrieval import MODES, parse_when, retrieve
from knowledge.search import hit_as_json
from knowledge.visibility import Reader


class Command(BaseCommand):
    help = "Search captured knowledge (keywords and meaning), as a user would see it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("query", nargs="?", help="words to look for")
        parser.add_argument("--colleague", metavar="EMAIL", help="only what this person wrote")
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument(
            "--mode",
            choices=MODES,
            default="hybrid",
            help="keyword (BM25), vector (embeddings) or hybrid (both, fused; the default)",
        )
        parser.add_argument(
            "--source", metavar="NAME", action="append", help="only this source (repeatable)"
        )
        parser.add_argument(
            "--kind",
            choices=[k for k, _ in Item.Kind.choices],
            action="append",
            help="only this kind of item (repeatable)",
        )
        parser.add_argument("--since", metavar="DATE", help="created on or after (ISO date/time)")
        parser.add_argument("--until", metavar="DATE", help="created on or before (ISO date/time)")
        add_reader_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        reader = reader_from_options(options)
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        since = _when(options["since"], "--since", end=False)
        until = _when(options["until"], "--until", end=True)
        source_ids: tuple[int, ...] = ()
        if options["source"]:
            names = set(options["source"])
            found = dict(Source.objects.filter(name__in=names).values_list("name", "id"))
            if unknown := sorted(names - set(found)):
                raise CommandError(f"no source named {unknown[0]!r}")
            source_ids = tuple(sorted(found.values()))
        base = Filters(
            source_ids=source_ids,
            kinds=tuple(options["kind"] or ()),
            since=since,
            until=until,
        )
        if options["input"]:
            run_batch(
                self,
                options["input"],
                lambda obj: self.answer(
                    reader,
                    first_text(obj, "query", "question", "text"),
                    obj.get("colleague") or options["colleague"],
                    options["limit"],
                    base,
                    options["mode"],
                ),
            )
            return
        if not options["query"]:
            raise CommandError("give a query, or --input FILE")
        result = self.answer(
            reader, options["query"], options["colleague"], options["limit"], base, options["mode"]
        )
        if options["json"]:
            self.stdout.write(json.dumps(result, ensure_ascii=False, indent=2))
            return
        for row in result["results"]:
            who = row["colleague"] or "unknown"
            self.stdout.write(f"[{row['item_id']}] {who} · {row['source']} · {row['created_at']}")
            self.stdout.write(f"    {row['excerpt']}")
        self.stdout.write(
            f"{len(result['results'])} results in {result['seconds']:.3f}s ({result['mode']})"
        )

    def answer(
        self,
        reader: Reader,
        query: str,
        email: str | None,
        limit: int,
        filters: Filters,
        mode: str,
    ) -> dict[str, Any]:
        if email:
            colleague = colleague_by_email(email)
            if colleague is None:
                raise CommandError(f"no colleague with email {email}")
            filters = Filters(
                colleague_id=colleague.pk,
                source_ids=filters.source_ids,
                kinds=filters.kinds,
                since=filters.since,
                until=filters.until,
            )
        started = time.perf_counter()
        found = retrieve(reader, query, filters=filters, limit=limit, mode=mode)
        return {
            "results": [hit_as_json(hit) for hit in found.hits],
            "seconds": round(time.perf_counter() - started, 4),
            "mode": found.mode,
        }


def _when(value: str | None, option: str, *, end: bool) -> datetime | None:
    if not value:
        return None
    try:
        return parse_when(value, end=end)
    except ValueError as exc:
        raise CommandError(f"{option}: {exc}") from exc
