"""batch file offsets: result files written as chunks commit

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27 14:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("output_bytes", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("rejects_bytes", sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("batch_jobs", schema=None) as batch_op:
        batch_op.drop_column("rejects_bytes")
        batch_op.drop_column("output_bytes")
