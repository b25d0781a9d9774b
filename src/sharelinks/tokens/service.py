"""Creating, checking and revoking access tokens.

Tokens are 26 characters of Crockford base32 (Extole's tokens look the same) from the CSPRNG; only
their SHA-256 is stored. Verification goes through a short-lived in-process cache so a request does
not cost a database round trip; revocation clears this process's cache at once and other processes'
within `token_cache_seconds`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select, update

from sharelinks import clock
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.tokens.models import tokens
from sharelinks.tokens.scopes import Scope

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TOKEN_LENGTH = 26
DEFAULT_DURATION = timedelta(days=365)


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    scopes: frozenset[Scope]
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    principal: Principal


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(TOKEN_LENGTH))


def issue(
    conn: Connection, *, name: str, scopes: frozenset[Scope], duration: timedelta | None = DEFAULT_DURATION
) -> IssuedToken:
    token = _new_token()
    now = clock.now()
    token_id = new_id()
    expires_at = now + duration if duration is not None else None
    conn.execute(
        tokens.insert().values(
            id=token_id,
            name=name,
            token_hash=hash_token(token),
            scopes=",".join(sorted(scopes)),
            type="USER",
            created_at=now,
            expires_at=expires_at,
        )
    )
    return IssuedToken(token, Principal(token_id, name, scopes, expires_at, now))


def _principal(row: object) -> Principal:
    r = row._mapping  # type: ignore[attr-defined]
    scopes = frozenset(Scope(s) for s in r["scopes"].split(",") if s)
    return Principal(r["id"], r["name"], scopes, r["expires_at"], r["created_at"])


class TokenCache:
    """token hash -> (principal or None for unknown/revoked, time cached)."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()

    def get(self, token_hash: str) -> tuple[bool, Principal | None]:
        entry = self._entries.get(token_hash)
        if entry is None or time.monotonic() - entry[1] > self.ttl:
            return False, None
        return True, entry[0]

    def put(self, token_hash: str, principal: Principal | None) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[token_hash] = (principal, time.monotonic())

    def forget(self, token_hash: str) -> None:
        with self._lock:
            self._entries.pop(token_hash, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def lookup(conn: Connection, token_hash: str) -> Principal | None:
    row = conn.execute(select(tokens).where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))).first()
    return None if row is None else _principal(row)


def check_expiry(principal: Principal) -> None:
    if principal.expires_at is not None and principal.expires_at <= clock.now():
        raise ApiError("expired_access_token")


def list_tokens(conn: Connection) -> list[Principal]:
    rows = conn.execute(select(tokens).where(tokens.c.revoked_at.is_(None)).order_by(tokens.c.created_at)).all()
    return [_principal(r) for r in rows]


def revoke_by_id(conn: Connection, token_id: int) -> bool:
    result = conn.execute(
        update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)).values(revoked_at=clock.now())
    )
    return result.rowcount == 1


def revoke_by_hash(conn: Connection, token_hash: str) -> bool:
    result = conn.execute(
        update(tokens)
        .where(tokens.c.token_hash == token_hash, tokens.c.revoked_at.is_(None))
        .values(revoked_at=clock.now())
    )
    return result.rowcount == 1
