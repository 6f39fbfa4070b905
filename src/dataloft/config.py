"""Settings: one typed object built once from ``DATALOFT_*`` environment variables.

Everything else receives a ``Settings`` instance; nothing reads the environment on its own,
so tests can run several differently configured servers in one process, and ``dataloft
serve --workers N`` hands the very object it built to its worker processes (it pickles).

Settings are validated at the door and frozen afterwards: a bad value is refused when the
settings are read, before anything is created, and ``load_settings`` turns the refusal into
one line that names the variable. The defaults that depend on the data directory are
computed while validating, so no code ever sees a half-filled ``Settings``.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from dataloft.core.decoding import (
    DEFAULT_ELEMENTS,
    DEFAULT_MEMBERS,
    DEFAULT_STRING_LENGTH,
    MAX_DEPTH,
    DecodeLimits,
)
from dataloft.core.errors import Invalid
from dataloft.core.passwords import (
    DEFAULT_MEMORY_KIB,
    DEFAULT_MIN_PASSWORD_LENGTH,
    DEFAULT_PASSES,
    MAX_PASSWORD_LENGTH,
    MIN_MEMORY_KIB,
    MIN_PASSES,
    MIN_PASSWORD_LENGTH_FLOOR,
    check_password_rules,
)
from dataloft.core.tar_reading import TarLimits
from dataloft.core.zip_reading import ZipLimits
from dataloft.storage.factory import check_blob_url
from dataloft.storage.s3_options import S3Options

ALL_DIALECTS = ("native", "algorithmia", "pigeon", "ufdl", "pbench", "oidc", "web")

ENV_PREFIX = "DATALOFT_"
# The test suite's own variables (DATALOFT_TEST_DATABASES, DATALOFT_TEST_POSTGRES_URL):
# neither settings nor typos.
TEST_VARIABLE_PREFIX = ENV_PREFIX + "TEST_"
# The data client's variables (dataloft_client.config: which server, which token, where
# the login file is), which a shell that runs the server may hold too: neither settings
# nor typos.
CLIENT_VARIABLES = frozenset({"DATALOFT_URL", "DATALOFT_TOKEN", "DATALOFT_CONFIG_DIR"})

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

log = logging.getLogger("dataloft.config")

# A host name (labels of letters, digits and hyphens), an IPv4 address or a bracketed IPv6
# one, and an optional port: what a Host header holds.
_HOST = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?"
)

# A size or count limit: zero or less would refuse everything (or, for a pool, hang).
Limit = Annotated[int, Field(gt=0)]
# A period in seconds: zero would spin, infinity would never fire.
Interval = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SettingsError(ValueError):
    """A setting has a value dataloft cannot use. The message is one line and names the
    variable (``DATALOFT_...``) that holds it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path = Field(default=Path("dataloft-data"), description="Where data lives by default")
    # Both default to a place under data_dir (see _default_database_url, _checked_blob_url).
    database_url: str = Field(
        default="", validate_default=True, description="SQLAlchemy URL; default SQLite in data_dir"
    )
    blob_url: str = Field(
        default="",
        validate_default=True,
        description="file:///path, s3://bucket/prefix or memory://; default data_dir/blobs",
    )
    # An s3:// blob store (storage/s3.py): the service's address when it is not AWS (MinIO,
    # Ceph, ...) and its region. Credentials are boto3's own (AWS_ACCESS_KEY_ID and
    # AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role, ...), never settings of ours.
    s3_endpoint_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    s3_region: str | None = Field(default=None, pattern=r"^[a-z0-9-]{1,50}$")
    # Whole-file downloads of blobs in S3 answered with a 307 to a presigned GET URL valid
    # this long, so that the bytes go from the bucket to the client directly.
    s3_presigned_downloads: bool = False
    s3_presign_seconds: int = Field(default=300, ge=1, le=7 * 24 * 3600)

    # Where ``dataloft serve`` listens unless given --host / --port.
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    # A second host name under which the operator exposes this same server for user content
    # only: requests for it may get HTML, SVG and other active types inline (sandboxed).
    # Unset: those are always attachments. See dataloft.api.transfer.user_content_headers.
    user_content_host: str | None = None
    # NoDecode: from the environment this is a string, which _split_dialects reads as a
    # JSON list or a comma list (pydantic-settings alone would insist on JSON).
    dialects: Annotated[tuple[str, ...], NoDecode] = ALL_DIALECTS

    # The shortest password any account may have, in every dialect (dataloft.core.passwords).
    # Declared before admin_password, whose check reads it.
    min_password_length: int = Field(
        default=DEFAULT_MIN_PASSWORD_LENGTH, ge=MIN_PASSWORD_LENGTH_FLOOR, le=MAX_PASSWORD_LENGTH
    )
    admin_password: str | None = Field(default=None, description="Password of the first admin")
    # Usernames that are admins wherever they log in (Pbench's admin-role setting; the
    # way pbench-in-a-can makes its testadmin one): made admins when their account is
    # made, and at every start. A comma list or a JSON list, like dialects.
    admin_users: Annotated[tuple[str, ...], NoDecode] = ()
    # argon2id cost of password hashes (see dataloft.core.passwords): memory in KiB, passes.
    password_hash_memory_kib: int = Field(default=DEFAULT_MEMORY_KIB, ge=MIN_MEMORY_KIB)
    password_hash_passes: int = Field(default=DEFAULT_PASSES, ge=MIN_PASSES)

    # Limits. Each is reported in the error message when exceeded.
    max_file_size: Limit = 1024 * GiB
    max_record_size: Limit = 20 * MiB
    max_json_body: Limit = 32 * MiB
    # Each attachment uploaded with a Pigeon Optics record write (its maxAttachmentSize).
    max_attachment_size: Limit = 1 * GiB
    max_commit_changes: Limit = 100_000
    max_path_length: Limit = 1024
    max_name_length: Limit = 250
    # What one decoded body (JSON, CBOR, MessagePack, YAML, a form) may hold: see
    # dataloft.core.decoding, which says why each is there. Integers and dates have fixed
    # bounds (every later read must be able to write them), not settings.
    max_decoded_elements: Limit = DEFAULT_ELEMENTS
    max_container_members: Limit = DEFAULT_MEMBERS
    max_string_length: Limit = DEFAULT_STRING_LENGTH
    # Deeper than MAX_DEPTH, the writers of a value refuse it: a value stored deeper could
    # not be read back.
    max_value_depth: int = Field(default=MAX_DEPTH, ge=1, le=MAX_DEPTH)
    # Parts of one multipart/form-data body (fields and files together).
    max_multipart_parts: Limit = 1000
    # Blobs up to this size live inline in the database: one query serves a small record.
    inline_blob_limit: int = Field(default=4 * KiB, ge=0)
    # Unreferenced blobs younger than this survive garbage collection, so a client can upload
    # blobs first and commit them afterwards. ``dataloft gc`` uses it unless --grace-hours.
    gc_grace_seconds: int = Field(default=24 * 3600, ge=0)
    # Resumable (tus) uploads, core/uploads.py: one that no bytes reached for this long
    # expires (its partial bytes are reclaimed), and a user may have at most this many
    # unfinished at once, so that nobody fills the disk with partial files.
    upload_expiry_seconds: Interval = 24 * 3600.0
    max_uploads_in_progress: Limit = 100

    sqlite_synchronous: str = Field(default="FULL", pattern="^(FULL|NORMAL|EXTRA)$")
    db_pool_size: Limit = 20
    # On PostgreSQL, the threads per server process that run point reads (a record, a
    # file's metadata): few, since their time is mostly round trips (api/pipeline.py).
    lookup_threads: Limit = 4
    event_poll_seconds: Interval = 1.0
    sse_keepalive_seconds: Interval = 15.0
    # Pigeon Optics clients expect a keep-alive comment on its event streams every 5 s.
    pigeon_keepalive_seconds: Interval = 5.0
    # An open event stream re-checks its caller's credentials and rights before every
    # batch of events and at least this often, and ends once they no longer hold.
    stream_recheck_seconds: Interval = 15.0
    # Failed password checks of one account, and from one client address, within a minute
    # before the next attempt must wait (429, Retry-After); see dataloft.core.throttle.
    login_failures_per_account: Limit = 10
    login_failures_per_address: Limit = 100
    # A password verified for HTTP Basic is trusted again for this long without argon2 (the
    # account must still be active with the same password); 0 checks every request.
    basic_cache_seconds: float = Field(default=60.0, ge=0, allow_inf_nan=False)
    # On PostgreSQL, a token's row is trusted again for this long without a lookup while
    # this process commits nothing, so another process's change to it (a revocation by a
    # second server process or the command line) counts only after this long; 0 (the
    # default) looks every token up. SQLite sees every commit at once and needs no
    # interval (core/auth.py: _RecentTokens).
    token_cache_seconds: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    # Encoded record indexes (immutable at a version) kept in memory per process, in bytes;
    # the least recently used go first. 0 keeps none.
    index_cache_bytes: int = Field(default=64 * MiB, ge=0)
    # Whether login cookies carry Secure: "auto" when the client reached the server over
    # HTTPS (directly, or per X-Forwarded-Proto from a TLS-terminating proxy).
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    # Who may read /metrics (api/probes.py): site admins' tokens and sessions, anyone, or
    # nobody (404).
    metrics: Literal["admin", "public", "off"] = "admin"
    # A zip archive uploaded to be unpacked (UFDL's files-multi): members, their total
    # uncompressed size, and how much a member of over 1 MiB may expand (core/zip_reading.py).
    max_zip_entries: Limit = 10_000
    max_zip_bytes: Limit = 10 * GiB
    max_zip_ratio: Limit = 200
    # A Pbench tarball, indexed as it is uploaded (core/tar_reading.py): members, their
    # total unpacked size, and how many times the bytes read so far it may unpack to.
    max_tar_members: Limit = 100_000
    max_tar_bytes: Limit = 64 * GiB
    max_tar_ratio: Limit = 200
    # Lifetimes of the JSON Web Tokens UFDL clients obtain with a password (core/web_tokens.py):
    # the access token each request sends, and the refresh token that buys a new one.
    ufdl_access_token_seconds: int = Field(default=5 * 60, ge=1)
    ufdl_refresh_token_seconds: int = Field(default=8 * 3600, ge=1)
    # How long a Pbench dataset is kept, in days: the expiry an upload is given, and the
    # longest an owner may set (Pbench Server's default and maximum retention; the maximum
    # is /api/v1/server/settings' dataset-lifetime until an admin sets it).
    pbench_retention_days: int = Field(default=730, ge=1)
    pbench_max_retention_days: int = Field(default=3650, ge=1)
    # A Python interpreter in which pquisby is installed, for Pbench's visualize and
    # compare (core/pbench_visuals.py); unset, those two answer 503.
    pquisby_python: str | None = None
    # Lenses (docs/lenses.md): the CPU time one map or reduce call may take (the original's
    # lensTimeout was 50 ms), the memory its JavaScript heap may use, what one input
    # record's outputs may hold (encoded), the wall-clock budget of one build, and how many
    # lenses build at once.
    lens_timeout_ms: int = Field(default=50, ge=1, le=60_000)
    lens_memory_mb: int = Field(default=64, ge=8, le=4096)
    lens_max_output_mb: int = Field(default=8, ge=1, le=1024)
    lens_build_seconds: float = Field(default=600.0, gt=0)
    lens_builds_at_once: int = Field(default=2, ge=1, le=64)
    # The built-in OpenID Connect provider (core/oidc.py; Pbench's clients log in there):
    # its realm and client id, as Pbench's clients are told them (/api/v1/endpoints), and
    # the lifetimes of its tokens (Keycloak's defaults: 5 and 30 minutes).
    oidc_realm: str = Field(default="pbench-server", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    oidc_client: str = Field(default="pbench-client", pattern=r"^[A-Za-z0-9_.-]{1,100}$")
    oidc_access_token_seconds: int = Field(default=5 * 60, ge=1)
    oidc_refresh_token_seconds: int = Field(default=30 * 60, ge=1)
    # Trust an external OpenID provider instead (its issuer URL, e.g.
    # https://keycloak.example/realms/pbench-server): Pbench's clients are sent there to log
    # in, and its tokens, checked against its JWKS (DATALOFT_OIDC_JWKS_URL, by default the
    # issuer's /protocol/openid-connect/certs), name dataloft users.
    oidc_issuer: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    oidc_jwks_url: str | None = Field(default=None, pattern=r"^https?://[^\s]+$")
    # Processes that decode and encode large request bodies (a 20 MiB bulk write), so that
    # the interpreter lock of the serving process stays free for other requests.
    worker_processes: Limit = 2

    @field_validator("database_url")
    @classmethod
    def _default_database_url(cls, value: str, info: ValidationInfo) -> str:
        data_dir = info.data.get("data_dir")  # absent when data_dir itself was refused
        if value or data_dir is None:
            return value
        return f"sqlite:///{(data_dir / 'dataloft.sqlite3').resolve()}"

    @field_validator("blob_url")
    @classmethod
    def _checked_blob_url(cls, value: str, info: ValidationInfo) -> str:
        data_dir = info.data.get("data_dir")
        if not value:
            if data_dir is None:
                return value
            value = f"file://{(data_dir / 'blobs').resolve()}"
        check_blob_url(value)  # BlobConfigError is a ValueError: pydantic reports it
        return value

    @field_validator("user_content_host")
    @classmethod
    def _host_name(cls, value: str | None) -> str | None:
        """A host name or address, with a port or without, as a ``Host`` header carries it;
        kept in lower case (host names are not case-sensitive). Empty means unset."""
        if value is None or not value.strip():
            return None
        host = value.strip().lower().removesuffix(".")
        if not _HOST.fullmatch(host):
            raise ValueError(
                f"not a host name {value!r}: give a name such as usercontent.example.net, "
                "with :port when the port is not the default one"
            )
        return host

    @field_validator("dialects", "admin_users", mode="before")
    @classmethod
    def _split_dialects(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(
                    f"not a JSON list ({error}); give a JSON list or names separated by commas"
                ) from None
        return [name.strip() for name in text.split(",") if name.strip()]

    @field_validator("dialects")
    @classmethod
    def _known_dialects(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = ", ".join(ALL_DIALECTS)
        unknown = [name for name in value if name not in ALL_DIALECTS]
        if unknown:
            raise ValueError(f"unknown dialect {', '.join(map(repr, unknown))}; known: {known}")
        if not value:
            raise ValueError(f"name at least one dialect; known: {known}")
        return tuple(dict.fromkeys(value))  # each mounted once, in the order given

    @field_validator("admin_password")
    @classmethod
    def _admin_password_rules(cls, value: str | None, info: ValidationInfo) -> str | None:
        """The password rules every account follows, checked now rather than at the first
        start, after the database has been created."""
        if value is not None:
            min_length = info.data.get("min_password_length", DEFAULT_MIN_PASSWORD_LENGTH)
            try:
                check_password_rules(value, min_length)
            except Invalid as error:
                raise ValueError(error.message) from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The sources stay pydantic-settings' own; this hook is where the variables the
        environment source has just read can be looked at, so that the environment is read
        in one place only, and a typo in a variable's name is reported, not silently
        ignored."""
        if isinstance(env_settings, EnvSettingsSource):
            _warn_about_unknown_variables(env_settings.env_vars, set(cls.model_fields))
        return init_settings, env_settings, dotenv_settings, file_secret_settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def s3_options(self) -> S3Options:
        """How an s3:// blob store reaches its service."""
        return S3Options(
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            presign_seconds=self.s3_presign_seconds if self.s3_presigned_downloads else None,
        )

    @property
    def tar_limits(self) -> TarLimits:
        return TarLimits(
            members=self.max_tar_members,
            total_bytes=self.max_tar_bytes,
            ratio=self.max_tar_ratio,
            name_bytes=self.max_path_length,
        )

    @property
    def zip_limits(self) -> ZipLimits:
        return ZipLimits(
            entries=self.max_zip_entries,
            total_bytes=self.max_zip_bytes,
            ratio=self.max_zip_ratio,
            name_bytes=self.max_path_length,
        )

    @property
    def decode_limits(self) -> DecodeLimits:
        """The limits every decoder of a client's body keeps to."""
        return DecodeLimits(
            depth=self.max_value_depth,
            elements=self.max_decoded_elements,
            members=self.max_container_members,
            string_length=self.max_string_length,
        )


def variable(setting: str) -> str:
    """The environment variable of a setting: ``max_file_size`` -> ``DATALOFT_MAX_FILE_SIZE``."""
    return ENV_PREFIX + setting.upper()


def _warn_about_unknown_variables(env_vars: Mapping[str, str | None], fields: set[str]) -> None:
    """``env_vars`` as pydantic-settings read them (names lower-cased: settings are not
    case-sensitive)."""
    prefix, test_prefix = ENV_PREFIX.lower(), TEST_VARIABLE_PREFIX.lower()
    for name in sorted(env_vars):
        if not name.startswith(prefix) or name.startswith(test_prefix):
            continue
        if name.upper() in CLIENT_VARIABLES:
            continue
        setting = name.removeprefix(prefix)
        if setting in fields:
            continue
        close = difflib.get_close_matches(setting, fields, n=1)
        hint = f" (did you mean {variable(close[0])}?)" if close else ""
        log.warning("ignoring %s: there is no such setting%s", name.upper(), hint)


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as one line, each naming the variable it is about."""
    problems = []
    for problem in error.errors():
        name = variable(str(problem["loc"][0])) if problem["loc"] else "settings"
        if problem["type"] == "value_error":
            # Our own validators' messages: they already say what was given and expected.
            text = str(problem["ctx"]["error"])
        else:
            message = problem["msg"]
            text = f"{message[:1].lower()}{message[1:]} (got {problem['input']!r})"
        problems.append(f"{name}: {text}")
    return "; ".join(problems)


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment, with ``overrides`` (keyword per setting) on top.
    Raises ``SettingsError`` with a one-line message when a value is refused."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
