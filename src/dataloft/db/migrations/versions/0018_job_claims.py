"""Job claims: one row per kind of background work that must run in one process at a
time (``lens:<id>``, ``gc``, ``uploads:reclaim``), locked by the process running it
(``db/claims.py``).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_claims",
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_claims")),
    )


def downgrade() -> None:
    op.drop_table("job_claims")
