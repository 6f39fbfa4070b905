"""Datasets named by a name and a version within their project (UFDL's datasets).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import name_column

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "named_versions",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("name", name_column(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_version", sa.Integer(), nullable=False),
        sa.Column("domain_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_named_versions_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["domain_id"], ["domains.id"], name=op.f("fk_named_versions_domain_id_domains")
        ),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_named_versions")),
    )
    op.create_index(
        "ix_named_versions_name_version", "named_versions", ["name", "version"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_named_versions_name_version", table_name="named_versions")
    op.drop_table("named_versions")
