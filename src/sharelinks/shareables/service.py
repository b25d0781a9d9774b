"""Share-link rules: validation, idempotent create, lookup, update, delete, change of owner."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from sharelinks import clock
from sharelinks.db import changes
from sharelinks.db.database import PASSED, Passed
from sharelinks.db.upsert import insert_many_or_ignore, insert_or_ignore
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.persons import service as persons
from sharelinks.persons.models import persons as persons_table
from sharelinks.persons.service import Person
from sharelinks.programs import service as programs
from sharelinks.programs.service import Program
from sharelinks.shareables import codes
from sharelinks.shareables.models import shareables
from sharelinks.validation import is_http_url

CONTENT_FIELDS = ("partner_content_id", "title", "image_url", "description", "url")
URL_MAX = 2048
DESCRIPTION_MAX = 1000
CONTENT_TEXT_MAX = 255
KEY_MAX = 255
DATA_NAME_MAX = 200
DATA_VALUE_MAX = 2000
DATA_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
RANDOM_ATTEMPTS = 10


@dataclass(frozen=True)
class Shareable:
    id: int
    person_id: int
    program_id: int
    key: str
    label: str | None
    code: str
    domain: str
    content: dict[str, str | None] | None
    data: dict[str, str]
    created_at: datetime
    updated_at: datetime

    @property
    def link(self) -> str:
        return programs.link_for(self.domain, self.code)


@dataclass(frozen=True)
class CreateRequest:
    label: str
    code: str | None = None
    key: str | None = None
    content: dict[str, str | None] | None = None
    data: dict[str, str] = field(default_factory=dict)
    program_url: str | None = None


@dataclass(frozen=True)
class UpdateRequest:
    label: str | None = None
    key: str | None = None
    content: dict[str, str | None] | None = None
    content_given: bool = False
    data: dict[str, str] | None = None


# ---- validation (no database) -------------------------------------------------------------------


def _check_key(key: str | None) -> str | None:
    if key is not None and not 1 <= len(key) <= KEY_MAX:
        raise ApiError("invalid_parameter", message=f"key must be 1-{KEY_MAX} characters", name="key")
    return key


def check_data(raw: Fields | None) -> dict[str, str]:
    if raw is None:
        return {}
    data: dict[str, str] = {}
    for name, value in raw.data.items():
        if not 1 <= len(name) <= DATA_NAME_MAX:
            raise ApiError("data_attribute_name_length_out_of_range", name=name[:DATA_NAME_MAX])
        if not DATA_NAME_RE.match(name):
            raise ApiError("data_attribute_name_invalid", name=name)
        if not isinstance(value, str):
            raise ApiError("data_attribute_value_invalid", name=name)
        if len(value) > DATA_VALUE_MAX:
            raise ApiError("data_attribute_value_length_out_of_range", name=name)
        data[name] = value
    return data


def check_content(raw: Fields | None) -> dict[str, str | None] | None:
    if raw is None:
        return None
    raw.only(CONTENT_FIELDS)
    content = {name: raw.string(name) for name in CONTENT_FIELDS}
    url, image_url = content["url"], content["image_url"]
    if url is not None:
        if len(url) > URL_MAX:
            raise ApiError("content_url_length_out_of_range", url=url[:URL_MAX], max_length=URL_MAX)
        if not is_http_url(url, URL_MAX):
            raise ApiError("invalid_content_url", url=url)
    if image_url is not None and not is_http_url(image_url, URL_MAX):
        raise ApiError("content_image_url_invalid", image_url=image_url[:URL_MAX])
    description = content["description"]
    if description is not None and len(description) > DESCRIPTION_MAX:
        raise ApiError("content_description_length_exceeded", description=description[:100])
    for name in ("title", "partner_content_id"):
        value = content[name]
        if value is not None and len(value) > CONTENT_TEXT_MAX:
            raise ApiError("invalid_parameter", message=f"content.{name} is longer than {CONTENT_TEXT_MAX}", name=name)
    return content if any(v is not None for v in content.values()) else None


def parse_create(body: Fields) -> CreateRequest:
    """Extole's check order: parse, label, code format, reserved/profanity, data/content; uniqueness later."""
    body.only({"label", "code", "key", "content", "data", "program_url"})
    label = body.string("label")
    if not label:
        raise ApiError("label_is_missing")
    programs.check_label(label)
    code = body.string("code")
    if code is not None:
        codes.check_explicit(code)
    key = _check_key(body.string("key"))
    data = check_data(body.obj("data"))
    content = check_content(body.obj("content"))
    return CreateRequest(
        label=label, code=code, key=key, content=content, data=data, program_url=body.string("program_url")
    )


