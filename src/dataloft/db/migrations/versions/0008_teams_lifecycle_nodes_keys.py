"""Teams and projects that can be taken out of use and put back, who made a membership
or a project, users' last login, signing keys, worker nodes and the fixed list of data
domains (for the UFDL dialect).

A project's name becomes unique among its team's live projects only, as a dataset's is
among its owner's.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import JSONDoc, UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LIVE = "deleted_at IS NULL"
# UFDL's domains, in its order, so that their numbers match a UFDL server's.
DOMAINS = [
    ("ic", "Image Classification"),
    ("is", "Image Segmentation"),
    ("od", "Object Detection"),
    ("sc", "Spectrum Classification"),
    ("sp", "Speech"),
]


def _made_by(table: str) -> sa.Column[int]:
    return sa.Column(
        "created_by",
        sa.Integer(),
        sa.ForeignKey("users.id", name=op.f(f"fk_{table}_created_by_users"), ondelete="SET NULL"),
        nullable=True,
    )


def upgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_login", UTCDateTime(), nullable=True))
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(_made_by("memberships"))
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(_made_by("projects"))
        batch_op.add_column(sa.Column("deleted_at", UTCDateTime(), nullable=True))
        batch_op.drop_index("uq_projects_team_name")
    op.create_index(
        "uq_projects_team_name",
        "projects",
        ["team_id", "name"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )
    op.create_table(
        "signing_keys",
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_signing_keys")),
    )
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=100), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("driver_version", sa.String(length=100), nullable=True),
        sa.Column("hardware_generation", sa.String(length=100), nullable=True),
        sa.Column("gpu_mem", sa.BigInteger(), nullable=True),
        sa.Column("cpu_mem", sa.BigInteger(), nullable=True),
        sa.Column("last_seen", UTCDateTime(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_nodes_created_by_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nodes")),
    )
    op.create_index(op.f("ix_nodes_created_by"), "nodes", ["created_by"], unique=False)
    domains = op.create_table(
        "domains",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=10), nullable=False),
        sa.Column("description", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_domains")),
        sa.UniqueConstraint("code", name=op.f("uq_domains_code")),
    )
    op.bulk_insert(
        domains,
        [
            {"id": number, "code": code, "description": description}
            for number, (code, description) in enumerate(DOMAINS, start=1)
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval('domains_id_seq', (SELECT max(id) FROM domains))")
    # UFDL lists a licence's limitations in the order of its own table of them, where
    # Warranty comes before Liability (observed on MIT); migration 0001 sorted them.
    licences = sa.table(
        "licences", sa.column("id", sa.Integer()), sa.column("limitations", JSONDoc)
    )
    bind = op.get_bind()
    for licence_id, limitations in bind.execute(sa.select(licences.c.id, licences.c.limitations)):
        if limitations == ["Liability", "Warranty"]:
            bind.execute(
                licences.update()
                .where(licences.c.id == licence_id)
                .values(limitations=["Warranty", "Liability"])
            )


def downgrade() -> None:
    op.drop_table("domains")
    op.drop_index(op.f("ix_nodes_created_by"), table_name="nodes")
    op.drop_table("nodes")
    op.drop_table("signing_keys")
    op.drop_index("uq_projects_team_name", table_name="projects")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("created_by")
    op.create_index("uq_projects_team_name", "projects", ["team_id", "name"], unique=True)
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("created_by")
    with op.batch_alter_table("teams", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("last_login")
