"""Change notifications: tell caches in this process, and on PostgreSQL in every process, that
configuration they hold has changed.

`notify` is called inside the transaction that makes the change. Local listeners run at once (a
cache cleared a moment early only reloads); PostgreSQL delivers the NOTIFY to other processes only
when the transaction commits, and they reload then. Caches keep a TTL as a backstop for a missed
notification.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

CHANNEL = "sharelinks_changes"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")

Listener = Callable[[str, str], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def unlisten(listener: Listener) -> None:
    if listener in _listeners:
        _listeners.remove(listener)


def deliver(message: str) -> None:
    """Hand a `topic:subject` message (from NOTIFY or local) to every listener."""
    topic, _, subject = message.partition(":")
    for listener in list(_listeners):
        listener(topic, subject)


def notify(conn: Connection, topic: str, subject: str = "") -> None:
    message = f"{topic}:{subject}"
    if conn.dialect.name == "postgresql":
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": message})
    deliver(message)