def parse_update(body: Fields) -> UpdateRequest:
    body.only({"label", "key", "content", "data"})
    label = body.string("label")
    if label is not None:
        programs.check_label(label)
    data = body.obj("data")
    return UpdateRequest(
        label=label,
        key=_check_key(body.string("key")),
        content=check_content(body.obj("content")),
        content_given=body.has("content"),
        data=check_data(data) if data is not None else None,
    )


# ---- reads ----------------------------------------------------------------------------------------


def _to_shareable(row: Row[Any]) -> Shareable:
    m = row._mapping
    return Shareable(
        id=m["id"],
        person_id=m["person_id"],
        program_id=m["program_id"],
        key=m["key"],
        label=m["label"],
        code=m["code"],
        domain=m["domain"],
        content=m["content"],
        data=m["data"] or {},
        created_at=m["created_at"],
        updated_at=m["updated_at"],
    )


_BY_PERSON_AND_KEY = select(shareables).where(
    shareables.c.person_id == bindparam("person_id"), shareables.c.key == bindparam("key")
)
_BY_CODE_KEY = select(shareables).where(shareables.c.code_key == bindparam("code_key"))


def by_person_and_key(conn: Connection, person_id: int, key: str) -> Shareable | None:
    row = conn.execute(_BY_PERSON_AND_KEY, {"person_id": person_id, "key": key}).first()
    return None if row is None else _to_shareable(row)


def by_code(conn: Connection, code: str) -> Shareable | None:
    row = conn.execute(_BY_CODE_KEY, {"code_key": code.lower()}).first()
    return None if row is None else _to_shareable(row)


def require_code(conn: Connection, code: str, person_id: int | None = None) -> Shareable:
    found = by_code(conn, code)
    if found is None or (person_id is not None and found.person_id != person_id):
        params = {"code": code} if person_id is None else {"person_id": str(person_id), "code": code}
        raise ApiError("shareable_not_found", params=params)
    return found


def list_for_person(
    conn: Connection,
    person_id: int,
    *,
    labels: set[str] | None = None,
    data_keys: set[str] | None = None,
    data_values: dict[str, str] | None = None,
    newest_update_first: bool = False,
) -> list[Shareable]:
    persons.require(conn, person_id)
    order = (shareables.c.updated_at.desc(),) if newest_update_first else (shareables.c.created_at, shareables.c.id)
    rows = conn.execute(select(shareables).where(shareables.c.person_id == person_id).order_by(*order)).all()
    found = [_to_shareable(r) for r in rows]
    if labels:
        found = [s for s in found if s.label in labels]
    if data_keys:
        found = [s for s in found if data_keys <= s.data.keys()]
    if data_values:
        found = [s for s in found if all(s.data.get(k) == v for k, v in data_values.items())]
    return found


# ---- create -------------------------------------------------------------------------------------


def unsaved(
    person_id: int,
    program: Program,
    key: str,
    *,
    label: str | None = None,
    code: str | None = None,
    domain: str | None = None,
    content: dict[str, str | None] | None = None,
    data: dict[str, str] | None = None,
) -> Shareable:
    """A new link, not yet written: a random code unless one is given, the program's primary domain
    unless another is."""
    now = clock.now()
    return Shareable(id=new_id(), person_id=person_id, program_id=program.id, key=key, label=label or program.label,
                     code=code or codes.random_code(), domain=domain or program.primary_domain, content=content,
                     data=data or {}, created_at=now, updated_at=now)  # fmt: skip


