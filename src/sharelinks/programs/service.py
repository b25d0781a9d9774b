"""Program rules: validation, creation, lookup by label, and choosing a domain for a link."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from sharelinks import clock
from sharelinks.db import changes as change_feed
from sharelinks.db.upsert import insert_or_ignore
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.programs.models import program_domains, programs
from sharelinks.validation import LABEL_MAX, LABEL_MIN, LABEL_RE, is_http_url, normalize_host

CODE_STYLES = ("random", "name")
DEFAULT_ADVOCATE_PARAM = "advocate_code"
PARAM_RE = re.compile(r"^[A-Za-z0-9_.-]{1,50}$")


@dataclass(frozen=True)
class Program:
    id: int
    label: str
    domains: tuple[str, ...]
    destination_url: str
    fallback_url: str | None
    code_style: str
    advocate_param: str
    created_at: datetime
    updated_at: datetime

    @property
    def primary_domain(self) -> str:
        return self.domains[0]


@dataclass(frozen=True)
class ProgramChanges:
    label: str | None = None
    domains: tuple[str, ...] | None = None
    destination_url: str | None = None
    fallback_url: str | None = None
    clear_fallback: bool = False
    code_style: str | None = None
    advocate_param: str | None = None


def check_label(label: str) -> str:
    if not LABEL_MIN <= len(label) <= LABEL_MAX:
        raise ApiError("label_name_length_out_of_range", name=label, min_length=LABEL_MIN, max_length=LABEL_MAX)
    if not LABEL_RE.match(label):
        raise ApiError("label_name_contains_illegal_character", label=label)
    return label


def _check_url(name: str, value: str) -> str:
    if not is_http_url(value):
        raise ApiError("invalid_url", name=name, url=value[:2048])
    return value


def _check_domains(values: list[Any]) -> tuple[str, ...]:
    if not values:
        raise ApiError("invalid_program_domain", message="A program needs at least one domain.")
    domains: list[str] = []
    for value in values:
        host = normalize_host(value) if isinstance(value, str) else None
        if host is None:
            raise ApiError("invalid_program_domain", domain=str(value)[:260])
        if host not in domains:
            domains.append(host)
    return tuple(domains)


def parse_changes(body: Fields, *, creating: bool) -> ProgramChanges:
    body.only({"label", "domains", "destination_url", "fallback_url", "code_style", "advocate_param"})
    label = body.string("label")
    if creating and not label:
        raise ApiError("label_is_missing")
    domains = body.array("domains")
    if creating and domains is None:
        raise ApiError("invalid_program_domain", message="A program needs at least one domain.")
    destination = body.string("destination_url")
    if creating and destination is None:
        raise ApiError("invalid_url", name="destination_url", message="destination_url is required.")
    fallback = body.string("fallback_url")
    style = body.string("code_style")
    if style is not None and style not in CODE_STYLES:
        raise ApiError("invalid_code_style", code_style=style[:20])
    param = body.string("advocate_param")
    if param is not None and not PARAM_RE.match(param):
        raise ApiError("invalid_advocate_param", advocate_param=param[:60])
    return ProgramChanges(
        label=check_label(label) if label is not None else None,
        domains=_check_domains(domains) if domains is not None else None,
        destination_url=_check_url("destination_url", destination) if destination is not None else None,
        fallback_url=_check_url("fallback_url", fallback) if fallback else None,
        clear_fallback=body.has("fallback_url") and not fallback,
        code_style=style,
        advocate_param=param,
    )


_DOMAINS_OF = (
    select(program_domains.c.domain)
    .where(program_domains.c.program_id == bindparam("program_id"))
    .order_by(program_domains.c.position)
)
_BY_LABEL = select(programs).where(programs.c.label == bindparam("label"))


def _load(conn: Connection, row: Any) -> Program:
    domains = conn.execute(_DOMAINS_OF, {"program_id": row.id}).scalars()
    return Program(
        id=row.id,
        label=row.label,
        domains=tuple(domains),
        destination_url=row.destination_url,
        fallback_url=row.fallback_url,
        code_style=row.code_style,
        advocate_param=row.advocate_param,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def get_by_label(conn: Connection, label: str) -> Program | None:
    row = conn.execute(_BY_LABEL, {"label": label}).first()
    return None if row is None else _load(conn, row)


def get_by_id(conn: Connection, program_id: int) -> Program | None:
    row = conn.execute(select(programs).where(programs.c.id == program_id)).first()
    return None if row is None else _load(conn, row)


def require_by_label(conn: Connection, label: str) -> Program:
    program = get_by_label(conn, label)
    if program is None:
        raise ApiError("program_not_found", label=label)
    return program


def list_programs(conn: Connection) -> list[Program]:
    rows = conn.execute(select(programs).order_by(programs.c.label)).all()
    return [_load(conn, r) for r in rows]


def _claim_domains(conn: Connection, program_id: int, domains: tuple[str, ...]) -> None:
    conn.execute(delete(program_domains).where(program_domains.c.program_id == program_id))
    for position, domain in enumerate(domains):
        if not insert_or_ignore(
            conn, program_domains, {"domain": domain, "program_id": program_id, "position": position}
        ):
            raise ApiError("program_domain_taken", domain=domain)


def create(conn: Connection, changes: ProgramChanges) -> Program:
    assert changes.label and changes.domains and changes.destination_url
    now = clock.now()
    program_id = new_id()
    inserted = insert_or_ignore(
        conn,
        programs,
        {
            "id": program_id,
            "label": changes.label,
            "destination_url": changes.destination_url,
            "fallback_url": changes.fallback_url,
            "code_style": changes.code_style or "random",
            "advocate_param": changes.advocate_param or DEFAULT_ADVOCATE_PARAM,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
        raise ApiError("program_label_taken", label=changes.label)
    _claim_domains(conn, program_id, changes.domains)
    cache.clear()
    change_feed.notify(conn, "programs")
    program = get_by_id(conn, program_id)
    assert program is not None
    return program


def update_program(conn: Connection, label: str, changes: ProgramChanges) -> Program:
    program = require_by_label(conn, label)
    new_label = changes.label if changes.label != program.label else None
    if new_label is not None and get_by_label(conn, new_label) is not None:
        raise ApiError("program_label_taken", label=changes.label)
    values: dict[str, Any] = {"updated_at": clock.now()}
    if changes.label is not None:
        values["label"] = changes.label
    if changes.destination_url is not None:
        values["destination_url"] = changes.destination_url
    if changes.fallback_url is not None or changes.clear_fallback:
        values["fallback_url"] = changes.fallback_url
    if changes.code_style is not None:
        values["code_style"] = changes.code_style
    if changes.advocate_param is not None:
        values["advocate_param"] = changes.advocate_param
    conn.execute(update(programs).where(programs.c.id == program.id).values(**values))
    if changes.domains is not None:
        _claim_domains(conn, program.id, changes.domains)
    cache.clear()
    change_feed.notify(conn, "programs")
    updated = get_by_id(conn, program.id)
    assert updated is not None
    return updated


def choose_domain(program: Program, program_url: str | None) -> str:
    """The domain a new link lives on: the one `program_url` names (it must be the program's), else primary."""
    if program_url is None:
        return program.primary_domain
    host = normalize_host(program_url)
    if host is None or host not in program.domains:
        raise ApiError("unknown_program", program_url=program_url[:2048])
    return host


def link_for(domain: str, code: str) -> str:
    return f"https://{domain}/{code}"


class ProgramCache:
    """Programs by label, for the request path: they change rarely and are read on every link create.

    Entries live `ttl` seconds. A change made through this process clears the cache at once; other
    processes see it within `ttl`.
    """

    def __init__(self, ttl: float = 2.0) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[Program | None, float]] = {}

    def get(self, conn: Connection, label: str) -> Program | None:
        now = time.monotonic()
        entry = self._entries.get(label)
        if entry is not None and now - entry[1] <= self.ttl:
            return entry[0]
        program = get_by_label(conn, label)
        if len(self._entries) > 1000:
            self._entries.clear()
        self._entries[label] = (program, now)
        return program

    def clear(self) -> None:
        self._entries.clear()


# One per process: every request path reads through it, every change made here clears it.
cache = ProgramCache()
