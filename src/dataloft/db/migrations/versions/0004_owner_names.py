"""Owner names ignore case: one table of the lower-cased names users and teams share.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00

Existing users and teams are entered in the order they were made, users first. An owner
whose name differs only in case from one entered before it (possible until now) keeps its
name and works as before; it just holds no row, and the name stays taken by the first.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import name_column

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

log = logging.getLogger("dataloft.migrations")

_users = sa.table("users", sa.column("id", sa.Integer()), sa.column("username", sa.String()))
_teams = sa.table("teams", sa.column("id", sa.Integer()), sa.column("name", sa.String()))
_owner_names = sa.table(
    "owner_names",
    sa.column("name", sa.String()),
    sa.column("user_id", sa.Integer()),
    sa.column("team_id", sa.Integer()),
)


def upgrade() -> None:
    op.create_table(
        "owner_names",
        sa.Column("name", name_column(100), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("team_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "(user_id IS NULL) <> (team_id IS NULL)", name=op.f("ck_owner_names_one_owner")
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_owner_names_team_id_teams"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_owner_names_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_owner_names")),
        sa.UniqueConstraint("team_id", name=op.f("uq_owner_names_team_id")),
        sa.UniqueConstraint("user_id", name=op.f("uq_owner_names_user_id")),
    )
    _enter_existing_owners()


def _enter_existing_owners() -> None:
    """One row per existing name, in lower case (ASCII letters only, as the service folds
    them: names made from now on are ASCII), the first holder of a name winning."""
    connection = op.get_bind()
    users = connection.execute(sa.select(_users.c.username, _users.c.id).order_by(_users.c.id))
    teams = connection.execute(sa.select(_teams.c.name, _teams.c.id).order_by(_teams.c.id))
    owners = [(name, id_, None) for name, id_ in users] + [(name, None, id_) for name, id_ in teams]
    holders: dict[str, str] = {}
    rows: list[dict[str, object]] = []
    for name, user_id, team_id in owners:
        folded = name.translate(_ASCII_LOWER)
        if folded in holders:
            log.warning(
                "owner name %r differs only in case from %r: both keep working, and the "
                "name stays taken",
                name,
                holders[folded],
            )
            continue
        holders[folded] = name
        rows.append({"name": folded, "user_id": user_id, "team_id": team_id})
    if rows:
        op.bulk_insert(_owner_names, rows)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def downgrade() -> None:
    op.drop_table("owner_names")
