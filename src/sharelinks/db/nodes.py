"""Node numbers for ordered IDs (`sharelinks.ids`): one per Database a process opens, from the database.

Every process writing to a database (`serve`, each `sharelinks worker`, a CLI command, a test) claims
the next number of this one-row table before its first transaction; no two live processes writing
to the same database then share one (it would take 4,096 claims while the first still runs).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, Integer, Table, text

from sharelinks.db.metadata import metadata
from sharelinks.ids import NODE_BITS

id_nodes = Table(
    "id_nodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("claimed", BigInteger, nullable=False),
)

_CLAIM = text("UPDATE id_nodes SET claimed = claimed + 1 WHERE id = 1 RETURNING claimed")


def claim(conn: Connection) -> int | None:
    """The next node number, or None where the table has no row (a database being created)."""
    claimed = conn.execute(_CLAIM).scalar()
    return None if claimed is None else int(claimed) % (1 << NODE_BITS)
