"""What may react to an event *inside the transaction that records it*.

A reaction gets the open connection and the recorded event. Whatever it writes commits or rolls back
together with the event: this is how "Create Share Link on Event" creates a link and its outbox rows
atomically with the event that caused them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from sharelinks.events.service import RecordedEvent

Reaction = Callable[[Connection, "RecordedEvent"], None]
# The same reaction to many events at once (a group recorded together, each about another person):
# it must leave the database as the reaction to each in turn would.
Together = Callable[[Connection, "list[RecordedEvent]"], None]

_reactions: dict[Reaction, Together | None] = {}


def register(reaction: Reaction, *, together: Together | None = None) -> Reaction:
    _reactions[reaction] = together
    return reaction


def unregister(reaction: Reaction) -> None:
    _reactions.pop(reaction, None)


def run_all(conn: Connection, event: RecordedEvent) -> None:
    for reaction in list(_reactions):
        reaction(conn, event)


def run_all_together(conn: Connection, events: list[RecordedEvent]) -> None:
    """Every reaction to `events`: each reaction's own form for many events where it has one."""
    for reaction, together in list(_reactions.items()):
        if together is not None:
            together(conn, events)
        else:
            for event in events:
                reaction(conn, event)
