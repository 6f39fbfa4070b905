"""An index of live symlinks: a commit that changes symlinks resolves every live one
(core/symlinks.py), and must find them without reading the rest of the dataset.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 15:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_entries_live_links",
            ["dataset_id", "until", "kind"],
            unique=False,
            sqlite_where=sa.text("until IS NULL AND kind = 'symlink'"),
            postgresql_where=sa.text("until IS NULL AND kind = 'symlink'"),
        )


def downgrade() -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index("ix_entries_live_links")
