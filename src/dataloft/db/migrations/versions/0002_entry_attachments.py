"""Entry attachments: the blobs a record links to, kept alive while the record is.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import BigId

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entry_attachments",
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["digest"], ["blobs.digest"], name=op.f("fk_entry_attachments_digest_blobs")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name=op.f("fk_entry_attachments_entry_id_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "digest", name=op.f("pk_entry_attachments")),
    )
    with op.batch_alter_table("entry_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entry_attachments_digest"), ["digest"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("entry_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entry_attachments_digest"))
    op.drop_table("entry_attachments")
