"""Signals of the directory sync, for other parts to hook into (the offboarding issue)."""

from __future__ import annotations

import django.dispatch

# Sent when the directory marks a current colleague departed, because their account was
# disabled ("disabled") or is gone from the directory ("removed"). Arguments: sender (the
# DirectoryAccount class), colleague (already saved as departed, departed_on today), reason.
# Sent inside the transaction that marks the departure: a receiver's writes commit or roll back
# with it, and a receiver that queues work must do so with transaction.on_commit.
colleague_departed = django.dispatch.Signal()
