"""One chunk of a backfill, in one transaction: persons upserted, links created or reused, pushes queued.

Set-based rather than row by row: one multi-row upsert for the persons, one query for their ids,
one for their existing links, one multi-row insert for the new ones (codes that collide are drawn
again), so a million rows cost thousands of statements, not millions. A row that breaks a rule only
the database can see (its partner_user_id belongs to another person) is redone alone and rejected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from sharelinks import clock
from sharelinks.backfill.rows import Reject, Row
from sharelinks.ids import new_id
from sharelinks.persons.models import persons
from sharelinks.programs.service import Program
from sharelinks.shareables import codes
from sharelinks.shareables.models import shareables
from sharelinks.webhooks import payload
from sharelinks.webhooks import service as webhooks

CODE_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Linked:
    person_id: int
    shareable_id: int
    code: str
    domain: str
    created: bool


def _insert(conn: Connection) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(persons)


def _upsert_persons(conn: Connection, rows: list[Row]) -> None:
    now = clock.now()
    by_email = [r for r in rows if r.email]
    by_puid = [r for r in rows if not r.email]
    for group, target in ((by_email, persons.c.email_key), (by_puid, persons.c.partner_user_id)):
        if not group:
            continue
        statement = _insert(conn)
        excluded = statement.excluded
        statement = statement.on_conflict_do_update(
            index_elements=[target],
            set_={
                "first_name": _coalesce(excluded.first_name, persons.c.first_name),
                "last_name": _coalesce(excluded.last_name, persons.c.last_name),
                "partner_user_id": _coalesce(persons.c.partner_user_id, excluded.partner_user_id),
                "updated_at": excluded.updated_at,
            },
        )
        conn.execute(statement, [_person_values(r, now) for r in group])


def _coalesce(first: Any, second: Any) -> Any:
    return func.coalesce(first, second)


def _person_values(row: Row, now: Any) -> dict[str, Any]:
    return {
        "id": new_id(),
        "email": row.email,
        "email_key": row.email.lower() if row.email else None,
        "partner_user_id": row.partner_user_id,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "picture_url": None,
        "blocked": False,
        "data": row.data,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def person_rows(conn: Connection, rows: list[Row]) -> dict[str, Any]:
    """identity → person row (id, email, partner_user_id, first/last name, data)."""
    found: dict[str, Any] = {}
    emails = [r.email.lower() for r in rows if r.email]
    puids = [r.partner_user_id for r in rows if not r.email and r.partner_user_id]
    columns = (persons.c.id, persons.c.email_key, persons.c.partner_user_id, persons.c.email, persons.c.first_name,
               persons.c.last_name, persons.c.data)  # fmt: skip
    if emails:
        for row in conn.execute(select(*columns).where(persons.c.email_key.in_(emails))):
            found[f"e:{row.email_key}"] = row
    if puids:
        for row in conn.execute(select(*columns).where(persons.c.partner_user_id.in_(puids))):
            found[f"p:{row.partner_user_id}"] = row
    return found


def links_of(conn: Connection, person_ids: list[int], key: str) -> dict[int, Any]:
    query = select(shareables.c.person_id, shareables.c.id, shareables.c.code, shareables.c.domain).where(
        shareables.c.key == key, shareables.c.person_id.in_(person_ids)
    )
    return {row.person_id: row for row in conn.execute(query)}


def _insertlinks_of(conn: Connection, program: Program, person_ids: list[int]) -> dict[int, Any]:
    """Links for persons without one (person id → link); a code already taken is drawn again, a bounded
    number of times."""
    now = clock.now()
    statement = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(shareables)
    statement = statement.on_conflict_do_nothing()
    missing = person_ids
    made: dict[int, Any] = {}
    for _ in range(CODE_ATTEMPTS):
        values = []
        for person_id in missing:
            code = codes.random_code()
            values.append({"id": new_id(), "person_id": person_id, "program_id": program.id, "key": program.label,
                           "label": program.label, "code": code, "code_key": code, "domain": program.primary_domain,
                           "content": None, "data": {}, "created_at": now, "updated_at": now})  # fmt: skip
        conn.execute(statement, values)
        have = links_of(conn, missing, program.label)
        made.update(have)
        missing = [p for p in missing if p not in have]
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
            _upsert_persons(conn, rows)
    except IntegrityError:
        rows, rejects = _one_by_one(conn, rows)
    people = person_rows(conn, rows)
    ids = [people[r.identity].id for r in rows]
    existing = links_of(conn, ids, program.label)
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
            reason = "partner_user_id_taken: another person already has this partner_user_id"
            rejects.append(
                Reject(row.number, reason, {"email": row.email or "", "partner_user_id": row.partner_user_id or ""})
            )
    return kept, rejects


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
        return f"https://{self.domain}/{self.code}"


def _enqueue(conn: Connection, program: Program, person: Any, link: Any, push_webhook_id: int | None) -> None:
    who = _Person(person.id, person.email, person.partner_user_id, person.first_name, person.last_name,
                  person.data or {})  # fmt: skip
    shareable = _Link(link.id, link.code, link.domain, program.label)
    event = webhooks.share_link_event(who, shareable, program, cause="backfill", cause_time=None, data={})
    if push_webhook_id is not None:
        values = webhooks.message_values(push_webhook_id, payload.SHARE_LINK_CREATED, event, str(link.id))
        webhooks.insert_message(conn, values)
    else:
        webhooks.enqueue(conn, payload.SHARE_LINK_CREATED, event, program_id=program.id, dedupe_key=str(link.id))
