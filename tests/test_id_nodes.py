"""Ordered IDs in the database: each Database claims its own node, and its rows' keys carry it."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Connection, select

from sharelinks.db.database import Database
from sharelinks.db.migrate import upgrade
from sharelinks.ids import DRAW_BITS, NODE_BITS, new_id
from sharelinks.persons import service as persons
from sharelinks.persons.models import persons as persons_table
from tests.helpers import ordered_id_parts


def _node_of(value: int) -> int:
    return ordered_id_parts(value)[1]


def _make_ids(conn: Connection) -> list[int]:
    return [new_id() for _ in range(50)]


def test_databases_writing_to_one_database_claim_different_nodes(database_url: str) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        made_first, made_second = first.call(_make_ids), second.call(_make_ids)
        nodes = {_node_of(i) for i in made_first}, {_node_of(i) for i in made_second}
        assert len(nodes[0]) == len(nodes[1]) == 1 and nodes[0] != nodes[1]
        assert not set(made_first) & set(made_second)
        # The same Database keeps its node.
        assert {_node_of(i) for i in first.call(_make_ids)} == nodes[0]
    finally:
        first.dispose()
        second.dispose()


def test_rows_written_together_get_keys_in_the_order_they_were_made(db: Database) -> None:
    identities = [(f"order{i}@example.com", None, None, None) for i in range(40)]
    created = db.call(persons.create_for_events, identities)
    stamps = [ordered_id_parts(p.id)[0] for p in created]
    assert stamps == sorted(stamps)
    stored = db.call(lambda conn: set(conn.execute(select(persons_table.c.id)).scalars()))
    assert {p.id for p in created} <= stored


def test_a_database_not_migrated_yet_gets_random_ids_and_ordered_ones_once_migrated(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        # Ordered IDs made up to a minute from now are below this; random ones spread over the range.
        ordered_so_far = 10**18 + ((int(time.time() * 1000) - 1_767_225_600_000 + 60_000) << (DRAW_BITS + NODE_BITS))
        before = db.call(_make_ids)
        assert max(before) > ordered_so_far
        upgrade(db.engine)
    finally:
        db.dispose()
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")  # as the process that migrated it goes on to serve
    try:
        after = db.call(_make_ids)
        assert max(after) < ordered_so_far
        assert len({_node_of(i) for i in after}) == 1
    finally:
        db.dispose()