def insert_many(conn: Connection, links: list[Shareable]) -> list[Shareable]:
    """New links in one statement; those inserted. A link whose code or person and key is taken
    (also by an earlier link of the list) is left out, for the one-link path to sort out."""
    inserted = insert_many_or_ignore(conn, shareables, [_row(link) for link in links])
    return [link for link in links if link.id in inserted]


_FIELDS = tuple(f.name for f in dataclasses.fields(Shareable))


def _row(shareable: Shareable) -> dict[str, Any]:
    row = {name: getattr(shareable, name) for name in _FIELDS}
    row["code_key"] = shareable.code.lower()
    return row


def _existing_for_key(existing: Shareable, code: str | None) -> Shareable:
    """Same person and key again: the same link (create is idempotent) unless another code is asked for."""
    if code is None or code.lower() == existing.code.lower():
        return existing
    raise ApiError("shareable_key_taken", code=code)


def free_suggestions(conn: Connection, code: str, count: int = 3) -> list[str]:
    candidates = codes.suggestions_for(code)
    taken = set(
        conn.execute(
            select(shareables.c.code_key).where(shareables.c.code_key.in_([c.lower() for c in candidates]))
        ).scalars()
    )
    return [c for c in candidates if c.lower() not in taken][:count]


def _generated_candidates(conn: Connection, program: Program, person: Person) -> Iterator[str]:
    """Codes to try, in order: name codes not yet taken (for `name` programs), then random ones.

    Lazy: a random code almost never collides, so usually only the first is ever made.
    """
    if program.code_style == "name":
        names = codes.name_candidates(person.first_name)
        if names:
            taken = set(conn.execute(select(shareables.c.code_key).where(shareables.c.code_key.in_(names))).scalars())
            yield from [c for c in names if c not in taken][:RANDOM_ATTEMPTS]
            for _ in range(RANDOM_ATTEMPTS):
                yield codes.name_fallback(person.first_name)
    for _ in range(RANDOM_ATTEMPTS):
        yield codes.random_code()


def get_or_create(
    conn: Connection,
    *,
    person: Person,
    program: Program,
    key: str | None = None,
    label: str | None = None,
    code: str | None = None,
    domain: str | None = None,
    content: dict[str, str | None] | None = None,
    data: dict[str, str] | None = None,
) -> tuple[Shareable, bool]:
    """The person's link for `key` (default: the program label), created if missing. (shareable, created)."""
    key = key or program.label
    label = label or program.label
    existing = by_person_and_key(conn, person.id, key)
    if existing is not None:
        return _existing_for_key(existing, code), False
    candidates = iter([code]) if code is not None else _generated_candidates(conn, program, person)
    for candidate in candidates:
        link = unsaved(person.id, program, key, label=label, code=candidate, domain=domain, content=content, data=data)
        # Nothing inserted when a unique constraint (code or person+key) already holds the spot.
        if insert_or_ignore(conn, shareables, _row(link)):
            return link, True
        # Lost a race for this person+key (the same request twice at once): that link is the answer.
        existing = by_person_and_key(conn, person.id, key)
        if existing is not None:
            return _existing_for_key(existing, code), False
    if code is not None:
        raise ApiError("code_taken", code=code, code_suggestions=free_suggestions(conn, code))
    raise RuntimeError("no free share-link code after bounded retries")


def create(conn: Connection, person_id: int, request: CreateRequest, *, require_email: bool) -> tuple[Shareable, bool]:
    person = persons.require(conn, person_id)
    if require_email and not person.email:
        raise ApiError("person_not_rewardable", person_id=str(person.id))
    program = programs.cache.get(conn, request.label)
    if program is None:
        raise ApiError("invalid_program", label=request.label)
    domain = programs.choose_domain(program, request.program_url)
    return get_or_create(
        conn,
        person=person,
        program=program,
        key=request.key,
        label=request.label,
        code=request.code,
        domain=domain,
        content=request.content,
        data=request.data,
    )


CreateItem = tuple[int, CreateRequest, bool]  # person_id, request, require_email


