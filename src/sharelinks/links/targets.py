"""Where a code leads: an in-process cache in front of two small queries.

A warm code costs one dict lookup. Program domains are held as one dict (host → program), reloaded
when any program changes. Codes are cached on first use, negative answers briefly; a change to a
link or a program (this process at once, others through PostgreSQL NOTIFY) drops what it affects,
and a TTL bounds what a missed notification can leave stale.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from itertools import islice

from sqlalchemy import Connection, bindparam, select

from sharelinks.db import changes
from sharelinks.db.database import Database
from sharelinks.programs.models import program_domains, programs
from sharelinks.programs.service import link_for
from sharelinks.shareables.models import shareables

POSITIVE_TTL = 300.0
NEGATIVE_TTL = 5.0
# A Host that names no program reloads the domains, at most this often: on SQLite no notification
# comes from another process (`sharelinks program create` beside a running server).
UNKNOWN_HOST_RELOAD = 1.0
MAX_CODES = 200_000


@dataclass(frozen=True, slots=True)
class ProgramTarget:
    id: int
    destination_url: str
    fallback_url: str | None
    advocate_param: str


@dataclass(frozen=True, slots=True)
class LinkTarget:
    shareable_id: int
    code: str
    domain: str
    person_id: int
    program: ProgramTarget

    @property
    def link(self) -> str:
        return link_for(self.domain, self.code)


_PROGRAM_COLUMNS = (programs.c.id, programs.c.destination_url, programs.c.fallback_url, programs.c.advocate_param)
_DOMAINS = select(program_domains.c.domain, *_PROGRAM_COLUMNS).join(programs)
_BY_CODE = (
    select(shareables.c.id, shareables.c.code, shareables.c.domain, shareables.c.person_id, *_PROGRAM_COLUMNS)
    .join(programs, programs.c.id == shareables.c.program_id)
    .where(shareables.c.code_key == bindparam("code_key"))
)


def load_domains(conn: Connection) -> dict[str, ProgramTarget]:
    return {row[0]: ProgramTarget(*row[1:]) for row in conn.execute(_DOMAINS)}


def load_code(conn: Connection, code_key: str) -> LinkTarget | None:
    row = conn.execute(_BY_CODE, {"code_key": code_key}).first()
    if row is None:
        return None
    return LinkTarget(row[0], row[1], row[2], row[3], ProgramTarget(*row[4:]))


class Targets:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.domains: dict[str, ProgramTarget] = {}
        self._domains_loaded_at = -1e9
        self._codes: dict[str, tuple[LinkTarget | None, float]] = {}
        # Bumped whenever a cached target or the domains may have changed: answers built from them
        # elsewhere (LinkHandler's warm answers) are void from then on.
        self.generation = 0
        changes.listen(self._changed)

    def close(self) -> None:
        changes.unlisten(self._changed)

    def _changed(self, topic: str, subject: str) -> None:
        if topic == "programs":
            self._domains_loaded_at = -1e9
            self._codes.clear()
            self.generation += 1
        elif topic == "link":
            self._codes.pop(subject, None)
            self.generation += 1

    def __len__(self) -> int:
        return len(self._codes)

    def domains_fresh(self) -> bool:
        return time.monotonic() - self._domains_loaded_at <= POSITIVE_TTL

    def unknown_host(self) -> None:
        """A request named a host no program has: reload the domains soon, in case one does now."""
        if time.monotonic() - self._domains_loaded_at > UNKNOWN_HOST_RELOAD:
            self._domains_loaded_at = -1e9

    async def refresh_domains(self) -> dict[str, ProgramTarget]:
        if not self.domains_fresh():
            self._domains_loaded_at = time.monotonic()
            self.domains = await self.db.run(load_domains)
            self.generation += 1
        return self.domains

    def cached(self, code_key: str) -> tuple[LinkTarget | None, bool]:
        """(target, known): `known` is False when the database must be asked."""
        entry = self._codes.get(code_key)
        if entry is None or entry[1] < time.monotonic():
            return None, False
        return entry[0], True

    async def resolve(self, code_key: str) -> LinkTarget | None:
        target, known = self.cached(code_key)
        if known:
            return target
        target = await self.db.run(load_code, code_key)
        if len(self._codes) >= MAX_CODES:
            for stale in list(islice(self._codes, MAX_CODES // 10)):  # the oldest tenth
                del self._codes[stale]
        ttl = POSITIVE_TTL if target is not None else NEGATIVE_TTL
        self._codes[code_key] = (target, time.monotonic() + ttl)
        return target
