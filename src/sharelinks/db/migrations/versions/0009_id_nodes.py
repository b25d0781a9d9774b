"""id nodes: each process's node number for ordered IDs

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    nodes = op.create_table(
        "id_nodes",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("claimed", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_id_nodes")),
    )
    op.bulk_insert(nodes, [{"id": 1, "claimed": 0}])


def downgrade() -> None:
    op.drop_table("id_nodes")
