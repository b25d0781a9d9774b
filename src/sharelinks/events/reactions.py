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

_reactions: list[Reaction] = []


def register(reaction: Reaction) -> Reaction:
    if reaction not in _reactions:
        _reactions.append(reaction)
    return reaction


def unregister(reaction: Reaction) -> None:
    if reaction in _reactions:
        _reactions.remove(reaction)


def run_all(conn: Connection, event: RecordedEvent) -> None:
    for reaction in list(_reactions):
        reaction(conn, event)
