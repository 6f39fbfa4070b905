"""Resumable uploads (tus): an upload's length, how many of its bytes are durable, its
metadata as sent, the sha256 its client declared and, once finished, its blob's.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("upload_metadata", sa.Text(), nullable=True),
        sa.Column("expected", sa.String(64), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("touched", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "received >= 0 AND received <= length", name=op.f("ck_uploads_received")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_uploads_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploads")),
    )
    op.create_index(op.f("ix_uploads_user_id"), "uploads", ["user_id"])
    op.create_index(op.f("ix_uploads_touched"), "uploads", ["touched"])


def downgrade() -> None:
    op.drop_index(op.f("ix_uploads_touched"), table_name="uploads")
    op.drop_index(op.f("ix_uploads_user_id"), table_name="uploads")
    op.drop_table("uploads")
