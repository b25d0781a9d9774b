"""One chunk of a backfill, in one transaction: persons upserted, links created or reused, pushes queued.

Set-based rather than row by row: one multi-row upsert for the persons that returns them, one query
for their existing links, one multi-row insert for the new ones that returns what it made (codes
that collide are drawn again), so a million rows cost hundreds of statements, not millions. The
statements go straight to the driver (db.rows): SQLAlchemy's per-value bind processing was most of
a chunk's time. A row that breaks a rule only
the database can see (its partner_user_id belongs to another person) is redone alone and rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from sharelinks import clock
from sharelinks.backfill.rows import Reject, Row
from sharelinks.db.rows import insert_returning, select_in, timestamp
from sharelinks.ids import new_id
from sharelinks.persons.models import persons
from sharelinks.programs.service import Program, link_for
from sharelinks.shareables import codes
from sharelinks.shareables.models import shareables
from sharelinks.webhooks import payload
from sharelinks.webhooks import service as webhooks

CODE_ATTEMPTS = 5
TAKEN = "partner_user_id_taken: another person already has this partner_user_id"


@dataclass(frozen=True, slots=True)
class Linked:
    person_id: int
    shareable_id: int
    code: str
    domain: str
    created: bool


_PERSON_COLUMNS = ("id", "email", "email_key", "partner_user_id", "first_name", "last_name", "picture_url",
                   "blocked", "data", "version", "created_at", "updated_at")  # fmt: skip
_PERSON_RETURNED = ("id", "email_key", "partner_user_id", "email", "first_name", "last_name", "data")
_LINK_COLUMNS = ("id", "person_id", "program_id", "key", "label", "code", "code_key", "domain", "content", "data",
                 "created_at", "updated_at")  # fmt: skip
_LINK_RETURNED = ("person_id", "id", "code", "domain")


def _upsert(target: str) -> str:
    # The same rules as the single-person path: names filled in, never blanked; a partner_user_id
    # is set once, never replaced.
    return (
        f"ON CONFLICT ({target}) DO UPDATE SET first_name = coalesce(excluded.first_name, persons.first_name), "
        "last_name = coalesce(excluded.last_name, persons.last_name), "
        "partner_user_id = coalesce(persons.partner_user_id, excluded.partner_user_id), "
        "updated_at = excluded.updated_at"
    )


class PersonRow(NamedTuple):
    id: int
    email_key: str | None
    partner_user_id: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    data: str  # JSON text, read only when a webhook needs it


class LinkRow(NamedTuple):
    person_id: int
    id: int
    code: str
    domain: str


def _upsert_persons(conn: Connection, rows: list[Row]) -> tuple[dict[str, PersonRow], set[int]]:
    """Persons for `rows`, created or updated by one multi-row upsert per identity kind: (identity →
    person, the ids of those just created). A person comes back with the id proposed for it only when
    this statement inserted it, and one created inside this transaction can have no link yet."""
    fresh: set[int] = set()
    stamp = timestamp(conn.dialect.name)(clock.now())
    found: dict[str, PersonRow] = {}
    by_email = [r for r in rows if r.email]
    by_puid = [r for r in rows if not r.email]
    for group, target in ((by_email, "email_key"), (by_puid, "partner_user_id")):
        if not group:
            continue
        values = [
            (new_id(), r.email, r.email.lower() if r.email else None, r.partner_user_id, r.first_name, r.last_name,
             None, False, orjson.dumps(r.data).decode(), 1, stamp, stamp)
            for r in group
        ]  # fmt: skip
        proposed = {v[0] for v in values}
        returned = insert_returning(conn, persons, _PERSON_COLUMNS, values, returning=_PERSON_RETURNED,
                                    on_conflict=_upsert(target))  # fmt: skip
        for raw in returned:
            person = PersonRow(*raw)
            found[f"e:{person.email_key}" if target == "email_key" else f"p:{person.partner_user_id}"] = person
            if person.id in proposed:
                fresh.add(person.id)
    return found, fresh


def person_rows(conn: Connection, rows: list[Row]) -> dict[str, PersonRow]:
    """identity → person, for rows already processed."""
    found: dict[str, PersonRow] = {}
    emails = [r.email.lower() for r in rows if r.email]
    puids = [r.partner_user_id for r in rows if not r.email and r.partner_user_id]
    for column, values, prefix in (("email_key", emails, "e:"), ("partner_user_id", puids, "p:")):
        for raw in select_in(conn, persons, _PERSON_RETURNED, "1 = 1", (), column, values):
            person = PersonRow(*raw)
            found[prefix + str(person.email_key if prefix == "e:" else person.partner_user_id)] = person
    return found


def links_of(conn: Connection, person_ids: list[int], key: str) -> dict[int, LinkRow]:
    found = select_in(conn, shareables, _LINK_RETURNED, "key = ?", (key,), "person_id", person_ids)
    return {raw[0]: LinkRow(*raw) for raw in found}


def _insertlinks_of(conn: Connection, program: Program, person_ids: list[int]) -> dict[int, LinkRow]:
    """Links for persons without one (person id → link); a code already taken is drawn again, a bounded
    number of times."""
    stamp = timestamp(conn.dialect.name)(clock.now())
    missing = person_ids
    made: dict[int, LinkRow] = {}
    for _ in range(CODE_ATTEMPTS):
        values = []
        for person_id in missing:
            code = codes.random_code()
            values.append((new_id(), person_id, program.id, program.label, program.label, code, code,
                           program.primary_domain, None, "{}", stamp, stamp))  # fmt: skip
        # Nothing is returned for a row that met a taken code or a link made meanwhile for its person.
        inserted = insert_returning(conn, shareables, _LINK_COLUMNS, values, returning=_LINK_RETURNED,
                                    on_conflict="ON CONFLICT DO NOTHING")  # fmt: skip
        made.update((raw[0], LinkRow(*raw)) for raw in inserted)
        missing = [p for p in missing if p not in made]
        if missing:
            made.update(links_of(conn, missing, program.label))  # made meanwhile by another request
            missing = [p for p in missing if p not in made]
        if not missing:
            return made
    raise RuntimeError("no free share-link codes after bounded retries")


def process(
    conn: Connection, program: Program, rows: list[Row], *, push_webhook_id: int | None, fire_webhooks: bool
) -> tuple[dict[int, Linked], list[Reject]]:
    """Persons and links for `rows`; (row number → link, rows rejected by the database's rules)."""
    rejects: list[Reject] = []
    try:
        with conn.begin_nested():
            people, fresh = _upsert_persons(conn, rows)
    except IntegrityError:
        rows, rejects = _one_by_one(conn, rows)
        people, fresh = person_rows(conn, rows), set()
    ids = [people[r.identity].id for r in rows]
    existing = links_of(conn, [pid for pid in ids if pid not in fresh], program.label)
    new = [pid for pid in ids if pid not in existing]
    links = {**existing, **_insertlinks_of(conn, program, new)} if new else existing
    result: dict[int, Linked] = {}
    for row in rows:
        person = people[row.identity]
        link = links[person.id]
        created = person.id not in existing
        result[row.number] = Linked(person.id, link.id, link.code, link.domain, created)
        if push_webhook_id is not None or (fire_webhooks and created):
            _enqueue(conn, program, person, link, push_webhook_id)
    return result, rejects


def _one_by_one(conn: Connection, rows: list[Row]) -> tuple[list[Row], list[Reject]]:
    kept: list[Row] = []
    rejects: list[Reject] = []
    for row in rows:
        try:
            with conn.begin_nested():
                _upsert_persons(conn, [row])
            kept.append(row)
        except IntegrityError:
            rejects.append(taken(row))
    return kept, rejects


def taken(row: Row) -> Reject:
    """The reject of a row whose partner_user_id belongs to another person."""
    return Reject(row.number, TAKEN, {"email": row.email or "", "partner_user_id": row.partner_user_id or ""})


@dataclass(frozen=True)
class _Person:
    id: int
    email: str | None
    partner_user_id: str | None
    first_name: str | None
    last_name: str | None
    data: dict[str, str]


@dataclass(frozen=True)
class _Link:
    id: int
    code: str
    domain: str
    label: str

    @property
    def link(self) -> str:
        return link_for(self.domain, self.code)


def _enqueue(conn: Connection, program: Program, person: PersonRow, link: LinkRow, push_webhook_id: int | None) -> None:
    who = _Person(person.id, person.email, person.partner_user_id, person.first_name, person.last_name,
                  orjson.loads(person.data) if person.data else {})  # fmt: skip
    shareable = _Link(link.id, link.code, link.domain, program.label)
    event = webhooks.share_link_event(who, shareable, program, cause="backfill", cause_time=None, data={})
    if push_webhook_id is not None:
        values = webhooks.message_values(push_webhook_id, payload.SHARE_LINK_CREATED, event, str(link.id))
        webhooks.insert_message(conn, values)
    else:
        webhooks.enqueue(conn, payload.SHARE_LINK_CREATED, event, program_id=program.id, dedupe_key=str(link.id))
