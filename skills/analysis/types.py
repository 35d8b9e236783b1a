"""What the analyses read: a colleague's own writing, one piece per captured item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Writing:
    """One thing a colleague wrote, in their own words only (quotes and signatures removed).

    `replying_to_at` is when the message this one answers was written by someone else (a
    thread's earlier message, the mail it replies to), so response latency can be measured;
    None when it answers nothing known. `addressed_to` is the writer's relation to the people it
    was written to, where titles and managers are known: "manager", "report" or "peer"; "" when
    unknown or mixed.
    """

    item_id: int
    text: str
    created_at: datetime
    kind: str  # knowledge.models.Item.Kind: "message" | "email" | "document"
    container: str = ""  # channel, mail folder or document folder name
    replying_to_at: datetime | None = None
    addressed_to: str = ""
