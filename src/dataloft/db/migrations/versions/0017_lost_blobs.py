"""Blobs whose bytes are lost: ``blobs.lost_at``, set by ``dataloft fsck --repair`` when a
blob's bytes are missing from the store or corrupt there (or in its row) and no backup
could give them back.

A lost blob's row stays (entries still reference it, and a re-upload of the same bytes
heals it), but nobody possesses it any more (``core/possession.py``): probes answer that
the server lacks it and commits naming it are refused, so clients send the bytes again
instead of being told "already there". The partial index finds the (normally no) lost
rows without a scan, which every upload asks (``BlobService.register``).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-09 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from dataloft.db.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("blobs", sa.Column("lost_at", UTCDateTime(), nullable=True))
    op.create_index(
        "ix_blobs_lost",
        "blobs",
        ["lost_at"],
        sqlite_where=sa.text("lost_at IS NOT NULL"),
        postgresql_where=sa.text("lost_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_blobs_lost", table_name="blobs")
    op.drop_column("blobs", "lost_at")
