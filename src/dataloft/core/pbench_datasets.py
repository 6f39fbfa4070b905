"""Pbench datasets: core datasets made from uploaded tarballs, named by the tarball's MD5
(Pbench's resource id, which is also the core ``uid``).

A Pbench dataset is an ordinary dataset (owner, visibility, versions), so the native API
and every other dialect see it: its entries are the tarball's members
(``core/pbench_intake.py``), and its metadata document holds Pbench's ``server`` and
``global`` namespaces (an owner's change there, through either API, is the same change).
What only Pbench has lives in ``pbench_datasets``: the resource id, the tarball's name
(not unique: the core name is derived from it, with the MD5's first 8 digits on a
clash), when it came, the tarball blob itself, ``metadata.log`` parsed, and the
operation states. ``user.*`` metadata is kept per (dataset, user).

Access follows Pbench Server's rules and words (``refuse``): anyone reads a public
dataset; otherwise an anonymous caller gets a 401 and another user a 403, naming the
owner and the access; an unknown resource id is a 404 for everyone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from dataloft.core.access import Action, Principal, Target, can
from dataloft.core.blobs import BlobRef, BlobService, StoredBlob
from dataloft.core.changes import Change, MakeFolder, PutFile, PutSymlink
from dataloft.core.commits import CommitService
from dataloft.core.datasets import DatasetService
from dataloft.core.errors import Conflict, Forbidden, NotFound, Unauthenticated
from dataloft.core.pbench_intake import Indexed
from dataloft.core.pbench_metadata import get_path, parse_metalog
from dataloft.core.pbench_query import DatasetView
from dataloft.db import Database
from dataloft.db.models import Blob, Dataset, PbenchDataset, PbenchUserMetadata, User

UPLOAD, INDEX = "UPLOAD", "INDEX"
# Where Pbench Server would have put the tarball; its clients read the path's last two
# parts (``<md5>/<name>.tar.xz``) as a check.
ARCHIVE = "/srv/pbench/archive/fs-version-001"
NO_INDEXER = "dataloft serves contents from the upload's own index: no Elasticsearch"


def refuse(actor: Principal, operation: str, owner: str, access: str) -> Exception:
    """Pbench Server's refusal: 401 for an anonymous caller, 403 for a user."""
    what = f"{operation} a resource owned by {owner} with {access} access"
    if actor.is_anonymous:
        return Unauthenticated(f"Unauthenticated client is not authorized to {what}")
    return Forbidden(f"User {actor.username} is not authorized to {what}")


@dataclass(frozen=True)
class PbenchRun:
    """One Pbench dataset, as its dialect sees it (``user``: the caller's own ``user.*``
    document, None for an anonymous caller)."""

    dataset_id: int
    resource_id: str
    name: str
    core_name: str
    owner: str
    owner_id: int
    access: str
    uploaded: datetime
    tarball: BlobRef
    metalog: dict[str, Any]
    server: dict[str, Any]
    global_: dict[str, Any]
    operations: dict[str, Any]
    user: dict[str, Any] | None

    @property
    def target(self) -> Target:
        return Target(self.owner_id, self.access, None)

    def view(self) -> DatasetView:
        return DatasetView(
            resource_id=self.resource_id,
            name=self.name,
            owner=self.owner,
            owner_id=self.owner_id,
            id=self.dataset_id,
            access=self.access,
            uploaded=self.uploaded,
            metalog=self.metalog,
            server=self.server,
            global_=self.global_,
            user=self.user,
            operations=self.operations,
        )


