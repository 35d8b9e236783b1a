"""What asking leaves behind: one audit event per question (docs/SECURITY.md row 13).

Events hold ids and a hash of the question, never its text nor any excerpt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from answers.ask import Answer
from answers.who_knows import Expert
from colleagues.models import Colleague
from knowledge import audit
from knowledge.audit import Actor
from knowledge.models import AuditEvent
from knowledge.visibility import Reader


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8", "surrogatepass")).hexdigest()


def record_ask(
    *,
    reader: Reader,
    colleague: Colleague,
    question: str,
    answer: Answer,
    actor: Actor,
    via: str,
) -> AuditEvent:
    """Record who asked about whose knowledge, and which items the answer cited."""
    return audit.record(
        "answers.asked",
        f"colleague:{colleague.pk}",
        actor=actor,
        question_sha256=question_hash(question),
        mode=answer.mode,
        cited_items=[c.item_id for c in answer.citations],
        via=via,
        full_access=reader.unrestricted,
    )


def record_who_knows(
    *,
    reader: Reader,
    question: str,
    experts: Sequence[Expert],
    actor: Actor,
    via: str,
) -> AuditEvent:
    """Record who asked who knows, whom the answer named and which items it cited."""
    named = [e.colleague.pk for e in experts]
    named += [s.colleague.pk for e in experts for s in e.successors]
    cited = [ev.item_id for e in experts for ev in e.evidence]
    cited += [ev.item_id for e in experts for s in e.successors for ev in s.evidence]
    return audit.record(
        "answers.who_knows",
        "colleagues",
        actor=actor,
        question_sha256=question_hash(question),
        colleagues=list(dict.fromkeys(named)),
        cited_items=list(dict.fromkeys(cited)),
        via=via,
        full_access=reader.unrestricted,
    )
