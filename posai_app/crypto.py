"""Encryption at rest for Shopify tokens (MultiFernet: newest key first, older keys still decrypt)."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


def _fernet() -> MultiFernet:
    keys = current_app.config["POSAI_ENCRYPTION_KEYS"]
    cached = current_app.extensions.get("posai_fernet")
    if cached is None or cached[0] != keys:
        parsed = [Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()]
        cached = (keys, MultiFernet(parsed))
        current_app.extensions["posai_fernet"] = cached
    return cached[1]


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:  # a key was dropped from POSAI_ENCRYPTION_KEYS too early
        raise RuntimeError("stored token cannot be decrypted with POSAI_ENCRYPTION_KEYS") from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the newest key (used by `posai rotate-keys`)."""
    return _fernet().rotate(ciphertext.encode()).decode()


class EncryptedText(TypeDecorator):
    """A text column stored Fernet-encrypted; Python sees plaintext."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else encrypt(value)

    def process_result_value(self, value, dialect):
        return None if value is None else decrypt(value)
