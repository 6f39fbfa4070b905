"""Pbench datasets: what a core dataset made from an uploaded tarball keeps besides its
entries (its MD5 resource id, its name, when it came, the tarball itself, its
metadata.log and Pbench's operation states), and each user's own ``user.*`` metadata of
it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import JSONDoc, UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pbench_datasets",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(1024), nullable=False),
        sa.Column("uploaded", UTCDateTime(), nullable=False),
        sa.Column("tarball_digest", sa.String(64), nullable=False),
        sa.Column("tarball_size", sa.BigInteger(), nullable=False),
        sa.Column("metalog", JSONDoc, nullable=False),
        sa.Column("operations", JSONDoc, nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tarball_digest"], ["blobs.digest"]),
        sa.PrimaryKeyConstraint("dataset_id"),
    )
    op.create_index(
        "ix_pbench_datasets_resource_id", "pbench_datasets", ["resource_id"], unique=True
    )
    op.create_index("ix_pbench_datasets_tarball_digest", "pbench_datasets", ["tarball_digest"])
    op.create_table(
        "pbench_user_metadata",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("document", JSONDoc, nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id", "user_id"),
    )


def downgrade() -> None:
    op.drop_table("pbench_user_metadata")
    op.drop_index("ix_pbench_datasets_tarball_digest", table_name="pbench_datasets")
    op.drop_index("ix_pbench_datasets_resource_id", table_name="pbench_datasets")
    op.drop_table("pbench_datasets")