def _document(metadata: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """A namespace of the dataset's metadata document: an object, or empty (an owner may
    have written anything there through the native API)."""
    value = metadata.get(namespace)
    return dict(value) if isinstance(value, dict) else {}


class PbenchDatasets:
    def __init__(
        self,
        db: Database,
        datasets: DatasetService,
        commits: CommitService,
        blobs: BlobService,
        clock: Callable[[], datetime],
        *,
        max_name_length: int,
    ) -> None:
        self.db = db
        self.datasets = datasets
        self.commits = commits
        self.blobs = blobs
        self.clock = clock
        self.max_name_length = max_name_length

    # --- reading ------------------------------------------------------------------------------

    def _select(self, actor: Principal) -> Any:
        caller = actor.user_id if actor.user_id is not None else -1
        return (
            select(PbenchDataset, Dataset, User.username, PbenchUserMetadata.document, Blob.data)
            .join(Dataset, Dataset.id == PbenchDataset.dataset_id)
            .join(User, User.id == Dataset.owner_id)
            # A small tarball's bytes are in its blob's row, not in the store.
            .join(Blob, Blob.digest == PbenchDataset.tarball_digest)
            .outerjoin(
                PbenchUserMetadata,
                and_(
                    PbenchUserMetadata.dataset_id == PbenchDataset.dataset_id,
                    PbenchUserMetadata.user_id == caller,
                ),
            )
            .where(Dataset.deleted_at.is_(None))
        )

    @staticmethod
    def _run(row: Any, actor: Principal) -> PbenchRun:
        pbench, dataset, owner, document, inline = row
        metadata = dataset.meta or {}
        return PbenchRun(
            dataset_id=dataset.id,
            resource_id=pbench.resource_id,
            name=pbench.name,
            core_name=dataset.name,
            owner=owner,
            owner_id=dataset.owner_id,
            access=dataset.visibility,
            uploaded=pbench.uploaded,
            tarball=BlobRef(pbench.tarball_digest, pbench.tarball_size, inline),
            metalog=pbench.metalog,
            server=_document(metadata, "server"),
            global_=_document(metadata, "global"),
            operations=pbench.operations,
            user=None if actor.is_anonymous else dict(document or {}),
        )

    def find(self, actor: Principal, resource_id: str, operation: str = "READ") -> PbenchRun:
        """The dataset, if ``actor`` may do ``operation`` (READ, UPDATE or DELETE) on it."""
        with self.db.read() as session:
            row = session.execute(
                self._select(actor).where(PbenchDataset.resource_id == resource_id)
            ).first()
        if row is None:
            raise NotFound(f"Dataset {resource_id!r} not found")
        run = self._run(row, actor)
        action = Action.READ if operation == "READ" else Action.WRITE
        if not can(actor, action, run.target):
            raise refuse(actor, operation, run.owner, run.access)
        return run

    def known(self, resource_id: str) -> bool:
        """Whether a live dataset has this resource id, whoever may see it (Pbench answers
        a second upload of the same tarball alike, whoever sent it). One in its owner's
        trash (deleted through another API) is a ``Conflict``: it still holds the id."""
        with self.db.read() as session:
            held = session.execute(
                select(Dataset.deleted_at).where(Dataset.uid == resource_id)
            ).first()
        if held is None:
            return False
        if held.deleted_at is not None:
            raise Conflict(
                f"Dataset {resource_id!r} is in its owner's trash: restore it, or purge it to "
                "upload it again"
            )
        return True

    def visible(self, actor: Principal) -> list[PbenchRun]:
        """Every dataset ``actor`` may read, in one query."""
        query = self._select(actor)
        if not actor.is_admin:
            mine = Dataset.owner_id == actor.user_id if actor.user_id is not None else False
            query = query.where((Dataset.visibility == "public") | mine)
        with self.db.read() as session:
            rows = session.execute(query).all()
        return [self._run(row, actor) for row in rows]

    # --- creating -----------------------------------------------------------------------------

    def create(
        self,
        actor: Principal,
        *,
        name: str,
        resource_id: str,
        tarball: StoredBlob,
        indexed: Indexed,
        access: str,
        server: Mapping[str, Any],
        global_: Mapping[str, Any],
        user: Mapping[str, Any],
        archive_only: bool,
    ) -> PbenchRun:
        """A new dataset holding the indexed tarball (version 1), owned by ``actor``."""
        if actor.username is None:
            raise Unauthenticated("Verifying user_id failed")
        metalog = self._metalog(indexed, name)
        operations: dict[str, Any] = {UPLOAD: {"state": "OK", "message": None}}
        if not archive_only:
            operations[INDEX] = {"state": "OK", "message": NO_INDEXER}
        benchmark = get_path(metalog, ["pbench", "script"]) or "unknown"
        server_document = {
            **server,
            "benchmark": benchmark,
            "tarball-path": f"{ARCHIVE}/{resource_id}/{name}.tar.xz",
            "unpacked-size": indexed.unpacked_size,
        }
        core_name = self._core_name(actor.user_id, name, resource_id)
        try:
            view = self.datasets.create(
                actor,
                actor.username,
                core_name,
                visibility=access,
                uid=resource_id,
                description=f"Pbench tarball {name}.tar.xz",
                metadata={"server": server_document, "global": dict(global_)},
            )
        except IntegrityError:  # the same tarball, sent at the same moment, got there first
            raise Conflict("Dataset is currently being uploaded") from None
        try:
            with self.db.write() as session:
                self.blobs.register(session, [tarball])
                session.add(
                    PbenchDataset(
                        dataset_id=view.id,
                        resource_id=resource_id,
                        name=name,
                        uploaded=self.clock(),
                        tarball_digest=tarball.digest,
                        tarball_size=tarball.size,
                        metalog=metalog,
                        operations=operations,
                    )
                )
                if user and actor.user_id is not None:
                    session.add(
                        PbenchUserMetadata(
                            dataset_id=view.id, user_id=actor.user_id, document=dict(user)
                        )
                    )
            changes = _changes(indexed)
            if changes:
                self.commits.commit(
                    actor, actor.username, core_name, changes, message=f"upload {name}.tar.xz"
                )
        except BaseException:
            self._remove(view.id)
            raise
        return self.find(actor, resource_id)

    @staticmethod
    def _metalog(indexed: Indexed, name: str) -> dict[str, Any]:
        if indexed.metalog is None:
            return {"pbench": {"name": name, "script": "unknown"}}
        return parse_metalog(indexed.metalog)

    def _core_name(self, owner_id: int | None, name: str, resource_id: str) -> str:
        """The tarball's name, cut to the name limit; with the MD5's first 8 digits when
        the owner already has a dataset of that name (Pbench names are not unique)."""
        base = name[: self.max_name_length].strip() or resource_id
        with self.db.read() as session:
            taken = session.scalar(
                select(Dataset.id).where(
                    Dataset.owner_id == owner_id,
                    Dataset.name == base,
                    Dataset.deleted_at.is_(None),
                )
            )
        if taken is None:
            return base
        return f"{base[: self.max_name_length - 9]}-{resource_id[:8]}"

    def _remove(self, dataset_id: int) -> None:
        """Undo a creation that failed half way (a refused member, a full disk)."""
        with self.db.write() as session:
            session.execute(delete(Dataset).where(Dataset.id == dataset_id))

    # --- changing -----------------------------------------------------------------------------

    def set_user_document(self, actor: Principal, run: PbenchRun, document: dict[str, Any]) -> None:
        assert actor.user_id is not None
        with self.db.write() as session:
            row = session.get(PbenchUserMetadata, (run.dataset_id, actor.user_id))
            if row is None:
                session.add(
                    PbenchUserMetadata(
                        dataset_id=run.dataset_id, user_id=actor.user_id, document=document
                    )
                )
            else:
                row.document = document

    def set_documents(
        self, actor: Principal, run: PbenchRun, *, name: str | None, namespaces: dict[str, Any]
    ) -> None:
        """A new display name and/or new ``server``/``global`` documents (the owner's or an
        admin's change, checked by the caller), through the core's own update, so that it
        is an event like any other metadata change."""
        if namespaces:
            self.datasets.update(actor, run.owner, run.core_name, {"metadata": namespaces})
        if name is not None:
            with self.db.write() as session:
                session.execute(
                    update(PbenchDataset)
                    .where(PbenchDataset.dataset_id == run.dataset_id)
                    .values(name=name)
                )

    def change(
        self, actor: Principal, run: PbenchRun, *, access: str | None, owner: str | None
    ) -> None:
        """New access and/or owner (owner changes are an admin's)."""
        changes: dict[str, Any] = {}
        if access is not None:
            changes["visibility"] = access
        if changes:
            self.datasets.update(actor, run.owner, run.core_name, changes)
        if owner is not None and owner != run.owner:
            with self.db.read() as session:
                owner_id = session.scalar(select(User.id).where(User.username == owner))
            # The new owner may hold a run of the same name already (Pbench names are not
            # unique; core names are, per owner): then the dataset moves under the name an
            # upload of it by them would have had. (Two steps: were the transfer refused,
            # the dataset would keep its owner and that name, which is as good a name.)
            core_name = self._core_name(owner_id, run.core_name, run.resource_id)
            if core_name != run.core_name:
                self.datasets.update(actor, run.owner, run.core_name, {"name": core_name})
            self.datasets.transfer(actor, run.owner, core_name, owner)

    def delete(self, actor: Principal, run: PbenchRun) -> None:
        """Gone for good, as Pbench deletes: the dataset, its versions and its metadata
        (its blobs stay until garbage collection finds them unreferenced)."""
        self.datasets.purge(actor, run.owner, run.core_name, run.resource_id)


def _changes(indexed: Indexed) -> list[Change]:
    changes: list[Change] = [
        PutFile(path, blob=blob, metadata=meta) for path, blob, meta in indexed.files
    ]
    changes += [PutSymlink(path, target, metadata=meta) for path, target, meta in indexed.links]
    changes += [MakeFolder(path) for path in indexed.folders]
    return changes
