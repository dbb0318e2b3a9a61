"""Encryption at rest for cluster credentials (Fernet, key from FIELD_ENCRYPTION_KEY)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings


def _fernet() -> Fernet:
    return Fernet(settings.FIELD_ENCRYPTION_KEY.encode())


def encrypt_json(value: dict) -> str:
    return _fernet().encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        # The key changed since the secret was stored: treat as "no credentials" rather than
        # crash every page; the cluster's connection test then reports the auth failure.
        return {}
