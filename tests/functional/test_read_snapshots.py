"""A read is one snapshot: every statement of a ``Database.read`` block sees the database as
it was at the first, whatever commits meanwhile. A listing reads the head and then the rows
live at it; under PostgreSQL's READ COMMITTED a commit between the two made a Pigeon Optics
event for version 2 show the records of version 3."""

from __future__ import annotations

from sqlalchemy import func, select

from dataloft.core.access import SYSTEM
from dataloft.core.changes import RECORDS
from dataloft.core.loft import Loft
from dataloft.db.models import Dataset as DatasetRow
from dataloft.db.models import Entry
from tests.conftest import User


def test_a_read_sees_one_snapshot_while_others_commit(
    loft: Loft, alice: User, dataset: str
) -> None:
    owner, name = dataset.split("/")[2:]
    assert alice.client.put(f"{dataset}/records/a", json=1).status_code == 201
    with loft.db.read() as session:
        dataset_id = session.scalar(select(DatasetRow.id).where(DatasetRow.name == name))
        live = select(func.count()).where(Entry.dataset_id == dataset_id, Entry.until.is_(None))
        assert session.scalar(live) == 1
        # Committed by the server, in another connection, while this read is open:
        assert alice.client.delete(f"{dataset}/records/a").status_code in (200, 204)
        assert alice.client.put(f"{dataset}/records/b", json=2).status_code == 201
        assert session.scalar(live) == 1
        at, page = loft.browse.list_entries(SYSTEM, owner, name, RECORDS)
        assert (at, [entry.path for entry in page.items]) == (1, ["a"])
    at, page = loft.browse.list_entries(SYSTEM, owner, name, RECORDS)
    assert (at, [entry.path for entry in page.items]) == (3, ["b"])
