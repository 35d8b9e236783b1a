"""Tombstones of erased people: what a sync must never capture again (knowledge.erasure).

Only SHA-256 digests of addresses and Slack user ids are kept (ErasedIdentity): a sync hashes
what it reads and compares.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import replace

from connectors.base import PersonRef, SourceBatch
from knowledge.models import ErasedIdentity

logger = logging.getLogger(__name__)

_EMAIL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+\-]*@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]+")
_SLACK_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")


def identity_sha256(kind: str, value: str) -> str:
    """The tombstone of one address or account: "email:a@b.c", "slack:U123" (a Slack value's
    user id without its workspace, as mentions write it: "T1/U123" and "U123" are one)."""
    if kind == "slack":
        value = value.rsplit("/", 1)[-1]
    return hashlib.sha256(f"{kind}:{value.strip().lower()}".encode()).hexdigest()


def erased_hashes() -> set[str]:
    """Every tombstone (ErasedIdentity.value_sha256)."""
    return set(ErasedIdentity.objects.values_list("value_sha256", flat=True))


def is_erased_address(address: str, erased: set[str]) -> bool:
    """Whether `address` belongs to an erased person, given `erased_hashes()`."""
    return bool(address) and identity_sha256("email", address) in erased


def without_erased(batch: SourceBatch) -> tuple[SourceBatch, int]:
    """`batch` without what erased people wrote or what names them by address or Slack id,
    and without them among its people and container members; and how many documents it
    dropped. A batch is returned as it is while nobody has been erased."""
    if not batch.documents and not batch.people:
        return batch, 0
    erased = erased_hashes()
    if not erased:
        return batch, 0

    def is_erased(ref: PersonRef | None) -> bool:
        if ref is None:
            return False
        return identity_sha256(ref.kind, ref.value) in erased

    def names_erased(*texts: str) -> bool:
        for text in texts:
            for address in _EMAIL.findall(text):
                if identity_sha256("email", address) in erased:
                    return True
            for user_id in _SLACK_MENTION.findall(text):
                if identity_sha256("slack", user_id) in erased:
                    return True
        return False

    gone = {
        p.ref
        for p in batch.people
        if is_erased(p.ref) or (p.email and identity_sha256("email", p.email) in erased)
    }
    documents = tuple(
        doc
        for doc in batch.documents
        if not (doc.author in gone or is_erased(doc.author))
        and not names_erased(doc.title, doc.body, json.dumps(dict(doc.metadata), default=str))
    )
    dropped = len(batch.documents) - len(documents)
    documents = tuple(
        replace(
            doc,
            audience=replace(
                doc.audience,
                people=tuple(r for r in doc.audience.people if r not in gone and not is_erased(r)),
            ),
        )
        for doc in documents
    )
    containers = tuple(
        replace(c, members=tuple(r for r in c.members if r not in gone and not is_erased(r)))
        for c in batch.containers
    )
    people = tuple(p for p in batch.people if p.ref not in gone)
    if dropped:
        logger.info("Skipped %s documents by or naming erased people", dropped)
    return replace(batch, documents=documents, people=people, containers=containers), dropped
