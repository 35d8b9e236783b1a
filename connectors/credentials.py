"""Source credentials, encrypted at rest with Fernet.

The key is `CREDENTIALS_KEY` (a Fernet key) when set, else derived from `SECRET_KEY`, so a
database dump alone never reveals a token or a password.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

from connectors.errors import ConnectorConfigError


def _fernet() -> Fernet:
    if settings.CREDENTIALS_KEY:
        return Fernet(settings.CREDENTIALS_KEY.encode())
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"colleague-skill credentials"
    ).derive(settings.SECRET_KEY.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt_credentials(credentials: Mapping[str, str]) -> str:
    """Return the encrypted form of `credentials`; empty credentials encrypt to ""."""
    if not credentials:
        return ""
    return _fernet().encrypt(json.dumps(dict(credentials)).encode()).decode()


def decrypt_credentials(token: str) -> dict[str, str]:
    """Return the credentials `token` holds; ConnectorConfigError if the key has changed."""
    if not token:
        return {}
    try:
        plain = _fernet().decrypt(token.encode())
    except InvalidToken:
        raise ConnectorConfigError(
            "the source's credentials cannot be decrypted (CREDENTIALS_KEY or SECRET_KEY "
            "changed); enter them again"
        ) from None
    credentials: dict[str, str] = json.loads(plain)
    return credentials
