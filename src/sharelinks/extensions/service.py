"""Extensions, and the reaction that makes "Create Share Link on Event" happen.

`on_event` runs inside the transaction that records an event (events.reactions): the link and its
`share_link_created` outbox messages commit or roll back together with the event.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from sharelinks import clock
from sharelinks.cache import TtlCache
from sharelinks.db.lookup import require_by_id
from sharelinks.events.service import RecordedEvent, check_name
from sharelinks.extensions.models import extensions
from sharelinks.http.body import Fields
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id
from sharelinks.observability.metrics import LINKS_CREATED
from sharelinks.programs import service as programs
from sharelinks.programs.models import programs as programs_table
from sharelinks.programs.service import Program
from sharelinks.shareables import service as shareables
from sharelinks.shareables.service import Shareable
from sharelinks.webhooks import service as webhooks

CREATE_SHARE_LINK_ON_EVENT = "CREATE_SHARE_LINK_ON_EVENT"
TYPES = (CREATE_SHARE_LINK_ON_EVENT,)
DEFAULT_TRIGGERS = ("converted",)
MAX_TRIGGERS = 50


@dataclass(frozen=True)
class Extension:
    id: int
    type: str
    program_id: int
    program_label: str
    trigger_events: list[str]
    key: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime


_SELECT = select(extensions, programs_table.c.label.label("program_label")).join(programs_table)


def _to_extension(row: Any) -> Extension:
    return Extension(**{f: getattr(row, f) for f in Extension.__dataclass_fields__})


def parse_changes(conn: Connection, body: Fields, *, creating: bool) -> dict[str, Any]:
    body.only({"type", "program_label", "trigger_events", "key", "enabled"})
    values: dict[str, Any] = {}
    kind = body.string("type")
    if kind is not None or creating:
        if (kind or "").upper() not in TYPES:
            raise ApiError("invalid_extension_type", type=str(kind)[:60], allowed=list(TYPES))
        values["type"] = (kind or "").upper()
    label = body.string("program_label")
    if label is not None or creating:
        if not label:
            raise ApiError("label_is_missing", message="program_label is required.")
        values["program_id"] = programs.require_by_label(conn, label).id
    triggers = body.array("trigger_events")
    if triggers is not None:
        if not 1 <= len(triggers) <= MAX_TRIGGERS or not all(isinstance(t, str) for t in triggers):
            raise ApiError("invalid_trigger_events", message=f"trigger_events holds 1 to {MAX_TRIGGERS} event names.")
        values["trigger_events"] = list(dict.fromkeys(check_name(t) for t in triggers))
    elif creating:
        values["trigger_events"] = list(DEFAULT_TRIGGERS)
    if body.has("key"):
        key = body.string("key")
        if key is not None and not 1 <= len(key) <= 255:
            raise ApiError("invalid_parameter", message="key must be 1 to 255 characters.")
        values["key"] = key or None
    enabled = body.boolean("enabled")
    if enabled is not None:
        values["enabled"] = enabled
    return values


def create(conn: Connection, values: dict[str, Any]) -> Extension:
    now = clock.now()
    row = {"id": new_id(), "key": None, "enabled": True, **values, "created_at": now, "updated_at": now}
    conn.execute(extensions.insert(), row)
    active.clear()
    return require(conn, str(row["id"]))


def create_from(conn: Connection, body: Fields) -> Extension:
    return create(conn, parse_changes(conn, body, creating=True))


def update_from(conn: Connection, raw_id: str, body: Fields) -> Extension:
    require(conn, raw_id)
    return update_extension(conn, raw_id, parse_changes(conn, body, creating=False))


def get(conn: Connection, extension_id: int) -> Extension | None:
    row = conn.execute(_SELECT.where(extensions.c.id == extension_id)).first()
    return None if row is None else _to_extension(row)


def require(conn: Connection, raw_id: str) -> Extension:
    return require_by_id(conn, raw_id, get, "extension_not_found", "extension_id")


def list_extensions(conn: Connection) -> list[Extension]:
    return [_to_extension(r) for r in conn.execute(_SELECT.order_by(extensions.c.created_at))]


def update_extension(conn: Connection, raw_id: str, values: dict[str, Any]) -> Extension:
    found = require(conn, raw_id)
    conn.execute(update(extensions).where(extensions.c.id == found.id).values(**values, updated_at=clock.now()))
    active.clear()
    return require(conn, raw_id)


def delete_extension(conn: Connection, raw_id: str) -> Extension:
    found = require(conn, raw_id)
    conn.execute(delete(extensions).where(extensions.c.id == found.id))
    active.clear()
    return found


# Enabled extensions by trigger event name, read on every event.
active = TtlCache[dict[str, list[Extension]]](ttl=2.0)


def _by_trigger(conn: Connection) -> dict[str, list[Extension]]:
    found: dict[str, list[Extension]] = {}
    for extension in list_extensions(conn):
        if extension.enabled:
            for name in extension.trigger_events:
                found.setdefault(name, []).append(extension)
    return found


def _work(conn: Connection, event: RecordedEvent) -> Iterator[tuple[Extension, Program]]:
    """The extensions `event` triggers, with their programs."""
    for extension in active.get(conn, "by_trigger", _by_trigger).get(event.name, ()):
        program = programs.cache.get(conn, extension.program_label)
        if program is not None and not (event.labels and program.label not in event.labels):
            yield extension, program


def on_event(conn: Connection, event: RecordedEvent) -> None:
    """Create Share Link on Event: the person's link for the program, and its webhooks when new."""
    for extension, program in _work(conn, event):
        _link_alone(conn, event, extension, program)


def on_events(conn: Connection, events: list[RecordedEvent]) -> None:
    """`on_event` for events about different persons: the links of persons created by these very
    events (who have none yet) in one insert, their webhook messages in another; the rest alone."""
    fresh: list[tuple[RecordedEvent, Extension, Program, Shareable]] = []
    alone: list[tuple[RecordedEvent, Extension, Program]] = []
    for event in events:
        for extension, program in _work(conn, event):
            if event.person_created and program.code_style == "random":
                link = shareables.unsaved(event.person.id, program, extension.key or program.label)
                fresh.append((event, extension, program, link))
            else:
                alone.append((event, extension, program))
    created = {link.id for link in shareables.insert_many(conn, [link for *_, link in fresh])}
    LINKS_CREATED.labels("extension").inc(len(created))
    webhooks.enqueue_share_links_created(
        conn, [(event, link, program) for event, _, program, link in fresh if link.id in created]
    )
    # Links left out (the same key twice, a code taken) go the one-event way too: an existing link
    # is found and nothing more is sent, or another code is drawn.
    alone += [(event, extension, program) for event, extension, program, link in fresh if link.id not in created]
    for event, extension, program in alone:
        _link_alone(conn, event, extension, program)


def _link_alone(conn: Connection, event: RecordedEvent, extension: Extension, program: Program) -> None:
    shareable, created = shareables.get_or_create(conn, person=event.person, program=program, key=extension.key)
    if created:
        LINKS_CREATED.labels("extension").inc()
        webhooks.enqueue_share_link_created(
            conn, event.person, shareable, program, cause=event.name, cause_time=event.event_time, data=event.data
        )