def create_alone(conn: Connection, item: CreateItem) -> tuple[Shareable, bool]:
    person_id, request, require_email = item
    return create(conn, person_id, request, require_email=require_email)


def create_together(conn: Connection, items: list[CreateItem]) -> list[tuple[Shareable, bool] | Passed]:
    """`create` for requests that arrived together: one read and one insert for all of them.

    Handled here: a new link with a generated random code for a person who exists (with an email
    when one is required) and has no link for that key yet. Everything else (a custom code, a
    name-style program, an existing link, an error to report, a lost race) is passed to `create`.
    """
    outcomes: list[tuple[Shareable, bool] | Passed] = [PASSED] * len(items)
    found = _persons_and_keys(conn, {person_id for person_id, _, _ in items})
    made: dict[int, int] = {}  # link id -> index of its item
    links: list[Shareable] = []
    for index, (person_id, request, require_email) in enumerate(items):
        program = programs.cache.get(conn, request.label)
        if request.code is not None or program is None or program.code_style != "random" or person_id not in found:
            continue
        email, keys = found[person_id]
        key = request.key or program.label
        if (require_email and not email) or key in keys:
            continue
        try:
            domain = programs.choose_domain(program, request.program_url)
        except ApiError:
            continue
        link = unsaved(person_id, program, key, label=request.label, domain=domain, content=request.content,
                       data=request.data)  # fmt: skip
        links.append(link)
        made[link.id] = index
    for link in insert_many(conn, links):
        outcomes[made[link.id]] = (link, True)
    return outcomes


def _persons_and_keys(conn: Connection, person_ids: set[int]) -> dict[int, tuple[str | None, set[str]]]:
    """Each existing person's email and the keys of their links."""
    p = persons_table
    rows = conn.execute(
        select(p.c.id, p.c.email, shareables.c.key)
        .select_from(p.outerjoin(shareables, shareables.c.person_id == p.c.id))
        .where(p.c.id.in_(person_ids))
    )
    found: dict[int, tuple[str | None, set[str]]] = {}
    for person_id, email, key in rows:
        keys = found.setdefault(person_id, (email, set()))[1]
        if key is not None:
            keys.add(key)
    return found


# ---- change ---------------------------------------------------------------------------------------


def update_shareable(conn: Connection, person_id: int, code: str, request: UpdateRequest) -> Shareable:
    persons.require(conn, person_id)
    current = require_code(conn, code, person_id)
    values: dict[str, Any] = {"updated_at": clock.now()}
    if request.label is not None and request.label != current.label:
        program = programs.get_by_label(conn, request.label)
        if program is None:
            raise ApiError("invalid_program", label=request.label)
        values["label"] = request.label
        if program.id != current.program_id:
            values["program_id"] = program.id
            values["domain"] = program.primary_domain
    if request.key is not None:
        values["key"] = request.key
    if request.content_given:
        values["content"] = request.content
    if request.data is not None:
        values["data"] = request.data
    try:
        with conn.begin_nested():
            conn.execute(update(shareables).where(shareables.c.id == current.id).values(**values))
    except IntegrityError:
        raise ApiError("shareable_key_taken", code=current.code) from None
    changes.notify(conn, "link", current.code.lower())
    return require_code(conn, code, person_id)


def delete_shareable(conn: Connection, person_id: int, code: str) -> Shareable:
    persons.require(conn, person_id)
    current = require_code(conn, code, person_id)
    conn.execute(delete(shareables).where(shareables.c.id == current.id))
    changes.notify(conn, "link", current.code.lower())
    return current


def change_owner(conn: Connection, person_id: int, code: str, new_person_id: int | None) -> Shareable:
    persons.require(conn, person_id)
    current = require_code(conn, code, person_id)
    new_owner = persons.require(conn, new_person_id, status=400)
    try:
        with conn.begin_nested():
            conn.execute(
                update(shareables)
                .where(shareables.c.id == current.id)
                .values(person_id=new_owner.id, updated_at=clock.now())
            )
    except IntegrityError:
        raise ApiError("shareable_key_taken", code=current.code) from None
    changes.notify(conn, "link", current.code.lower())
    return require_code(conn, code, new_owner.id)
