"""Entries: the check on ``kind`` as comparisons. SQLite tests ``kind IN ('file',
'symlink', 'record')`` (three items or more) by building a temporary index of the list,
once per statement execution, so once for every row inserted: 2 µs a row, a sixth of
SQLite's time for the entries of a bulk write of 10,000 records. Comparisons cost it a
few instructions; PostgreSQL tests both alike.

SQLite cannot change a table's checks in place: the table is copied (Alembic's batch
mode), once, which takes as long as copying the entries and their indexes. The copy
drops the old table, which foreign key enforcement would refuse, or turn into deleting
every attachment row: ``dataloft.db.migrate`` runs migrations without it, then checks
every key before committing.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

AS_COMPARISONS = "kind = 'file' OR kind = 'symlink' OR kind = 'record'"
AS_LIST = "kind IN ('file', 'symlink', 'record')"


def _check_kind(condition: str) -> None:
    with op.batch_alter_table("entries", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_entries_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_entries_kind"), condition)


def upgrade() -> None:
    _check_kind(AS_COMPARISONS)


def downgrade() -> None:
    _check_kind(AS_LIST)
