"""Secrets at rest: AES-256-GCM under one master key.

Each secret is sealed with its row's id as associated data, so a ciphertext copied into another row
does not open. The master key comes from `SHARELINKS_SECRET_KEY`, or, on the embedded SQLite default,
from a file generated on first start and readable only by its owner.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sharelinks.config import Settings

PREFIX = "v1."
log = logging.getLogger("sharelinks.keys")


class SecretKeyMissing(RuntimeError):
    pass


def _derive(material: str) -> bytes:
    """32 key bytes from the configured value: a base64 of 32 bytes as is, anything else via HKDF."""
    try:
        raw = base64.urlsafe_b64decode(material + "=" * (-len(material) % 4))
        if len(raw) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"sharelinks master key")
    return hkdf.derive(material.encode())


def new_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _read_or_create(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(new_master_key() + "\n")
    log.warning("generated a new master key in %s; back it up with the database", path)
    return path.read_text().strip()


class SecretBox:
    def __init__(self, master_key: str) -> None:
        self._aead = AESGCM(_derive(master_key))

    @classmethod
    def from_settings(cls, settings: Settings) -> SecretBox:
        if settings.secret_key:
            return cls(settings.secret_key)
        if not settings.is_sqlite:
            raise SecretKeyMissing(
                "SHARELINKS_SECRET_KEY is required on PostgreSQL (every process must share it); "
                "generate one with `sharelinks keys master-key`."
            )
        return cls(_read_or_create(settings.resolved_secret_key_file()))

    def seal(self, plaintext: str, context: int) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), str(context).encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, context: int) -> str:
        if not sealed.startswith(PREFIX):
            raise ValueError("unknown secret format")
        raw = base64.urlsafe_b64decode(sealed[len(PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], str(context).encode()).decode()
        except InvalidTag as exc:
            raise ValueError("secret does not open with this master key") from exc
