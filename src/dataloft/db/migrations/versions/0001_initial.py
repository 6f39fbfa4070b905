"""Initial schema: accounts, datasets, versioned entries, blobs, events; seeded licences.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 09:20:31.181277
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import BigId, JSONDoc, PathText, UTCDateTime, name_column

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("touched", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_blobs")),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("payload", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_dataset_seq", ["dataset_id", "seq"], unique=False)

    op.create_table(
        "licences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("permissions", JSONDoc, nullable=False),
        sa.Column("conditions", JSONDoc, nullable=False),
        sa.Column("limitations", JSONDoc, nullable=False),
        sa.Column("domains", JSONDoc, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licences")),
        sa.UniqueConstraint("name", name=op.f("uq_licences_name")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", name_column(100), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=True),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", name_column(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_teams_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "memberships",
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.String(length=1), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.CheckConstraint("level IN ('R', 'X', 'W', 'A')", name=op.f("ck_memberships_level")),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_memberships_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "user_id", name=op.f("pk_memberships")),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memberships_user_id"), ["user_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.Integer(), nullable=False),
        sa.Column("name", name_column(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_projects_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index("uq_projects_team_name", ["team_id", "name"], unique=True)

    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", name_column(250), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", JSONDoc, nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("visibility", sa.String(length=10), nullable=False),
        sa.Column("metadata", JSONDoc, nullable=False),
        sa.Column("head", sa.Integer(), nullable=False),
        sa.Column("file_count", sa.BigInteger(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("updated", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "visibility IN ('private', 'public')", name=op.f("ck_datasets_visibility")
        ),
        sa.ForeignKeyConstraint(
            ["licence_id"],
            ["licences.id"],
            name=op.f("fk_datasets_licence_id_licences"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_datasets_owner_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_datasets_project_id_projects"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("uid", name=op.f("uq_datasets_uid")),
    )
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_datasets_project_id"), ["project_id"], unique=False)
        batch_op.create_index(
            "uq_datasets_live_address",
            ["owner_id", "name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "entries",
        sa.Column("id", BigId, nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("space", sa.String(length=1), nullable=False),
        sa.Column("path", PathText, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("since", sa.Integer(), nullable=False),
        sa.Column("until", sa.Integer(), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("media_type", sa.String(length=255), nullable=False),
        sa.Column("metadata", JSONDoc, nullable=True),
        sa.Column("target", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('file', 'symlink', 'record')", name=op.f("ck_entries_kind")),
        sa.CheckConstraint("space IN ('f', 'r')", name=op.f("ck_entries_space")),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_entries_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["digest"], ["blobs.digest"], name=op.f("fk_entries_digest_blobs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entries")),
    )
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entries_digest"), ["digest"], unique=False)
        batch_op.create_index(
            "ix_entries_history", ["dataset_id", "space", "path", "since"], unique=False
        )
        batch_op.create_index("ix_entries_since", ["dataset_id", "since"], unique=False)
        batch_op.create_index("ix_entries_until", ["dataset_id", "until"], unique=False)
        batch_op.create_index(
            "uq_entries_current",
            ["dataset_id", "space", "path"],
            unique=True,
            sqlite_where=sa.text("until IS NULL"),
            postgresql_where=sa.text("until IS NULL"),
        )

    op.create_table(
        "versions",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("parent", sa.Integer(), nullable=True),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created", UTCDateTime(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("file_count", sa.BigInteger(), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("total_bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_versions_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_versions_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "number", name=op.f("pk_versions")),
    )
    _seed()


def _seed() -> None:
    counters = sa.table("counters", sa.column("name", sa.String), sa.column("value", sa.BigInteger))
    op.bulk_insert(counters, [{"name": "events", "value": 0}])
    licences = sa.table(
        "licences",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("url", sa.String),
        sa.column("permissions", JSONDoc),
        sa.column("conditions", JSONDoc),
        sa.column("limitations", JSONDoc),
        sa.column("domains", JSONDoc),
    )
    op.bulk_insert(
        licences,
        [
            {
                "id": number,
                "name": name,
                "url": url,
                "permissions": list(permissions),
                "conditions": list(conditions),
                "limitations": list(limitations),
                "domains": list(domains),
            }
            for number, (name, url, permissions, conditions, limitations, domains) in enumerate(
                LICENCES, start=1
            )
        ],
    )
    if op.get_bind().dialect.name == "postgresql":  # explicit ids do not advance the sequence
        op.execute("SELECT setval('licences_id_seq', (SELECT max(id) FROM licences))")


_OPEN = ("Commercial use", "Distribution", "Modification", "Private use")
_PATENT = (*_OPEN[:3], "Patent use", "Private use")
_NO_WARRANTY = ("Liability", "Warranty")
_COPYLEFT = ("Disclose source", "License and copyright notice", "Same license", "State changes")
_CODE = ("Software", "Models")
_DATA = ("Data", "Media", "Models")

# The licences UFDL servers ship, in UFDL's order (so their ids match: MIT is 11).
LICENCES: list[
    tuple[str, str, tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]
] = [
    (
        "AGPL3",
        "https://www.gnu.org/licenses/agpl-3.0.html",
        _PATENT,
        (*_COPYLEFT, "Network use is distribution"),
        _NO_WARRANTY,
        _CODE,
    ),
    (
        "Apache 2.0",
        "https://www.apache.org/licenses/LICENSE-2.0",
        _PATENT,
        ("License and copyright notice", "State changes"),
        ("Liability", "Trademark use", "Warranty"),
        _CODE,
    ),
    (
        "BSD 2-clause",
        "https://opensource.org/licenses/BSD-2-Clause",
        _OPEN,
        ("License and copyright notice",),
        _NO_WARRANTY,
        _CODE,
    ),
    (
        "BSD 3-clause",
        "https://opensource.org/licenses/BSD-3-Clause",
        _OPEN,
        ("License and copyright notice",),
        _NO_WARRANTY,
        _CODE,
    ),
    (
        "CC0",
        "https://creativecommons.org/publicdomain/zero/1.0/",
        _OPEN,
        (),
        ("Liability", "Patent use", "Trademark use", "Warranty"),
        _DATA,
    ),
    (
        "CC-BY-4.0",
        "https://creativecommons.org/licenses/by/4.0/",
        _OPEN,
        ("License and copyright notice", "State changes"),
        ("Liability", "Patent use", "Trademark use", "Warranty"),
        _DATA,
    ),
    (
        "CC-BY-SA-4.0",
        "https://creativecommons.org/licenses/by-sa/4.0/",
        _OPEN,
        ("License and copyright notice", "Same license", "State changes"),
        ("Liability", "Patent use", "Trademark use", "Warranty"),
        _DATA,
    ),
    (
        "GPL2",
        "https://www.gnu.org/licenses/old-licenses/gpl-2.0.html",
        _OPEN,
        _COPYLEFT,
        _NO_WARRANTY,
        _CODE,
    ),
    ("GPL3", "https://www.gnu.org/licenses/gpl-3.0.html", _PATENT, _COPYLEFT, _NO_WARRANTY, _CODE),
    (
        "LGPL3",
        "https://www.gnu.org/licenses/lgpl-3.0.html",
        _PATENT,
        (
            "Disclose source",
            "License and copyright notice",
            "Same license (library)",
            "State changes",
        ),
        _NO_WARRANTY,
        _CODE,
    ),
    (
        "MIT",
        "https://opensource.org/licenses/MIT",
        _OPEN,
        ("License and copyright notice",),
        _NO_WARRANTY,
        _CODE,
    ),
    (
        "Mozilla Public License 2.0",
        "https://www.mozilla.org/en-US/MPL/2.0/",
        _PATENT,
        ("Disclose source", "License and copyright notice", "Same license (file)"),
        ("Liability", "Trademark use", "Warranty"),
        _CODE,
    ),
    ("The Unlicense", "https://unlicense.org/", _OPEN, (), _NO_WARRANTY, _CODE),
    (
        "Proprietary",
        "",
        (),
        (),
        ("Commercial use", "Distribution", "Modification"),
        (*_CODE, "Data", "Media"),
    ),
]


def downgrade() -> None:
    op.drop_table("versions")
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_entries_current",
            sqlite_where=sa.text("until IS NULL"),
            postgresql_where=sa.text("until IS NULL"),
        )
        batch_op.drop_index("ix_entries_until")
        batch_op.drop_index("ix_entries_since")
        batch_op.drop_index("ix_entries_history")
        batch_op.drop_index(batch_op.f("ix_entries_digest"))

    op.drop_table("entries")
    with op.batch_alter_table("datasets", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_datasets_live_address",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_datasets_project_id"))

    op.drop_table("datasets")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("uq_projects_team_name")

    op.drop_table("projects")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_user_id"))

    op.drop_table("memberships")
    op.drop_table("teams")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))

    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("licences")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_dataset_seq")

    op.drop_table("events")
    op.drop_table("counters")
    op.drop_table("blobs")
