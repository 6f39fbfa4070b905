"""SQLAlchemy models: the schema as Python. Alembic migrations are the only way the schema
reaches a database; ``tests/unit/db/test_migrations.py`` checks the two agree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dataloft.db.types import BigId, JSONDoc, PathText, UTCDateTime, name_column, utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def table_of(model: type[Base]) -> Table:
    """A model's table, for Core statements on hot paths (no ORM entity overhead)."""
    return Base.metadata.tables[model.__tablename__]


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(name_column(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    full_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the user last proved their password (a login, a token pair obtained): not every
    # request, which would make each read a write.
    last_login: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # sha256 of the secret: tokens are long random strings, so a fast hash is enough and
    # lets us find the token with one indexed lookup.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str | None] = mapped_column(String(20))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A login session (made by logging in with a password): revoked when the password
    # changes. API tokens made on purpose stay.
    session: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class LoginFailures(Base):
    """Failed logins of one account (``account:<name>``) or from one client address
    (``address:<ip>``), in the database so that every server process counts them."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # How many times this key was blocked lately: each block lasts longer.
    strikes: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(name_column(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A team taken out of use (UFDL's soft delete): its memberships grant nothing, its
    # name stays taken, an admin can put it back.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OwnerName(Base):
    """The one namespace users and teams share, in lower case: a row per owner, so that
    names differing only in case are one name. A unique index on ``lower(username)`` could
    not keep a user and a team apart (no index spans two tables), and SQLite cannot reflect
    expression indexes; one primary key over both kinds can, and refuses the second of two
    concurrent claims however the transactions interleave. Written by ``AccountService``
    only (users are never deleted; a team's row goes with the team)."""

    __tablename__ = "owner_names"
    __table_args__ = (CheckConstraint("(user_id IS NULL) <> (team_id IS NULL)", name="one_owner"),)

    name: Mapped[str] = mapped_column(name_column(100), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    team_id: Mapped[int | None] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), unique=True
    )


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint("level IN ('R', 'X', 'W', 'A')", name="level"),)

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[str] = mapped_column(String(1))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Project(Base):
    __tablename__ = "projects"
    # A name is unique among a team's live projects: a deleted one's can be used again.
    __table_args__ = (
        Index(
            "uq_projects_team_name",
            "team_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(name_column(100))
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Licence(Base):
    __tablename__ = "licences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    url: Mapped[str] = mapped_column(String(500), default="")
    permissions: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    conditions: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    limitations: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    domains: Mapped[list[str]] = mapped_column(JSONDoc, default=list)


class Dataset(Base):
    __tablename__ = "datasets"
    __table_args__ = (
        # The address owner/name is unique among live datasets only: a name can be reused
        # after a soft delete, and the deleted one can still be restored under another name.
        Index(
            "uq_datasets_live_address",
            "owner_id",
            "name",
            unique=True,
            sqlite_where=text("deleted_at IS NULL"),
            postgresql_where=text("deleted_at IS NULL"),
        ),
        CheckConstraint("visibility IN ('private', 'public')", name="visibility"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(name_column(250))
    description: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSONDoc, default=list)
    licence_id: Mapped[int | None] = mapped_column(ForeignKey("licences.id", ondelete="SET NULL"))
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True
    )
    visibility: Mapped[str] = mapped_column(String(10), default="private")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONDoc, default=dict)
    head: Mapped[int] = mapped_column(Integer, default=0)
    file_count: Mapped[int] = mapped_column(BigInteger, default=0)
    record_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Version(Base):
    __tablename__ = "versions"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent: Mapped[int | None] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    added: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    file_count: Mapped[int] = mapped_column(BigInteger, default=0)
    record_count: Mapped[int] = mapped_column(BigInteger, default=0)
    total_bytes: Mapped[int] = mapped_column(BigInteger, default=0)


class Blob(Base):
    __tablename__ = "blobs"
    __table_args__ = (
        Index(
            "ix_blobs_lost",
            "lost_at",
            sqlite_where=text("lost_at IS NOT NULL"),
            postgresql_where=text("lost_at IS NOT NULL"),
        ),
    )

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # Small blobs live here instead of the blob store: one query serves a small record.
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Last upload or existence check; garbage collection spares recently touched blobs so a
    # client can upload first and commit later.
    touched: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When ``dataloft fsck --repair`` found the bytes gone or corrupt and had no copy to
    # restore (``core/fsck.py``): nobody possesses a lost blob, so clients are asked for
    # the bytes again, and the first upload of them clears this (``BlobService.register``).
    lost_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BlobUpload(Base):
    """A user sent these bytes (or had the server make them from a value they sent): from
    then on they may name the blob by its digest (see ``dataloft.core.possession``). The
    row lives as long as the blob."""

    __tablename__ = "blob_uploads"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(
        ForeignKey("blobs.digest", ondelete="CASCADE"), primary_key=True, index=True
    )
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResumableUpload(Base):
    """A resumable (tus) upload: bytes a user sends in as many requests as it takes, kept
    in a partial file under the data directory until they are all there and become a blob
    (``core/uploads.py``). ``received`` is how many bytes of the file are durable; it only
    grows, and never past ``length``. ``digest`` is set once the upload is finished; the row
    stays until the upload expires, ``touched`` plus ``upload_expiry_seconds``."""

    __tablename__ = "uploads"
    __table_args__ = (CheckConstraint("received >= 0 AND received <= length", name="received"),)

    # 32 random hex digits: the upload's URL names it.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    # Upload-Metadata as the client sent it (HEAD gives it back as sent).
    upload_metadata: Mapped[str | None] = mapped_column(Text)
    # The sha256 the client declared for the whole upload (its metadata's ``sha256``).
    expected: Mapped[str | None] = mapped_column(String(64))
    digest: Mapped[str | None] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last time bytes arrived (or it was made): it expires this long after.
    touched: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Entry(Base):
    """One entry of a dataset, valid from version ``since`` up to (excluding) ``until``.

    A commit closes the rows it replaces or deletes and opens new ones, so its cost is the
    number of changes, and "the entries at version v" is one indexed range query.
    """

    __tablename__ = "entries"
    __table_args__ = (
        Index(
            "uq_entries_current",
            "dataset_id",
            "space",
            "path",
            unique=True,
            sqlite_where=text("until IS NULL"),
            postgresql_where=text("until IS NULL"),
        ),
        # The live symlinks of a dataset, which a commit that changes symlinks resolves
        # (core/symlinks.py) without reading the rest of the tree. ``until`` and ``kind``
        # are the same in every row, but let the index match all three equalities of that
        # query: matching only ``dataset_id``, SQLite's planner preferred ix_entries_until
        # (all the live rows) even after ANALYZE: 9 ms instead of 0.04 ms for 100 links
        # among 100,000 files.
        Index(
            "ix_entries_live_links",
            "dataset_id",
            "until",
            "kind",
            sqlite_where=text("until IS NULL AND kind = 'symlink'"),
            postgresql_where=text("until IS NULL AND kind = 'symlink'"),
        ),
        # Who may name a blob, from the index alone (``core/possession.py``, migration 0016).
        Index("ix_entries_digest_dataset_kind", "digest", "dataset_id", "kind"),
        Index("ix_entries_history", "dataset_id", "space", "path", "since"),
        Index("ix_entries_since", "dataset_id", "since"),
        Index("ix_entries_until", "dataset_id", "until"),
        CheckConstraint("space IN ('f', 'r')", name="space"),
        # Comparisons, not "kind IN (...)": SQLite builds a temporary index of an IN list
        # of three or more items for every row it inserts (see migration 0007).
        CheckConstraint("kind = 'file' OR kind = 'symlink' OR kind = 'record'", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    # Files and symlinks share the key space 'f'; records have their own, 'r'.
    space: Mapped[str] = mapped_column(String(1))
    path: Mapped[str] = mapped_column(PathText)
    kind: Mapped[str] = mapped_column(String(10))
    since: Mapped[int] = mapped_column(Integer)
    until: Mapped[int | None] = mapped_column(Integer)
    digest: Mapped[str | None] = mapped_column(ForeignKey("blobs.digest"))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    media_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONDoc)
    target: Mapped[str | None] = mapped_column(Text)


class EntryAttachment(Base):
    """A blob an entry holds on to besides its own content: the attachments a record's
    value links to (Pigeon Optics' ``hash://sha256/...`` URLs). A blob is kept while any
    entry row, of any retained version, names it here; the rows go with their entry."""

    __tablename__ = "entry_attachments"

    entry_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("entries.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), primary_key=True, index=True)


class PbenchDataset(Base):
    """What a dataset made from a Pbench tarball keeps besides its entries
    (``core/pbench_datasets.py``). The tarball is a blob of its own, kept while this row
    names it. The ``server`` and ``global`` metadata namespaces live in the dataset's own
    metadata document, so that the native API shows them too."""

    __tablename__ = "pbench_datasets"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[str] = mapped_column(String(32), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(1024))
    uploaded: Mapped[datetime] = mapped_column(UTCDateTime)
    tarball_digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest"), index=True)
    tarball_size: Mapped[int] = mapped_column(BigInteger)
    metalog: Mapped[dict[str, Any]] = mapped_column(JSONDoc)
    operations: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class Lens(Base):
    """A lens (Pigeon Optics' derived dataset): its program and inputs, and how far its
    records have caught up (``core/lenses.py``, ``core/lens_builds.py``). The records
    themselves are the entries of the core dataset, written only by builds.

    ``reflects`` maps each input's data path to the input version the records reflect;
    ``built_digest`` is the program digest they were built with. ``wanted`` counts
    requests for a build, ``done`` the one the last finished build answered: a build is
    due while they differ or an input has moved past what ``reflects`` says."""

    __tablename__ = "lenses"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    map_code: Mapped[str] = mapped_column(Text)
    reduce_code: Mapped[str | None] = mapped_column(Text)
    inputs: Mapped[list[str]] = mapped_column(JSONDoc)
    program_digest: Mapped[str] = mapped_column(String(64))
    built_digest: Mapped[str | None] = mapped_column(String(64))
    reflects: Mapped[dict[str, int]] = mapped_column(JSONDoc, default=dict)
    state: Mapped[str] = mapped_column(String(10), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    wanted: Mapped[int] = mapped_column(Integer, default=1)
    done: Mapped[int] = mapped_column(Integer, default=0)
    last_build: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class LensSource(Base):
    """One input record as the lens last mapped it: the record's hash and the program's
    digest (the cache key: the same record under the same program maps alike, so it is not
    mapped again), and what the map logged. Its outputs are ``LensOutput`` rows."""

    __tablename__ = "lens_sources"

    lens_id: Mapped[int] = mapped_column(
        ForeignKey("lenses.dataset_id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(PathText, primary_key=True)
    record_hash: Mapped[str] = mapped_column(String(64))
    program_digest: Mapped[str] = mapped_column(String(64))
    log: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class LensOutput(Base):
    """One ``output(id, value)`` of one input record's map, in emission order (``seq``):
    reducing an output id reads its rows, in (source path, seq) order."""

    __tablename__ = "lens_outputs"
    __table_args__ = (Index("ix_lens_outputs_output", "lens_id", "output_id"),)

    lens_id: Mapped[int] = mapped_column(
        ForeignKey("lenses.dataset_id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(PathText, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    output_id: Mapped[str] = mapped_column(PathText)
    value: Mapped[bytes] = mapped_column(LargeBinary)  # canonical CBOR


class PbenchUserMetadata(Base):
    """A user's own ``user.*`` metadata of a Pbench dataset, seen by them alone."""

    __tablename__ = "pbench_user_metadata"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    document: Mapped[dict[str, Any]] = mapped_column(JSONDoc)


class Event(Base):
    """The global change log. ``seq`` comes from the ``counters`` row 'events', taken at the
    end of the writing transaction, so sequence order is commit order and a reader that
    resumes after seq N can never miss an event committed later with a smaller number."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_dataset_seq", "dataset_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(40))
    dataset_id: Mapped[int | None] = mapped_column(Integer)
    actor_id: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int | None] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDoc, default=dict)


class NamedVersion(Base):
    """A dataset named, within its project, by a name and a version number (UFDL's
    datasets): a version here is a dataset of its own, a copy made from another
    (``previous_version``: that one's version number, -1 for an original). The core name
    is derived from these (``core/named_versions.py``); the domain says what annotations
    the dataset's files carry."""

    __tablename__ = "named_versions"
    __table_args__ = (Index("ix_named_versions_name_version", "name", "version"),)

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(name_column(200))
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int] = mapped_column(Integer, default=-1)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domains.id"))


class VersionTag(Base):
    """A name for one version of a dataset (``v1.0`` → 7): read wherever a version number
    is, moved and deleted by those who may write to the dataset (``core/tags.py``)."""

    __tablename__ = "version_tags"

    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SigningKey(Base):
    """A secret the server signs with (UFDL's JSON Web Tokens, the OpenID Connect provider's
    RSA key), made on first use and kept here, so that tokens outlive a restart and every
    process verifies what another signed. Hex of the key's bytes."""

    __tablename__ = "signing_keys"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    secret: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServerSetting(Base):
    """A setting an admin changes while the server runs (``core/server_settings.py``)."""

    __tablename__ = "server_settings"

    key: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[Any] = mapped_column(JSONDoc, nullable=True)


class Node(Base):
    """A worker machine that runs jobs (UFDL's nodes). A request naming a node (UFDL's
    ``Node-Id`` header) acts with more rights only where the node's registrant is a member
    (``core/nodes.py``)."""

    __tablename__ = "nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ip: Mapped[str] = mapped_column(String(100))
    index: Mapped[int] = mapped_column(Integer, default=0)
    driver_version: Mapped[str | None] = mapped_column(String(100))
    hardware_generation: Mapped[str | None] = mapped_column(String(100))
    gpu_mem: Mapped[int | None] = mapped_column(BigInteger)
    cpu_mem: Mapped[int | None] = mapped_column(BigInteger)
    last_seen: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Domain(Base):
    """The kinds of data a dataset may hold annotations for (UFDL's domains): a fixed list,
    seeded by migration 0008."""

    __tablename__ = "domains"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(10), unique=True)
    description: Mapped[str] = mapped_column(String(100))


class JobClaim(Base):
    """Background work that must run in one process at a time (a lens's build, the
    garbage collector), by name: a process runs the job while its transaction holds the
    row locked (``db/claims.py``). The row itself says nothing; its lock is the claim."""

    __tablename__ = "job_claims"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)


class Counter(Base):
    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)
