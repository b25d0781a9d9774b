"""Person rules: validation, create, update, lookup, and the upsert that events use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, update
from sqlalchemy.exc import IntegrityError

from sharelinks import clock
from sharelinks.db.upsert import insert_many_or_ignore, insert_or_ignore
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.persons.models import persons
from sharelinks.validation import is_http_url, normalize_email

NAME_MAX = 50
PARTNER_USER_ID_MAX = 255
DATA_NAME_MAX = 200
DATA_VALUE_MAX = 2000


@dataclass(frozen=True)
class Person:
    id: int
    email: str | None
    partner_user_id: str | None
    first_name: str | None
    last_name: str | None
    picture_url: str | None
    blocked: bool
    data: dict[str, str]
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass
class PersonFields:
    """Validated person attributes; `present` says which ones the request set (for updates)."""

    values: dict[str, Any] = field(default_factory=dict)

    @property
    def email(self) -> str | None:
        return self.values.get("email")

    @property
    def partner_user_id(self) -> str | None:
        return self.values.get("partner_user_id")


def _row_to_person(row: Row[Any]) -> Person:
    m = row._mapping
    return Person(
        id=m["id"],
        email=m["email"],
        partner_user_id=m["partner_user_id"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        picture_url=m["picture_url"],
        blocked=m["blocked"],
        data=m["data"] or {},
        version=m["version"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


def check_email(raw: str, *, error: str = "invalid_email") -> str:
    if normalize_email(raw) is None:
        raise (ApiError(error, email=raw[:254]) if error == "invalid_email" else ApiError(error, value=raw[:254]))
    return raw.strip()


def check_partner_user_id(raw: str) -> str:
    value = raw.strip()
    if not value or len(value) > PARTNER_USER_ID_MAX:
        raise ApiError("partner_user_id_invalid_length", partner_user_id=value[:PARTNER_USER_ID_MAX])
    return value


def check_name(raw: str, which: str) -> str:
    value = raw.strip()
    if len(value) > NAME_MAX:
        raise ApiError(f"invalid_length_{which}", params={which: value[:NAME_MAX]})
    return value


def check_data(data: dict[str, str]) -> dict[str, str]:
    for name, value in data.items():
        if not name or len(name) > DATA_NAME_MAX or len(value) > DATA_VALUE_MAX:
            raise ApiError(
                "invalid_parameter",
                message="Person data names are 1-200 and values at most 2000 characters",
                name=name[:DATA_NAME_MAX],
            )
    return data


def parse_v2(body: Fields) -> PersonFields:
    """The v2 request: email, first_name, last_name, picture_url, partner_user_id, blocked, parameters."""
    body.only({"email", "first_name", "last_name", "picture_url", "partner_user_id", "blocked", "parameters"})
    out = PersonFields()
    if body.has("email"):
        email = body.string("email")
        out.values["email"] = check_email(email) if email else None
    if body.has("partner_user_id"):
        puid = body.string_or_number("partner_user_id")
        out.values["partner_user_id"] = check_partner_user_id(puid) if puid else None
    for which in ("first_name", "last_name"):
        if body.has(which):
            name = body.string(which)
            out.values[which] = check_name(name, which) if name else None
    if body.has("picture_url"):
        url = body.string("picture_url")
        if url and not is_http_url(url):
            raise ApiError(
                "invalid_parameter", message="picture_url must be an absolute http(s) URL", name="picture_url"
            )
        out.values["picture_url"] = url or None
    if body.has("blocked"):
        out.values["blocked"] = bool(body.boolean("blocked"))
    if body.has("parameters"):
        out.values["data"] = check_data(body.string_map("parameters") or {})
    return out


def parse_v5(body: Fields) -> PersonFields:
    """The v5 request: `identity_key_value` (the email, our identity key) plus the v2 attributes."""
    body.only(
        {
            "identity_key_value",
            "email",
            "first_name",
            "last_name",
            "picture_url",
            "partner_user_id",
            "blocked",
        }
    )
    identity = body.string("identity_key_value")
    rest = {k: v for k, v in body.data.items() if k != "identity_key_value"}
    out = parse_v2(Fields(rest))
    if identity is not None:
        out.values["email"] = check_email(identity, error="invalid_key_value")
    return out


# Hot-path statements are built once; SQLAlchemy then skips re-deriving their cache keys per call.
_BY_ID = select(persons).where(persons.c.id == bindparam("person_id"))
_BY_EMAIL_KEY = select(persons).where(persons.c.email_key == bindparam("email_key"))
_BY_PARTNER_USER_ID = select(persons).where(persons.c.partner_user_id == bindparam("partner_user_id"))
_INSERT = persons.insert()


def get(conn: Connection, person_id: int) -> Person | None:
    row = conn.execute(_BY_ID, {"person_id": person_id}).first()
    return None if row is None else _row_to_person(row)


def require(conn: Connection, person_id: int | None, *, status: int | None = None) -> Person:
    person = get(conn, person_id) if person_id is not None else None
    if person is None:
        raise ApiError("person_not_found", status=status, person_id=str(person_id) if person_id else None)
    return person


def find_by_email(conn: Connection, email: str) -> Person | None:
    key = normalize_email(email)
    if key is None:
        return None
    row = conn.execute(_BY_EMAIL_KEY, {"email_key": key}).first()
    return None if row is None else _row_to_person(row)


def find_by_partner_user_id(conn: Connection, partner_user_id: str) -> Person | None:
    row = conn.execute(_BY_PARTNER_USER_ID, {"partner_user_id": partner_user_id}).first()
    return None if row is None else _row_to_person(row)


def search(
    conn: Connection,
    *,
    email: str | None = None,
    partner_user_id: str | None = None,
    last_name: str | None = None,
    data: dict[str, str] | None = None,
    offset: int = 0,
    limit: int = 100,
) -> list[Person]:
    query = select(persons)
    if email is not None:
        query = query.where(persons.c.email_key == (normalize_email(email) or email.strip().lower()))
    if partner_user_id is not None:
        query = query.where(persons.c.partner_user_id == partner_user_id)
    if last_name is not None:
        query = query.where(persons.c.last_name == last_name)
    rows = conn.execute(query.order_by(persons.c.created_at, persons.c.id)).all()
    found = [_row_to_person(r) for r in rows]
    if data:
        found = [p for p in found if all(p.data.get(k) == v for k, v in data.items())]
    return found[offset : offset + limit]


def _conflict(conn: Connection, fields: PersonFields, exclude: int | None) -> ApiError | None:
    if fields.email:
        other = find_by_email(conn, fields.email)
        if other is not None and other.id != exclude:
            return ApiError("person_email_already_defined", email=fields.email)
    if fields.partner_user_id:
        other = find_by_partner_user_id(conn, fields.partner_user_id)
        if other is not None and other.id != exclude:
            return ApiError("person_partner_user_id_already_defined", partner_user_id=fields.partner_user_id)
    return None


def _insert_values(fields: PersonFields) -> dict[str, Any]:
    now = clock.now()
    email = fields.values.get("email")
    return {
        "id": new_id(),
        "email": email,
        "email_key": normalize_email(email) if email else None,
        "partner_user_id": fields.values.get("partner_user_id"),
        "first_name": fields.values.get("first_name"),
        "last_name": fields.values.get("last_name"),
        "picture_url": fields.values.get("picture_url"),
        "blocked": fields.values.get("blocked", False),
        "data": fields.values.get("data", {}),
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def create(conn: Connection, fields: PersonFields, *, duplicate_error: str | None = None) -> Person:
    values = _insert_values(fields)
    if not insert_or_ignore(conn, persons, values):
        error = _conflict(conn, fields, None)
        if duplicate_error is not None:
            error = ApiError(duplicate_error, identity_key_value=fields.email)
        raise error or ApiError("person_email_already_defined", email=fields.email)
    person = get(conn, values["id"])
    assert person is not None
    return person


def update_person(
    conn: Connection, person_id: int, fields: PersonFields, *, duplicate_error: str | None = None
) -> Person:
    person = require(conn, person_id)
    if not fields.values:
        return person
    values = dict(fields.values)
    if "email" in values:
        values["email_key"] = normalize_email(values["email"]) if values["email"] else None
    values["version"] = person.version + 1
    values["updated_at"] = clock.now()
    try:
        with conn.begin_nested():
            conn.execute(update(persons).where(persons.c.id == person_id).values(**values))
    except IntegrityError:
        error = _conflict(conn, fields, person_id)
        if duplicate_error is not None and error is not None and error.code == "person_email_already_defined":
            error = ApiError(duplicate_error, identity_key_value=fields.email)
        raise error or ApiError("invalid_parameter") from None
    updated = get(conn, person_id)
    assert updated is not None
    return updated


def resolve_for_event(
    conn: Connection,
    *,
    person_id: int | None,
    email: str | None,
    partner_user_id: str | None,
    first_name: str | None,
    last_name: str | None,
) -> tuple[Person, bool]:
    """Find or create the person an event is about: person_id, then email, then partner_user_id.

    Email is the only key that merges profiles (Extole's rule). A partner_user_id already held by
    someone else is not moved. Returns (person, created).
    """
    if person_id is not None:
        return require(conn, person_id, status=400), False
    names = {k: v for k, v in (("first_name", first_name), ("last_name", last_name)) if v}
    if email is not None:
        # Insert first: most trigger events (converted, signed_up) come once per person, so the
        # common case costs one statement; an existing person costs one more (the read below).
        for candidate in ({"email": email, "partner_user_id": partner_user_id, **names}, {"email": email, **names}):
            values = _insert_values(PersonFields(candidate))
            if insert_or_ignore(conn, persons, values):
                return _from_values(values), True
            found = find_by_email(conn, email)
            if found is not None:
                break
            # else: the email is free but the partner_user_id belongs to someone else: retry without it
        assert found is not None
        if _fill_missing(conn, found, partner_user_id=partner_user_id, **names):
            return _must_get(conn, found.id), False
        return found, False
    if partner_user_id is not None:
        found = find_by_partner_user_id(conn, partner_user_id)
        if found is None:
            values = _insert_values(PersonFields({"partner_user_id": partner_user_id, **names}))
            if insert_or_ignore(conn, persons, values):
                return _from_values(values), True
            found = find_by_partner_user_id(conn, partner_user_id)
            assert found is not None
        return found, False
    # No identity at all: an anonymous person, as Extole creates one per unidentified event.
    values = _insert_values(PersonFields(names))
    conn.execute(_INSERT, values)
    return _from_values(values), True


def create_for_events(
    conn: Connection, identities: list[tuple[str, str | None, str | None, str | None]]
) -> list[Person | None]:
    """Persons for events that each name an email, created in one statement: the new person, or
    None where the email or partner_user_id is already someone's (or an earlier identity's here),
    for `resolve_for_event` to sort out."""
    rows = []
    for email, partner_user_id, first_name, last_name in identities:
        candidate = {
            "email": email,
            "partner_user_id": partner_user_id,
            "first_name": first_name,
            "last_name": last_name,
        }
        rows.append(_insert_values(PersonFields({k: v for k, v in candidate.items() if v})))
    inserted = insert_many_or_ignore(conn, persons, rows)
    return [_from_values(values) if values["id"] in inserted else None for values in rows]


def _from_values(values: dict[str, Any]) -> Person:
    """The Person just inserted, without reading it back."""
    return Person(**{k: v for k, v in values.items() if k != "email_key"})


def _must_get(conn: Connection, person_id: int) -> Person:
    person = get(conn, person_id)
    assert person is not None
    return person


def _fill_missing(conn: Connection, person: Person, **candidates: str | None) -> bool:
    """Set attributes the person does not have yet, never overwriting; True if anything changed."""
    values: dict[str, Any] = {k: v for k, v in candidates.items() if v and getattr(person, k) is None}
    if "partner_user_id" in values and find_by_partner_user_id(conn, values["partner_user_id"]) is not None:
        del values["partner_user_id"]
    if not values:
        return False
    values["updated_at"] = clock.now()
    values["version"] = person.version + 1
    try:
        with conn.begin_nested():
            conn.execute(update(persons).where(persons.c.id == person.id).values(**values))
    except IntegrityError:
        return False  # another request took that partner_user_id a moment ago; keep the person as is
    return True
