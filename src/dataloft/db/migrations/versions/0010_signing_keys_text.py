"""Signing keys hold private keys in PEM (the OpenID Connect provider's RSA key), not only
short random secrets: the column becomes unbounded text.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("signing_keys") as table:
        table.alter_column("secret", type_=sa.Text(), existing_type=sa.String(200))


def downgrade() -> None:
    with op.batch_alter_table("signing_keys") as table:
        table.alter_column("secret", type_=sa.String(200), existing_type=sa.Text())
