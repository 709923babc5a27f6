"""Owners: every session and CV belongs to the browser or API key that made it.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows from before owners existed belong to nobody who can ask for them.
    for table in ("sessions", "cvs"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("owner_id", sa.String(64), nullable=False, server_default="legacy"))
        op.create_index(f"ix_{table}_owner_id", table, ["owner_id"])


def downgrade() -> None:
    for table in ("sessions", "cvs"):
        op.drop_index(f"ix_{table}_owner_id", table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("owner_id")
