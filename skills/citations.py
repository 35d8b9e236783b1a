"""Citations: statements point at the items they came from, as far as the reader may see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

EVIDENCE_FILE = "references/evidence.md"
MAX_CITES = 3


@dataclass(frozen=True)
class Evidence:
    """A cited item the reader may see."""

    item_id: int
    title: str
    excerpt: str
    source: str
    kind: str
    created_at: datetime
    url: str


class Citations:
    """Turns evidence ids into links to references/, remembering which were cited."""

    def __init__(self, evidence: Mapping[int, Evidence]) -> None:
        self.evidence = evidence
        self.cited: set[int] = set()

    def visible(self, ids: Iterable[Any]) -> list[int]:
        return [i for i in ids if isinstance(i, int) and i in self.evidence]

    def __call__(self, ids: Iterable[Any]) -> str:
        """Links to the first visible of `ids` (" [#12](…)"), or "" when none is visible."""
        shown = self.visible(ids)[:MAX_CITES]
        self.cited.update(shown)
        return "".join(f" [#{i}]({EVIDENCE_FILE}#item-{i})" for i in shown)
