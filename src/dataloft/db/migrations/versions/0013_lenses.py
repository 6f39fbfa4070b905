"""Lenses: a lens's program, inputs and build state beside its core dataset, and the cache
of what each input record mapped to (``lens_sources``, ``lens_outputs``), so that a build
maps only the records that changed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 06:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import JSONDoc, PathText

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lenses",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("map_code", sa.Text(), nullable=False),
        sa.Column("reduce_code", sa.Text(), nullable=True),
        sa.Column("inputs", JSONDoc, nullable=False),
        sa.Column("program_digest", sa.String(64), nullable=False),
        sa.Column("built_digest", sa.String(64), nullable=True),
        sa.Column("reflects", JSONDoc, nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("wanted", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("last_build", JSONDoc, nullable=False),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("dataset_id"),
    )
    op.create_table(
        "lens_sources",
        sa.Column("lens_id", sa.Integer(), nullable=False),
        sa.Column("path", PathText, nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("program_digest", sa.String(64), nullable=False),
        sa.Column("log", JSONDoc, nullable=False),
        sa.ForeignKeyConstraint(["lens_id"], ["lenses.dataset_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("lens_id", "path"),
    )
    op.create_table(
        "lens_outputs",
        sa.Column("lens_id", sa.Integer(), nullable=False),
        sa.Column("source", PathText, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("output_id", PathText, nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["lens_id"], ["lenses.dataset_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("lens_id", "source", "seq"),
    )
    op.create_index("ix_lens_outputs_output", "lens_outputs", ["lens_id", "output_id"])


def downgrade() -> None:
    op.drop_index("ix_lens_outputs_output", table_name="lens_outputs")
    op.drop_table("lens_outputs")
    op.drop_table("lens_sources")
    op.drop_table("lenses")
