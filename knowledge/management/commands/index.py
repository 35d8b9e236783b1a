"""`manage.py index verify|rebuild|reembed|rechunk [--json]`: check and repair the knowledge index.

verify   chunks with no vector or one of another embedder (pending, stale), chunks the index
         backend lacks (missing) and index entries with no chunk (orphans); exits 1 when any.
rebuild  verify, then embed pending and stale chunks, upsert missing ones, delete orphans.
reembed  embed every pending or stale chunk (after COLLEAGUE_EMBEDDER changed).
rechunk  cut every item again with the current chunker, replace the chunks whose cuts changed
         (after an upgrade that changed chunking), then embed what is pending.

    verify --json  {"backend": str, "embedder": str, "ok": bool, "chunks": int, "indexed": int,
                    "pending": int, "stale": int, "missing": int, "orphans": int,
                    "sample": {"pending": [id, ...], ...}}   (at most 100 ids each)
    rebuild --json {"before": <verify>, "embedded": int, "upserted": int, "deleted": int,
                    "after": <verify>, "seconds": float}
    reembed --json {"embedded": int, "seconds": float}
    rechunk --json {"items": int, "rechunked": int, "embedded": int, "seconds": float}
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from knowledge.actions import rechunk_items
from knowledge.embeddings import EmbeddingError
from knowledge.indexing import IndexReport, Progress, embed_chunks, rebuild_index, verify_index


class Command(BaseCommand):
    help = "Verify the knowledge index against the chunks, or repair it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["verify", "rebuild", "reembed", "rechunk"])
        parser.add_argument("--json", action="store_true", help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            if options["action"] == "verify":
                report = verify_index()
                self.emit(options["json"], report.as_json(), self.describe(report))
                if not report.ok:
                    sys.exit(1)
            elif options["action"] == "rebuild":
                before = verify_index()
                result = rebuild_index(before, progress=self.progress("rebuilding"))
                after = verify_index()
                summary = {
                    "before": before.as_json(),
                    "embedded": result.embedded,
                    "upserted": result.upserted,
                    "deleted": result.deleted,
                    "after": after.as_json(),
                    "seconds": round(time.monotonic() - started, 3),
                }
                text = (
                    f"embedded {result.embedded}, upserted {result.upserted}, deleted "
                    f"{result.deleted}\n{self.describe(after)}"
                )
                self.emit(options["json"], summary, text)
            elif options["action"] == "rechunk":
                items, rechunked = rechunk_items(progress=self.progress("re-chunking"))
                embedded = embed_chunks(progress=self.progress("embedding"))
                seconds = round(time.monotonic() - started, 3)
                self.emit(
                    options["json"],
                    {
                        "items": items,
                        "rechunked": rechunked,
                        "embedded": embedded,
                        "seconds": seconds,
                    },
                    f"re-chunked {rechunked} of {items} items, embedded {embedded} chunks"
                    f" in {seconds:.1f}s",
                )
            else:
                embedded = embed_chunks(progress=self.progress("embedding"))
                seconds = round(time.monotonic() - started, 3)
                self.emit(
                    options["json"],
                    {"embedded": embedded, "seconds": seconds},
                    f"embedded {embedded} chunks in {seconds:.1f}s",
                )
        except (EmbeddingError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc).splitlines()[0] if str(exc) else repr(exc)) from exc

    def emit(self, as_json: bool, data: dict[str, Any], text: str) -> None:
        self.stdout.write(json.dumps(data, indent=2) if as_json else text)

    @staticmethod
    def describe(report: IndexReport) -> str:
        state = "ok" if report.ok else "needs rebuild"
        return (
            f"{report.backend} index, embedder {report.embedder}: {state}\n"
            f"  chunks {report.chunks}, indexed {report.indexed}\n"
            f"  pending {len(report.pending)}, stale {len(report.stale)}, "
            f"missing {len(report.missing)}, orphans {len(report.orphans)}"
        )

    def progress(self, label: str) -> Progress | None:
        """A progress line on stderr, when it is a terminal."""
        stream: TextIO = self.stderr._out  # type: ignore[assignment]
        if not getattr(stream, "isatty", lambda: False)():
            return None

        def show(done: int, total: int) -> None:
            percent = 100 * done / total if total else 100.0
            stream.write(f"\r{label}: {done}/{total} ({percent:.0f}%)")
            if done >= total:
                stream.write("\n")
            stream.flush()

        return show
