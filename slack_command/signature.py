"""Slack's request signatures, checked before anything else reads a request.

Slack signs every request with the app's signing secret: `X-Slack-Signature` is "v0=" and the
hex HMAC-SHA256 of `v0:{X-Slack-Request-Timestamp}:{raw body}`
(https://docs.slack.dev/authentication/verifying-requests-from-slack). `verify` accepts a
request only when both headers are there and well formed, the timestamp is within five minutes
of our clock either way, and `slack_sdk.signature.SignatureVerifier` (constant-time compare)
finds the signature right; anything else raises `SignatureRefused` with a short reason for the
audit trail. It never raises anything else, whatever the headers or body hold.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping

from slack_sdk.signature import Clock, SignatureVerifier

WINDOW_SECONDS = 5 * 60
MAX_BODY_BYTES = 64 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


class SignatureRefused(Exception):
    """The request is not one Slack signed with our secret, or not recently; `reason` says
    which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> None:
    """Return when `body` and `headers` are a request Slack signed with `secret` within the
    last five minutes; raise SignatureRefused otherwise."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    signature = headers.get("X-Slack-Signature")
    if not timestamp or not signature:
        raise SignatureRefused("missing_headers")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise SignatureRefused("bad_timestamp")
    if not signature.startswith("v0="):
        raise SignatureRefused("unknown_version")
    if not _SIGNATURE.fullmatch(signature):
        raise SignatureRefused("malformed_signature")
    if abs((time.time() if now is None else now) - int(timestamp)) > WINDOW_SECONDS:
        raise SignatureRefused("stale_timestamp")
    if len(body) > MAX_BODY_BYTES:
        raise SignatureRefused("body_too_large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureRefused("body_not_utf8") from None
    verifier = SignatureVerifier(secret, clock=Clock() if now is None else _FixedClock(now))
    if not verifier.is_valid(text, timestamp, signature):
        raise SignatureRefused("wrong_signature")


def sign(secret: str, body: bytes, timestamp: int | str) -> str:
    """The `X-Slack-Signature` Slack would send for `body` at `timestamp` (for tests, the
    load benchmark and local trials)."""
    return SignatureVerifier(secret).generate_signature(timestamp=str(timestamp), body=body) or ""


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now
