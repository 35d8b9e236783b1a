"""The audit trail's hash chain, as pure functions over plain values (no database).

Each event's hash is the SHA-256 of a canonical JSON document holding its position (`seq`),
its fields and the previous event's hash, so changing, removing or reordering any event
breaks a link that `verify_links` finds. The end of the chain is anchored by a separately
stored head (`knowledge.models.AuditChainHead`): without it, deleting the newest events would
leave a shorter chain that is still valid.

The format below is what every stored hash was computed with: never change it. A new format
would need a version field and a verifier that knows both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# The `prev_hash` of the first event.
GENESIS = "0" * 64

# The fields a hash covers, in the order they are read from the database.
FIELDS = (
    "seq",
    "at",
    "actor_id",
    "actor_name",
    "action",
    "target",
    "result",
    "ip",
    "request_id",
    "detail",
    "prev_hash",
)


def normalized_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """`detail` as it reads back from a JSON column: tuples as lists, keys as strings.

    Raises TypeError or ValueError for what JSON cannot hold (objects, NaN), before anything is
    written.
    """
    normalized: dict[str, Any] = json.loads(json.dumps(dict(detail), allow_nan=False))
    return normalized


def utc_text(at: datetime) -> str:
    """`at` in UTC, ISO 8601 with microseconds (both databases keep microseconds)."""
    if at.tzinfo is None:
        raise ValueError("audit times are timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    *,
    seq: int,
    at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    target: str,
    result: str,
    ip: str,
    request_id: str,
    detail: Mapping[str, Any],
    prev_hash: str,
) -> str:
    """The hex SHA-256 of one event's canonical JSON."""
    document = {
        "seq": seq,
        "at": utc_text(at),
        "actor_id": actor_id,
        "actor_name": actor_name,
        "action": action,
        "target": target,
        "result": result,
        "ip": ip,
        "request_id": request_id,
        "detail": detail,
        "prev_hash": prev_hash,
    }
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class BrokenLink:
    """Where the chain stops being trustworthy, and why."""

    seq: int  # the position at which the problem shows
    event_id: int | None  # the row there, when there is one
    reason: str

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "event_id": self.event_id, "reason": self.reason}


@dataclass(frozen=True)
class Verification:
    events: int
    head_seq: int | None
    head_hash: str | None
    broken: BrokenLink | None

    @property
    def ok(self) -> bool:
        return self.broken is None

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "broken": self.broken.as_json() if self.broken else None,
        }


def verify_links(rows: Iterable[tuple[Any, ...]], *, head: tuple[int, str] | None) -> Verification:
    """Walk `rows` — (id, *FIELDS, hash), in seq order — and return the first broken link.

    Detects: an edited event (its hash no longer matches), a deleted event (a gap in seq), a
    reordering (a link whose prev_hash is not the previous event's hash, or a hash over another
    seq), a forged event that does not chain, and a removed tail (the last event is not the
    head). `head` is the stored (seq, hash) of the last event, or None when there is none.
    """
    expected_seq = 1
    previous = GENESIS
    count = 0
    last: tuple[int, str] | None = None
    for row in rows:
        event_id, *values, stored_hash = row
        fields = dict(zip(FIELDS, values, strict=True))
        seq = fields["seq"]
        count += 1
        if seq != expected_seq:
            reason = (
                f"event #{expected_seq} is missing (next is #{seq})"
                if seq > expected_seq
                else f"event #{seq} appears out of order after #{expected_seq - 1}"
            )
            return Verification(count, *_head(head), BrokenLink(expected_seq, event_id, reason))
        if fields["prev_hash"] != previous:
            return Verification(
                count,
                *_head(head),
                BrokenLink(seq, event_id, "does not link to the event before it"),
            )
        if event_hash(**fields) != stored_hash:
            return Verification(
                count,
                *_head(head),
                BrokenLink(seq, event_id, "was changed after it was written (hash mismatch)"),
            )
        previous = stored_hash
        expected_seq += 1
        last = (seq, stored_hash)
    if head is None and last is not None:
        broken = BrokenLink(last[0], None, "the chain head is missing")
        return Verification(count, None, None, broken)
    if head is not None and last != head:
        if last is None or last[0] < head[0]:
            broken = BrokenLink(
                (last[0] if last else 0) + 1,
                None,
                f"events after #{last[0] if last else 0} are missing (the head is #{head[0]})",
            )
        else:
            broken = BrokenLink(last[0], None, "the last event does not match the chain head")
        return Verification(count, *head, broken)
    return Verification(count, *_head(head), None)


def _head(head: tuple[int, str] | None) -> tuple[int | None, str | None]:
    return head if head is not None else (None, None)
