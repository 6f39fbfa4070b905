"""Server-wide settings an admin changes at run time (Pbench's ``/server/settings``: the
server state, a banner, the dataset lifetime, indexing): one JSON value per key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 04:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import JSONDoc

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_settings",
        sa.Column("key", sa.String(50), primary_key=True),
        sa.Column("value", JSONDoc, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("server_settings")
