"""``Loft``: the core, assembled. Every face (HTTP dialects, web UI, CLI) holds one.

A ``Loft`` owns database connections (and, on SQLite, one lookup connection per thread that
used it): close it when done, best as a context manager, ``with Loft(settings) as loft:``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from types import TracebackType

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.accounts import AccountService
from dataloft.core.archives import ArchiveService
from dataloft.core.attachments import AttachmentService
from dataloft.core.auth import AuthService
from dataloft.core.blobs import BlobService
from dataloft.core.browse import BrowseService
from dataloft.core.client_log import ClientLog
from dataloft.core.commits import CommitService
from dataloft.core.datasets import DatasetService
from dataloft.core.directory import Directory
from dataloft.core.events import EventLog
from dataloft.core.garbage import GarbageCollector
from dataloft.core.lens_builds import LensBuilder
from dataloft.core.lens_sandbox import SandboxLimits
from dataloft.core.lenses import LensService
from dataloft.core.licences import LicenceService
from dataloft.core.named_versions import NamedVersions
from dataloft.core.nodes import NodeService
from dataloft.core.oidc import ExternalIssuer, OidcProvider
from dataloft.core.passwords import Passwords
from dataloft.core.pbench_contents import PbenchContents
from dataloft.core.pbench_datasets import PbenchDatasets
from dataloft.core.pbench_visuals import Quisby
from dataloft.core.server_settings import ServerSettings
from dataloft.core.signing import SigningKeys
from dataloft.core.tags import TagService
from dataloft.core.throttle import LoginThrottle
from dataloft.core.tree import TreeService
from dataloft.core.uploads import UploadService
from dataloft.core.web_tokens import WebTokens
from dataloft.db import Database
from dataloft.db.advisory import AdvisoryDigestLocks
from dataloft.db.claims import Claims
from dataloft.db.migrate import upgrade
from dataloft.db.notifications import CHANGES, EVENTS, Listener, connect
from dataloft.db.types import utcnow
from dataloft.storage import open_blob_store
from dataloft.storage.locks import DigestLocks, FileDigestLocks

ADMIN_USERNAME = "admin"


class Loft:
    def __init__(
        self,
        settings: Settings,
        *,
        migrate: bool = True,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.clock = clock
        if settings.is_sqlite:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(
            settings.database_url,
            sqlite_synchronous=settings.sqlite_synchronous,
            pool_size=settings.db_pool_size,
        )
        try:
            if migrate:
                upgrade(self.db.engine)
            self.store = open_blob_store(
                settings.blob_url, locks=self._digest_locks(), s3=settings.s3_options
            )
        except BaseException:
            self.db.dispose()  # nobody else can: the caller gets no Loft to close
            raise
        self.events = EventLog(self.db)
        # Background work each process may start, run by one at a time (db/claims.py).
        self.claims = Claims(self.db)
        self.blobs = BlobService(
            self.db,
            self.store,
            inline_limit=settings.inline_blob_limit,
            max_size=settings.max_file_size,
        )
        self.uploads = UploadService(
            self.db,
            self.blobs,
            settings.data_dir / "uploads",
            clock,
            self.claims,
            expiry_seconds=settings.upload_expiry_seconds,
            max_in_progress=settings.max_uploads_in_progress,
        )
        self.garbage = GarbageCollector(self.claims, self.blobs, self.uploads)
        self.passwords = Passwords(
            memory_kib=settings.password_hash_memory_kib,
            passes=settings.password_hash_passes,
            min_length=settings.min_password_length,
        )
        throttle = LoginThrottle(
            self.db,
            clock,
            per_account=settings.login_failures_per_account,
            per_address=settings.login_failures_per_address,
        )
        self.auth = AuthService(
            self.db,
            self.passwords,
            clock,
            throttle=throttle,
            basic_cache_seconds=settings.basic_cache_seconds,
            token_cache_seconds=settings.token_cache_seconds,
        )
        signing = SigningKeys(self.db)
        self.web_tokens = WebTokens(
            self.db,
            signing,
            clock,
            access_seconds=settings.ufdl_access_token_seconds,
            refresh_seconds=settings.ufdl_refresh_token_seconds,
        )
        self.accounts = AccountService(
            self.db, self.events, self.passwords, admin_users=settings.admin_users
        )
        self.server_settings = ServerSettings(
            self.db, self.events, max_lifetime_days=settings.pbench_max_retention_days
        )
        self.oidc = OidcProvider(
            self.db,
            signing,
            clock,
            access_seconds=settings.oidc_access_token_seconds,
            refresh_seconds=settings.oidc_refresh_token_seconds,
        )
        self.external_issuer = (
            ExternalIssuer(
                self.db,
                self.accounts,
                issuer=settings.oidc_issuer,
                jwks_url=settings.oidc_jwks_url
                or settings.oidc_issuer.rstrip("/") + "/protocol/openid-connect/certs",
                audience=settings.oidc_client,
            )
            if settings.oidc_issuer
            else None
        )
        self.nodes = NodeService(self.db, clock)
        self.licences = LicenceService(self.db)
        self.client_log = ClientLog(self.db, self.events)
        self.datasets = DatasetService(
            self.db, self.events, self.accounts, max_name_length=settings.max_name_length
        )
        self.directory = Directory(self.db, self.events, self.accounts, self.datasets, clock)
        self.commits = CommitService(
            self.db,
            self.events,
            self.blobs,
            self.datasets,
            max_changes=settings.max_commit_changes,
            max_record_size=settings.max_record_size,
            max_path_length=settings.max_path_length,
        )
        self.quisby = Quisby(settings.pquisby_python)
        self.pbench = PbenchDatasets(
            self.db,
            self.datasets,
            self.commits,
            self.blobs,
            clock,
            max_name_length=settings.max_name_length,
        )
        self.pbench_contents = PbenchContents(
            self.db, self.pbench, max_path_length=settings.max_path_length
        )
        self.browse = BrowseService(
            self.db, self.datasets, self.blobs, max_path_length=settings.max_path_length
        )
        self.archives = ArchiveService(self.browse, self.blobs)
        self.tags = TagService(self.db, self.datasets, clock)
        self.named_versions = NamedVersions(
            self.db, self.events, self.datasets, self.commits, self.archives, self.blobs, clock
        )
        self.attachments = AttachmentService(self.db, self.datasets)
        lens_limits = SandboxLimits(
            timeout_ms=settings.lens_timeout_ms,
            memory_bytes=settings.lens_memory_mb * 1024 * 1024,
            max_output_bytes=settings.lens_max_output_mb * 1024 * 1024,
            build_seconds=settings.lens_build_seconds,
        )
        # Started by the server (``start``), not here: a CLI command builds nothing.
        self.lens_builder = LensBuilder(
            self.db,
            self.datasets,
            self.browse,
            self.commits,
            self.events,
            lens_limits,
            self.claims,
            concurrency=settings.lens_builds_at_once,
            clock=lambda: clock().timestamp(),
            watch_db=Database(
                settings.database_url, sqlite_synchronous=settings.sqlite_synchronous, pool_size=1
            ),
        )
        self.lenses = LensService(self.db, self.datasets, lens_limits, self.lens_builder)
        self.tree = TreeService(
            self.db,
            self.datasets,
            self.commits,
            max_path_length=settings.max_path_length,
        )
        # Other processes' commits, heard within milliseconds (PostgreSQL; on SQLite there
        # is one server process, and the ``dataloft`` command's commits are found by polling).
        self.notifications = (
            Listener(
                lambda: connect(self.db.url),
                self.db.origin,
                {EVENTS: self.events.heard, CHANGES: lambda _tables: self.db.changed_elsewhere()},
                on_gap=self._missed_notifications,
            )
            if self.db.dialect == "postgresql"
            else None
        )
        if self.notifications is not None:
            self.notifications.start()

    def _missed_notifications(self) -> None:
        """The listening connection was lost for a while: whatever the notifications sent
        meanwhile would have done, done now."""
        self.db.changed_elsewhere()
        self.events.notify()
        self.lens_builder.wake()

    def _digest_locks(self) -> DigestLocks | None:
        """What keeps an S3 store's publish and conditional delete apart (``storage/s3.py``):
        on PostgreSQL advisory locks, which reach every process on every machine; on
        SQLite ``flock``s in the data directory, which reach the processes of the one
        machine that holds the database (the server and ``dataloft gc``)."""
        if not self.settings.blob_url.startswith("s3:"):
            return None  # the other stores need none
        if self.settings.is_sqlite:
            return FileDigestLocks(self.settings.data_dir / "locks")
        return AdvisoryDigestLocks(self.db.engine)

    def reading(self) -> AbstractContextManager[object]:
        """Group several point lookups (authentication, a dataset, an entry) on one
        database connection, so that a request pays for one checkout from the pool."""
        return self.db.lookup()

    def bootstrap_admin(self) -> str | None:
        """On first start (no users at all) create the ``admin`` account. Returns the
        password when it had to be generated, so the caller can show it once."""
        self.accounts.promote_admins()
        if self.accounts.count_users():
            return None
        password = self.settings.admin_password or secrets.token_urlsafe(18)
        self.accounts.create_user(SYSTEM, ADMIN_USERNAME, password, is_admin=True)
        return None if self.settings.admin_password else password

    def close(self) -> None:
        if self.notifications is not None:
            self.notifications.stop()
        self.lens_builder.stop()
        self.lens_builder.watch_db.dispose()
        self.db.dispose()

    def __enter__(self) -> Loft:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
