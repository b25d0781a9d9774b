"""The send-time pull: a person's link by email or partner_user_id, created on first ask.

For backends that build an email at send time, Braze Connected Content and Iterable data feeds: they
may ask several times per recipient, so answers are cached in-process (a link never changes once
made; a deleted link drops its entry through the change feed) and safe to repeat.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from sharelinks.db import changes
from sharelinks.http.errors import ApiError
from sharelinks.persons import service as persons
from sharelinks.programs import service as programs
from sharelinks.shareables import service as shareables

TTL = 300.0
MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class Pulled:
    email: str | None
    partner_user_id: str | None
    person_id: int
    program_label: str
    code: str
    share_link: str

    def as_json(self) -> dict[str, Any]:
        return {"email": self.email, "partner_user_id": self.partner_user_id, "person_id": str(self.person_id),
                "program_label": self.program_label, "code": self.code, "share_link": self.share_link}  # fmt: skip


def _program(conn: Connection, label: str | None) -> programs.Program:
    if label:
        return programs.require_by_label(conn, label)
    found = programs.list_programs(conn)
    if len(found) != 1:
        raise ApiError("label_is_missing", message="Name the program (program=…): there is more than one.")
    return found[0]


def pull(conn: Connection, email: str | None, partner_user_id: str | None, program_label: str | None) -> Pulled:
    if not email and not partner_user_id:
        raise ApiError("missing_identity", message="Give email or partner_user_id.")
    program = _program(conn, program_label)
    person, _ = persons.resolve_for_event(
        conn,
        person_id=None,
        email=persons.check_email(email) if email else None,
        partner_user_id=persons.check_partner_user_id(partner_user_id) if partner_user_id else None,
        first_name=None,
        last_name=None,
    )
    link, _ = shareables.get_or_create(conn, person=person, program=program)
    return Pulled(person.email, person.partner_user_id, person.id, program.label, link.code, link.link)


class PullCache:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str, str], tuple[Pulled, float]] = {}
        changes.listen(self._changed)

    def _changed(self, topic: str, subject: str) -> None:
        if topic in ("programs", "link"):
            self._entries.clear()

    def get(self, key: tuple[str, str, str]) -> Pulled | None:
        entry = self._entries.get(key)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def put(self, key: tuple[str, str, str], value: Pulled) -> None:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (value, time.monotonic() + TTL)
