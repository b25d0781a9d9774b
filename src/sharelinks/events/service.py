"""Event intake, the one path every event takes (v5, v6, batch, later the backfill).

`record` runs inside one transaction: resolve or create the person, store the event (once per
`conversion_id`), then run the registered reactions on the same connection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import Connection, select

from sharelinks import clock
from sharelinks.db.database import PASSED, Passed
from sharelinks.db.upsert import insert, insert_many_or_ignore, insert_or_ignore
from sharelinks.events import reactions
from sharelinks.events.models import events
from sharelinks.http.body import Fields
from sharelinks.http.dates import parse_iso8601
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id, parse_id
from sharelinks.persons import service as persons
from sharelinks.persons.service import Person

EVENT_NAME_MAX = 255
CONVERSION_ID_MAX = 38


@dataclass(frozen=True)
class EventIntake:
    """A validated event, not yet stored."""

    name: str
    event_time: datetime | None
    data: dict[str, Any]
    email: str | None = None
    partner_user_id: str | None = None
    person_id: int | None = None
    person_id_raw: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    conversion_id: str | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RecordedEvent:
    id: int
    name: str
    person: Person
    person_created: bool
    event_time: datetime
    data: dict[str, Any]
    labels: tuple[str, ...]
    duplicate: bool


def _labels(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else None
    if items is None or not all(isinstance(i, str) for i in items):
        raise ApiError("binding_error", field="labels", expected="string or array of strings")
    return tuple(i.strip() for i in items if i.strip())


def _event_time(raw: str | None, zone: tzinfo) -> datetime | None:
    if raw is None:
        return None
    parsed = parse_iso8601(raw)
    if parsed is None:
        raise ApiError("invalid_event_time_format", event_time=raw[:64])
    # A time without an offset is read in the zone the Time-Zone header names (UTC by default).
    if datetime.fromisoformat(raw.strip()).tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def parse_data(name: str, event_time: datetime | None, raw: Fields) -> EventIntake:
    data = raw.data
    email = raw.string("email")
    email = persons.check_email(email) if email is not None and email.strip() else None
    puid = raw.string_or_number("partner_user_id")
    person_id_raw = raw.string_or_number("person_id")
    person_id = parse_id(person_id_raw) if person_id_raw else None
    if person_id_raw and person_id is None:
        raise ApiError("person_not_found", status=400, person_id=person_id_raw[:40])
    first = raw.string("first_name")
    last = raw.string("last_name")
    conversion_id = raw.string_or_number("conversion_id")
    if conversion_id is not None and len(conversion_id) > CONVERSION_ID_MAX:
        raise ApiError("conversion_id_invalid_length", conversion_id=conversion_id[:64])
    return EventIntake(
        name=name,
        event_time=event_time,
        data=data,
        email=email,
        partner_user_id=persons.check_partner_user_id(puid) if puid else None,
        person_id=person_id,
        person_id_raw=person_id_raw,
        first_name=persons.check_name(first, "first_name") if first else None,
        last_name=persons.check_name(last, "last_name") if last else None,
        conversion_id=conversion_id or None,
        labels=_labels(data.get("labels")),
    )


def check_name(name: str | None) -> str:
    if name is None or not name.strip():
        raise ApiError("missing_event_name")
    name = name.strip()
    if len(name) > EVENT_NAME_MAX or any(ord(c) < 32 for c in name):
        raise ApiError("invalid_event_name", event_name=name[:EVENT_NAME_MAX])
    return name


def parse_request(body: Fields, zone: tzinfo) -> EventIntake:
    """`{event_name, event_time?, data{}}` (POST /v5/events, /v6/events, each batch item)."""
    body.only({"event_name", "event_time", "data"})
    name = check_name(body.string("event_name"))
    event_time = _event_time(body.string("event_time"), zone)
    return parse_data(name, event_time, body.obj("data") or Fields({}))


def parse_named(name: str, body: Fields, zone: tzinfo) -> EventIntake:
    """`POST …/events/{event_name}` where the body is the data (it may carry `event_time`)."""
    data = dict(body.data)
    raw_time = data.pop("event_time", None)
    if raw_time is not None and not isinstance(raw_time, str):
        raise ApiError("invalid_event_time_format", event_time=str(raw_time)[:64])
    return parse_data(check_name(name), _event_time(raw_time, zone), Fields(data))


def record(conn: Connection, intake: EventIntake) -> RecordedEvent:
    person, created = persons.resolve_for_event(
        conn,
        person_id=intake.person_id,
        email=intake.email,
        partner_user_id=intake.partner_user_id,
        first_name=intake.first_name,
        last_name=intake.last_name,
    )
    now = clock.now()
    event_time = intake.event_time or now
    event_id = new_id()
    values = {
        "id": event_id,
        "name": intake.name,
        "person_id": person.id,
        "event_time": event_time,
        "received_at": now,
        "conversion_id": intake.conversion_id,
        "data": intake.data,
    }
    if intake.conversion_id is None:
        insert(conn, events, values)
    elif not insert_or_ignore(conn, events, values):
        existing = conn.execute(
            select(events.c.id, events.c.person_id, events.c.event_time).where(
                events.c.name == intake.name, events.c.conversion_id == intake.conversion_id
            )
        ).one()
        first_person = persons.get(conn, existing.person_id) or person
        return RecordedEvent(
            existing.id,
            intake.name,
            first_person,
            False,
            existing.event_time,
            intake.data,
            intake.labels,
            True,
        )
    event = RecordedEvent(event_id, intake.name, person, created, event_time, intake.data, intake.labels, False)
    reactions.run_all(conn, event)
    return event


def record_together(conn: Connection, intakes: list[EventIntake]) -> list[RecordedEvent | Passed]:
    """`record` for events that arrived together: their new persons in one statement, the events in
    another, then their reactions (`reactions.run_all_together`).

    Handled here: an event naming an email nobody has yet, recorded for the first time. Anything
    else (a known person, a person_id, no email, a repeated conversion_id) is passed to `record`;
    for a repeated conversion_id the person created here stays, as `record` would have created it.
    """
    outcomes: list[RecordedEvent | Passed] = [PASSED] * len(intakes)
    lane = [i for i, intake in enumerate(intakes) if intake.person_id is None and intake.email is not None]
    identities = [(x.email, x.partner_user_id, x.first_name, x.last_name) for x in (intakes[i] for i in lane)]
    created = persons.create_for_events(conn, identities)  # type: ignore[arg-type]
    now = clock.now()
    rows: dict[int, dict[str, Any]] = {}
    for index, person in zip(lane, created, strict=True):
        if person is not None:
            intake = intakes[index]
            rows[index] = {"id": new_id(), "name": intake.name, "person_id": person.id,
                           "event_time": intake.event_time or now, "received_at": now,
                           "conversion_id": intake.conversion_id, "data": intake.data}  # fmt: skip
            outcomes[index] = RecordedEvent(rows[index]["id"], intake.name, person, True, rows[index]["event_time"],
                                            intake.data, intake.labels, False)  # fmt: skip
    inserted = insert_many_or_ignore(conn, events, list(rows.values()))
    for index, row in rows.items():
        if row["id"] not in inserted:
            outcomes[index] = PASSED
    reactions.run_all_together(conn, [outcome for outcome in outcomes if isinstance(outcome, RecordedEvent)])
    return outcomes


def record_many(conn: Connection, intakes: list[EventIntake | ApiError]) -> list[RecordedEvent | ApiError]:
    """A batch in one transaction, each item in its own savepoint so one failure spoils no other."""
    results: list[RecordedEvent | ApiError] = []
    for item in intakes:
        if isinstance(item, ApiError):
            results.append(item)
            continue
        try:
            with conn.begin_nested():
                results.append(record(conn, item))
        except ApiError as error:
            results.append(error)
    return results
