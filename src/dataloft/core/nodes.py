"""Worker nodes: machines that run jobs for their teams (UFDL's nodes).

Any user may register a node; the node belongs to them. A request may name a node (UFDL's
``Node-Id`` header), and an execute-level (X) team member acting through a node may then
write to the team's datasets, which is how a job stores its results. UFDL let any node do
that for any team, so any X member who knew some node's number could write anywhere they
were X; here the node must be registered by a live member of that team
(``elevated_teams``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from dataloft.core.access import Principal
from dataloft.core.directory import by_number
from dataloft.core.errors import Forbidden, Invalid, Unauthenticated
from dataloft.core.query_filter import Field, QuerySpec, filtered
from dataloft.core.results import NodeRecord
from dataloft.db import Database
from dataloft.db.models import Membership, Node, Team

# A node's last_seen is written at most this often per process: every request naming a
# node would otherwise be a write.
SEEN_EVERY_SECONDS = 30.0
_TEXT_FIELDS = ("ip", "driver_version", "hardware_generation")
_NUMBER_FIELDS = ("index", "gpu_mem", "cpu_mem")
MAX_TEXT = 100
MAX_NUMBER = 2**62
NODE_FIELDS = {
    "pk": Field.integer(Node.id),
    "id": Field.integer(Node.id),
    "ip": Field.text(Node.ip),
    "index": Field.integer(Node.index),
    "driver_version": Field.text(Node.driver_version, nullable=True),
    "hardware_generation": Field.text(Node.hardware_generation, nullable=True),
    "gpu_mem": Field.integer(Node.gpu_mem, nullable=True),
    "cpu_mem": Field.integer(Node.cpu_mem, nullable=True),
    "last_seen": Field.moment(Node.last_seen, nullable=True),
}


def node_record(node: Node) -> NodeRecord:
    return NodeRecord(
        id=node.id,
        ip=node.ip,
        index=node.index,
        driver_version=node.driver_version,
        hardware_generation=node.hardware_generation,
        gpu_mem=node.gpu_mem,
        cpu_mem=node.cpu_mem,
        last_seen=node.last_seen,
        created_by=node.created_by,
    )


def _checked(fields: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - set(_TEXT_FIELDS) - set(_NUMBER_FIELDS))
    if unknown:
        raise Invalid(f"unknown node fields: {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = fields.get(name)
        if value is None and name != "ip":
            continue
        if not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT:
            raise Invalid(f"{name} must be a string of 1 to {MAX_TEXT} characters")
        values[name] = value
    for name in _NUMBER_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < MAX_NUMBER:
            raise Invalid(f"{name} must be a non-negative integer")
        values[name] = value
    return values


class NodeService:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock
        self._seen: dict[int, float] = {}
        self._lock = threading.Lock()

    def register(self, actor: Principal, fields: Mapping[str, Any]) -> NodeRecord:
        if actor.user_id is None:
            raise Unauthenticated("log in to register a node")
        if actor.scope is not None:
            raise Forbidden("this token may only read")
        values = _checked(fields)
        with self.db.write() as session:
            node = Node(created_by=actor.user_id, last_seen=self.clock(), **values)
            session.add(node)
            session.flush()
            return node_record(node)

    def listed(self, actor: Principal, spec: QuerySpec) -> list[NodeRecord]:
        """Site admins see every node the filter matches; others their own."""
        if actor.user_id is None and not actor.is_admin:
            raise Unauthenticated("log in first")
        query = select(Node)
        if not actor.is_admin:
            query = query.where(Node.created_by == actor.user_id)
        query = filtered(query, spec, NODE_FIELDS, inactive=None, order=Node.id)
        with self.db.read() as session:
            return [node_record(node) for node in session.scalars(query)]

    def get(self, node_id: int) -> NodeRecord:
        with self.db.read() as session:
            return node_record(by_number(session, Node, node_id, "node"))

    def seen(self, node_id: int) -> None:
        """The node made a request now."""
        now = time.monotonic()
        with self._lock:
            if now - self._seen.get(node_id, -SEEN_EVERY_SECONDS) < SEEN_EVERY_SECONDS:
                return
            self._seen[node_id] = now
        with self.db.write() as session:
            session.execute(update(Node).where(Node.id == node_id).values(last_seen=self.clock()))

    def elevated_teams(self, node: NodeRecord) -> frozenset[int]:
        """The live teams of which the node's registrant is a member: there, an X member
        acting through this node may write."""
        with self.db.read() as session:
            rows = session.scalars(
                select(Membership.team_id)
                .join(Team, Team.id == Membership.team_id)
                .where(Membership.user_id == node.created_by, Team.deleted_at.is_(None))
            )
            return frozenset(rows)
