"""Console sign-in: scrypt password hashes, slow-down and lockout after failures, sessions, CSRF tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection, delete, select, update

from sharelinks import clock
from sharelinks.console.models import console_sessions, console_users
from sharelinks.db.upsert import insert_or_ignore
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.validation import normalize_email

SCRYPT = {"n": 2**14, "r": 8, "p": 1}
PASSWORD_MIN = 10
LOCK_AFTER = 5
LOCK_FOR = timedelta(minutes=15)
SESSION_FOR = timedelta(hours=12)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def check_password(password: str, stored: str) -> bool:
    _, salt, digest = stored.split("$")
    candidate = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, **SCRYPT)
    return hmac.compare_digest(candidate, base64.b64decode(digest))


# Checked when nobody has the email, so an unknown email costs as much time as a wrong password.
_DUMMY = hash_password(secrets.token_urlsafe(16))


def create_user(conn: Connection, email: str, password: str) -> int:
    key = normalize_email(email)
    if key is None:
        raise ApiError("invalid_email", email=email[:254])
    if len(password) < PASSWORD_MIN:
        raise ApiError("invalid_parameter", message=f"A password has at least {PASSWORD_MIN} characters.")
    user_id = new_id()
    row = {"id": user_id, "email": key, "password_hash": hash_password(password), "failed_logins": 0,
           "locked_until": None, "created_at": clock.now()}  # fmt: skip
    if not insert_or_ignore(conn, console_users, row):
        raise ApiError("identity_key_value_already_taken", message="A console user with this email exists.")
    return user_id


@dataclass(frozen=True)
class Session:
    token: str
    user_id: int
    email: str
    csrf_token: str


@dataclass(frozen=True)
class Refusal:
    message: str
    failures: int


def sign_in(conn: Connection, email: str, password: str) -> Session | Refusal:
    key = normalize_email(email) or ""
    row = conn.execute(select(console_users).where(console_users.c.email == key)).first()
    now = clock.now()
    if row is None:
        check_password(password, _DUMMY)
        return Refusal("Wrong email or password.", 1)
    if row.locked_until is not None and row.locked_until > now:
        return Refusal("Too many failed attempts: this account is locked for a while.", row.failed_logins)
    if not check_password(password, row.password_hash):
        failures = row.failed_logins + 1
        locked = now + LOCK_FOR if failures >= LOCK_AFTER else None
        conn.execute(update(console_users).where(console_users.c.id == row.id)
                     .values(failed_logins=0 if locked else failures, locked_until=locked))  # fmt: skip
        return Refusal("Wrong email or password.", failures)
    conn.execute(update(console_users).where(console_users.c.id == row.id).values(failed_logins=0, locked_until=None))
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    conn.execute(console_sessions.insert(), {"token_hash": _digest(token), "user_id": row.id, "csrf_token": csrf,
                                             "expires_at": now + SESSION_FOR, "created_at": now})  # fmt: skip
    return Session(token, row.id, row.email, csrf)


def session(conn: Connection, token: str) -> Session | None:
    query = (
        select(console_sessions.c.user_id, console_sessions.c.csrf_token, console_sessions.c.expires_at,
               console_users.c.email)
        .join(console_users)
        .where(console_sessions.c.token_hash == _digest(token))
    )  # fmt: skip
    row = conn.execute(query).first()
    if row is None or row.expires_at < clock.now():
        return None
    return Session(token, row.user_id, row.email, row.csrf_token)


def sign_out(conn: Connection, token: str) -> None:
    conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _digest(token)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
