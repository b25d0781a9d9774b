"""Security key rules: create, list, update, rotate, delete, and opening a key for a delivery.

Secrets go in sealed and never come back out through this module's public read functions: `Key`
carries no secret, only `material` (used by the delivery worker) opens one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, select, update

from sharelinks import clock
from sharelinks.db.lookup import require_by_id
from sharelinks.db.upsert import insert_or_ignore
from sharelinks.http.body import Fields
from sharelinks.http.dates import parse_duration
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.keys.algorithms import OPTION_NAMES, Material, algorithm
from sharelinks.keys.crypto import SecretBox
from sharelinks.keys.models import security_keys

KEY_TYPES = ("WEBHOOK",)
DEFAULT_GRACE = timedelta(hours=24)
MAX_GRACE = timedelta(days=7)
MAX_RETIRED = 10
NAME_MAX = 200


@dataclass(frozen=True)
class Key:
    id: int
    name: str
    type: str
    algorithm: str
    description: str | None
    partner_key_id: str | None
    tags: list[str]
    options: dict[str, Any]
    retired_count: int
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class KeyRequest:
    name: str | None
    type: str | None
    algorithm: str | None
    secret: str | None
    description: str | None
    partner_key_id: str | None
    tags: list[str] | None
    options: dict[str, Any]
    present: frozenset[str]


ALLOWED_FIELDS = {"name", "type", "algorithm", "key", "description", "partner_key_id", "tags"} | OPTION_NAMES


def parse_request(body: Fields) -> KeyRequest:
    body.only(ALLOWED_FIELDS)
    tags = body.array("tags")
    if tags is not None and not all(isinstance(t, str) and len(t) <= 100 for t in tags):
        raise ApiError("binding_error", field="tags", expected="array of strings")
    name = body.string("name")
    if name is not None and not 1 <= len(name.strip()) <= NAME_MAX:
        raise ApiError("invalid_key_name", name=name[:NAME_MAX])
    key_type = body.string("type")
    if key_type is not None and key_type.upper() not in KEY_TYPES:
        raise ApiError("invalid_key_type", type=key_type[:40], allowed=list(KEY_TYPES))
    return KeyRequest(
        name=name.strip() if name else None,
        type=key_type.upper() if key_type else None,
        algorithm=body.string("algorithm"),
        secret=body.string("key"),
        description=body.string("description"),
        partner_key_id=body.string("partner_key_id"),
        tags=tags,
        options={n: body.data[n] for n in OPTION_NAMES if n in body.data},
        present=frozenset(body.data),
    )


def _to_key(row: Any) -> Key:
    return Key(
        id=row.id,
        name=row.name,
        type=row.type,
        algorithm=row.algorithm,
        description=row.description,
        partner_key_id=row.partner_key_id,
        tags=row.tags,
        options=row.options,
        retired_count=len(row.retired_secrets),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def create(conn: Connection, box: SecretBox, request: KeyRequest) -> Key:
    if not request.name:
        raise ApiError("invalid_key_name", message="name is required.")
    algo = algorithm(request.algorithm)
    if request.secret is None:
        raise ApiError("invalid_key", message="key is required.")
    algo.check_secret(request.secret)
    options = algo.check_options(request.options)
    key_id = new_id()
    now = clock.now()
    values = {
        "id": key_id,
        "name": request.name,
        "type": request.type or "WEBHOOK",
        "algorithm": algo.name,
        "description": request.description,
        "partner_key_id": request.partner_key_id,
        "tags": request.tags or [],
        "options": options,
        "secret": box.seal(request.secret, key_id),
        "retired_secrets": [],
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }
    if not insert_or_ignore(conn, security_keys, values):
        raise ApiError("key_name_taken", name=request.name)
    return require(conn, str(key_id))


def get(conn: Connection, key_id: int) -> Key | None:
    row = conn.execute(select(security_keys).where(security_keys.c.id == key_id)).first()
    return None if row is None else _to_key(row)


def require(conn: Connection, raw_id: str, *, status: int = 404) -> Key:
    return require_by_id(conn, raw_id, get, "key_not_found", "key_id", status=status)


def list_keys(conn: Connection) -> list[Key]:
    return [_to_key(r) for r in conn.execute(select(security_keys).order_by(security_keys.c.name))]


def update_key(conn: Connection, box: SecretBox, raw_id: str, request: KeyRequest) -> Key:
    """Names, description, tags and non-secret options; a new secret goes through `rotate`."""
    key = require(conn, raw_id)
    if request.algorithm is not None and request.algorithm.upper() != key.algorithm:
        raise ApiError("invalid_algorithm", message="A key's algorithm cannot change; create a new key.")
    if request.secret is not None:
        raise ApiError("invalid_key", message="Change a key's secret with POST .../rotate.")
    values: dict[str, Any] = {"updated_at": clock.now()}
    if request.name is not None and request.name != key.name:
        taken = conn.execute(select(security_keys.c.id).where(security_keys.c.name == request.name)).first()
        if taken is not None:
            raise ApiError("key_name_taken", name=request.name)
        values["name"] = request.name
    for name in ("description", "partner_key_id", "tags"):
        if name in request.present:
            values[name] = getattr(request, name) if name != "tags" else (request.tags or [])
    if request.options:
        values["options"] = algorithm(key.algorithm).check_options({**key.options, **request.options})
    conn.execute(update(security_keys).where(security_keys.c.id == key.id).values(**values))
    return require(conn, raw_id)


def rotate(conn: Connection, box: SecretBox, raw_id: str, secret: str | None, grace: str | None) -> Key:
    """A new secret. STANDARD_WEBHOOKS keeps signing with the old one too until the grace period ends."""
    key = require(conn, raw_id)
    algo = algorithm(key.algorithm)
    if secret is None:
        raise ApiError("invalid_key", message="key (the new secret) is required.")
    algo.check_secret(secret)
    period = parse_duration(grace) if grace is not None else DEFAULT_GRACE
    if period is None or period < timedelta(0) or period > MAX_GRACE:
        raise ApiError("invalid_grace_period", message="grace_period is an ISO-8601 duration of at most P7D.")
    row = conn.execute(select(security_keys).where(security_keys.c.id == key.id)).one()
    now = clock.now()
    retired = [r for r in row.retired_secrets if datetime.fromisoformat(r["valid_until"]) > now]
    if algo.signs_with_retired and period > timedelta(0):
        retired.insert(0, {"secret": row.secret, "valid_until": (now + period).isoformat()})
    conn.execute(
        update(security_keys)
        .where(security_keys.c.id == key.id)
        .values(
            secret=box.seal(secret, key.id),
            retired_secrets=retired[:MAX_RETIRED],
            version=row.version + 1,
            updated_at=now,
        )
    )
    return require(conn, raw_id)


def delete_key(conn: Connection, raw_id: str) -> Key:
    from sharelinks.webhooks import service as webhooks

    key = require(conn, raw_id)
    users = webhooks.names_using_key(conn, key.id)
    if users:
        raise ApiError("key_in_use", key_id=str(key.id), webhooks=users)
    conn.execute(delete(security_keys).where(security_keys.c.id == key.id))
    return key


def material(conn: Connection, box: SecretBox, key_id: int) -> Material | None:
    """The opened key, with the retired secrets still inside their grace period."""
    row = conn.execute(select(security_keys).where(security_keys.c.id == key_id)).first()
    if row is None:
        return None
    now = clock.now()
    secrets = [box.open(row.secret, row.id)]
    secrets += [
        box.open(r["secret"], row.id) for r in row.retired_secrets if datetime.fromisoformat(r["valid_until"]) > now
    ]
    return Material(row.algorithm, tuple(secrets), row.options, key_id=row.id, version=row.version)
