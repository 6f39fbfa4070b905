"""Settings: one typed object built once from ``DATALOFT_*`` environment variables.

Everything else receives a ``Settings`` instance; nothing reads the environment on its own,
so tests can run several differently configured servers in one process.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ALL_DIALECTS = ("native", "algorithmia", "pigeon")

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DATALOFT_", extra="ignore")

    data_dir: Path = Field(default=Path("dataloft-data"), description="Where data lives by default")
    database_url: str = Field(default="", description="SQLAlchemy URL; default SQLite in data_dir")
    blob_url: str = Field(
        default="", description="file:///path or memory://; default data_dir/blobs"
    )

    # Where ``dataloft serve`` listens unless given --host / --port.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    dialects: tuple[str, ...] = ALL_DIALECTS

    admin_password: str | None = Field(default=None, description="Password of the first admin")

    # Limits. Each is reported in the error message when exceeded.
    max_file_size: int = 1024 * GiB
    max_record_size: int = 20 * MiB
    max_json_body: int = 32 * MiB
    # Each attachment uploaded with a Pigeon Optics record write (its maxAttachmentSize).
    max_attachment_size: int = 1 * GiB
    max_commit_changes: int = 100_000
    max_path_length: int = 1024
    max_name_length: int = 250
    # Blobs up to this size live inline in the database: one query serves a small record.
    inline_blob_limit: int = 4 * KiB
    # Unreferenced blobs younger than this survive garbage collection, so a client can upload
    # blobs first and commit them afterwards. ``dataloft gc`` uses it unless --grace-hours.
    gc_grace_seconds: int = Field(default=24 * 3600, ge=0)

    sqlite_synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL|EXTRA)$")
    db_pool_size: int = 20
    event_poll_seconds: float = 1.0
    sse_keepalive_seconds: float = 15.0
    # Pigeon Optics clients expect a keep-alive comment on its event streams every 5 s.
    pigeon_keepalive_seconds: float = 5.0

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'dataloft.sqlite3').resolve()}"
        if not self.blob_url:
            self.blob_url = f"file://{(self.data_dir / 'blobs').resolve()}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
