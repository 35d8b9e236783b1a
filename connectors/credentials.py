"""Source credentials, encrypted at rest with Fernet, write-only everywhere else.

The keys are `CREDENTIALS_KEY`: one Fernet key, or several separated by commas, newest first.
New credentials are encrypted with the first key; any listed key decrypts, so keys can be
rotated without downtime (README "Secrets"): put a new key first, run
`manage.py rotate_credentials`, then drop the old key. A key derived from `SECRET_KEY` (and
from each of `SECRET_KEY_FALLBACKS`) is always the last one tried, and is the only key when
`CREDENTIALS_KEY` is empty, so a database dump alone never reveals a token or a password.

Nothing here returns credentials to a person: callers that show a source use
`credential_keys` ("which keys are set"), never the values.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from connectors.errors import ConnectorConfigError


class CredentialsUndecryptable(ConnectorConfigError):
    """No configured key decrypts a source's credentials (the key that did was removed)."""


def _derived_key(secret: str) -> bytes:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"colleague-skill credentials"
    ).derive(secret.encode())
    return base64.urlsafe_b64encode(derived)


def configured_keys() -> list[str]:
    """The `CREDENTIALS_KEY` entries, newest first (a comma-separated string or a list)."""
    raw = settings.CREDENTIALS_KEY
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    return [part.strip() for part in parts if part.strip()]


def _fernets() -> list[Fernet]:
    fernets = []
    for position, key in enumerate(configured_keys(), start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except ValueError:
            # Never echo the key: the message goes to logs and consoles.
            raise ImproperlyConfigured(
                f"CREDENTIALS_KEY entry {position} is not a Fernet key (32 url-safe base64 "
                "bytes); generate one with: python -c 'from cryptography.fernet import "
                "Fernet; print(Fernet.generate_key().decode())'"
            ) from None
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    fernets += [Fernet(_derived_key(secret)) for secret in secrets if secret]
    return fernets


def _multi_fernet() -> MultiFernet:
    return MultiFernet(_fernets())


def encrypt_credentials(credentials: Mapping[str, str]) -> str:
    """Return `credentials` encrypted with the newest key; empty credentials encrypt to ""."""
    if not credentials:
        return ""
    return _multi_fernet().encrypt(json.dumps(dict(credentials)).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, str]:
    """Return the credentials `token` holds; CredentialsUndecryptable if no key opens it."""
    if not token:
        return {}
    try:
        plain = _multi_fernet().decrypt(token.encode())
    except InvalidToken:
        raise CredentialsUndecryptable(
            "the source's credentials cannot be decrypted by any key in CREDENTIALS_KEY (or "
            "derived from SECRET_KEY): put the key they were encrypted with back, or enter "
            "them again"
        ) from None
    credentials: dict[str, str] = json.loads(plain)
    return credentials


def credential_keys(token: str) -> list[str]:
    """The names of the credentials `token` holds ("token", "password"), never their values.

    What a page, an API response or a command may show about a source's credentials.
    """
    return sorted(decrypt_credentials(token))


def merge_credentials(stored: Mapping[str, str], submitted: Mapping[str, str]) -> dict[str, str]:
    """Return `stored` updated with the non-empty values of `submitted`.

    Credentials are write-only: a form or API call never receives them back, so a field left
    empty means "keep what is stored", not "erase it".
    """
    return {**stored, **{key: value for key, value in submitted.items() if value}}


@dataclass
class RotationReport:
    """What `rotate_source_credentials` did: source ids by outcome."""

    rotated: list[int] = field(default_factory=list)
    # Sources without credentials: nothing to re-encrypt.
    empty: list[int] = field(default_factory=list)
    # Source id -> why it could not be rotated; its stored credentials are left as they were.
    failed: dict[int, str] = field(default_factory=dict)


def rotate_source_credentials() -> RotationReport:
    """Re-encrypt every source's credentials with the newest key; record one audit event.

    Each source is rotated in its own transaction, so an interrupted run leaves every source
    readable (old and new keys both decrypt) and a re-run finishes the job. A source no
    configured key can decrypt is reported in `failed` and left unchanged; the others go on.
    """
    from connectors.models import Source
    from knowledge import audit

    multi = _multi_fernet()
    report = RotationReport()
    for source_id in Source.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            source = (
                Source.objects.select_for_update().only("encrypted_credentials").get(pk=source_id)
            )
            if not source.encrypted_credentials:
                report.empty.append(source_id)
                continue
            try:
                token = multi.rotate(source.encrypted_credentials.encode()).decode()
            except InvalidToken:
                report.failed[source_id] = CredentialsUndecryptable.__name__
                continue
            source.encrypted_credentials = token
            source.save(update_fields=["encrypted_credentials"])
            report.rotated.append(source_id)
    audit.record(
        "credentials.rotated",
        "sources",
        rotated=report.rotated,
        failed=sorted(report.failed),
        keys=len(configured_keys()),
    )
    return report
