"""Settings: read from ``DATALOFT_*`` variables, validated at the door, frozen, documented.

Each rule is checked through the environment, the way an operator meets it: a good value is
taken, a bad one is a one-line ``SettingsError`` that names the variable.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from dataloft.api.app import available_dialects
from dataloft.config import (
    ALL_DIALECTS,
    CLIENT_VARIABLES,
    TEST_VARIABLE_PREFIX,
    Settings,
    SettingsError,
    load_settings,
    variable,
)
from dataloft.core.decoding import DecodeLimits

DOCS = Path(__file__).resolve().parents[2] / "docs"

LIMITS = [
    "max_file_size",
    "max_record_size",
    "max_json_body",
    "max_attachment_size",
    "max_commit_changes",
    "max_path_length",
    "max_name_length",
    "max_decoded_elements",
    "max_container_members",
    "max_string_length",
    "max_multipart_parts",
    "db_pool_size",
]
INTERVALS = [
    "event_poll_seconds",
    "sse_keepalive_seconds",
    "pigeon_keepalive_seconds",
    "stream_recheck_seconds",
]
MAY_BE_ZERO = ["inline_blob_limit", "gc_grace_seconds"]

Env = Callable[..., None]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Env:
    """Set ``DATALOFT_<NAME>`` variables (by setting name) in an environment holding no
    other setting; run in an empty working directory, as the defaults are relative."""
    for name in list(os.environ):
        if name.startswith("DATALOFT_") and not name.startswith(TEST_VARIABLE_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)

    def set_settings(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(variable(name), value)

    return set_settings


def refused(setting: str, value: str, env: Env) -> str:
    """The one-line message for ``DATALOFT_<SETTING>=value``; it names the variable."""
    env(**{setting: value})
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{variable(setting)}: "), message
    assert "\n" not in message
    return message


# --- defaults, immutability, pickling --------------------------------------------------------


def test_defaults_live_under_the_data_dir(env: Env, tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.data_dir == Path("dataloft-data")
    assert settings.database_url == f"sqlite:///{tmp_path / 'dataloft-data' / 'dataloft.sqlite3'}"
    assert settings.blob_url == f"file://{tmp_path / 'dataloft-data' / 'blobs'}"
    assert settings.is_sqlite
    assert settings.dialects == ALL_DIALECTS
    assert not (tmp_path / "dataloft-data").exists()  # reading settings creates nothing

    env(data_dir="/srv/loft")
    moved = load_settings()
    assert moved.database_url == "sqlite:////srv/loft/dataloft.sqlite3"
    assert moved.blob_url == "file:///srv/loft/blobs"


def test_explicit_urls_win_over_the_data_dir_defaults(env: Env) -> None:
    env(data_dir="/srv/loft", database_url="postgresql://db/loft", blob_url="memory://")
    settings = load_settings()
    assert (settings.database_url, settings.blob_url) == ("postgresql://db/loft", "memory://")
    assert not settings.is_sqlite


def test_keyword_overrides_win_over_the_environment(env: Env) -> None:
    env(port="9000", data_dir="/from/env")
    settings = load_settings(port=9001, data_dir=Path("/from/cli"))
    assert settings.port == 9001
    assert settings.database_url == "sqlite:////from/cli/dataloft.sqlite3"


def test_settings_are_frozen(env: Env) -> None:
    settings = load_settings()
    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        settings.database_url = "sqlite:///elsewhere"  # type: ignore[misc]


def test_settings_pickle(env: Env) -> None:
    """``serve --workers`` hands its settings to the worker processes by pickling them."""
    env(dialects="native,pigeon", max_file_size="1000", blob_url="memory://")
    settings = load_settings(port=1234)
    again = pickle.loads(pickle.dumps(settings))
    assert again == settings
    assert again.dialects == ("native", "pigeon")
    assert (again.port, again.max_file_size, again.blob_url) == (1234, 1000, "memory://")


# --- limits and intervals --------------------------------------------------------------------


@pytest.mark.parametrize("setting", LIMITS)
def test_limits_must_be_positive_integers(setting: str, env: Env) -> None:
    env(**{setting: "1"})
    assert getattr(load_settings(), setting) == 1
    assert "greater than 0 (got '0')" in refused(setting, "0", env)
    assert "greater than 0 (got '-5')" in refused(setting, "-5", env)
    assert "valid integer" in refused(setting, "lots", env)
    assert "valid integer" in refused(setting, "1.5", env)


@pytest.mark.parametrize("setting", INTERVALS)
def test_intervals_must_be_positive_and_finite(setting: str, env: Env) -> None:
    env(**{setting: "0.25"})
    assert getattr(load_settings(), setting) == 0.25
    assert "greater than 0 (got '0')" in refused(setting, "0", env)
    assert "greater than 0" in refused(setting, "-1", env)
    assert "finite number" in refused(setting, "inf", env)
    assert "finite number" in refused(setting, "nan", env)
    assert "valid number" in refused(setting, "soon", env)


@pytest.mark.parametrize("setting", MAY_BE_ZERO)
def test_inline_limit_and_gc_grace_may_be_zero(setting: str, env: Env) -> None:
    env(**{setting: "0"})
    assert getattr(load_settings(), setting) == 0
    assert "greater than or equal to 0" in refused(setting, "-1", env)


def test_value_depth_is_at_most_what_every_writer_handles(env: Env) -> None:
    env(max_value_depth="50")
    assert load_settings().decode_limits == DecodeLimits(depth=50)
    assert "less than or equal to 200 (got '201')" in refused("max_value_depth", "201", env)
    assert "greater than or equal to 1 (got '0')" in refused("max_value_depth", "0", env)


def test_decoding_limits_come_from_their_settings(env: Env) -> None:
    assert load_settings().decode_limits == DecodeLimits()
    env(max_decoded_elements="10", max_container_members="5", max_string_length="7")
    limits = load_settings().decode_limits
    assert (limits.elements, limits.members, limits.string_length) == (10, 5, 7)


def test_stream_recheck_seconds_defaults_to_15(env: Env) -> None:
    assert load_settings().stream_recheck_seconds == 15.0


@pytest.mark.parametrize("port", ["0", "8080", "65535"])
def test_port_in_range(port: str, env: Env) -> None:
    env(port=port)
    assert load_settings().port == int(port)


@pytest.mark.parametrize(
    ("port", "message"),
    [("-1", "greater than or equal to 0"), ("65536", "less than or equal to 65535"), ("http", "")],
)
def test_port_out_of_range(port: str, message: str, env: Env) -> None:
    assert message in refused("port", port, env)


def test_sqlite_synchronous_is_one_of_the_pragma_values(env: Env) -> None:
    env(sqlite_synchronous="NORMAL")
    assert load_settings().sqlite_synchronous == "NORMAL"
    assert "FULL|NORMAL|EXTRA" in refused("sqlite_synchronous", "OFF", env)


# --- dialects --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("native,pigeon", ("native", "pigeon")),
        (" native , pigeon ,", ("native", "pigeon")),
        ("algorithmia", ("algorithmia",)),
        ('["native", "pigeon"]', ("native", "pigeon")),
        ("pigeon,native,pigeon", ("pigeon", "native")),  # each mounted once
    ],
)
def test_dialects_take_a_comma_list_or_a_json_list(
    value: str, expected: tuple[str, ...], env: Env
) -> None:
    env(dialects=value)
    assert load_settings().dialects == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "native,lenses",
            "unknown dialect 'lenses'; known: native, algorithmia, pigeon, ufdl, pbench, oidc",
        ),
        ('["native", "nope"]', "unknown dialect 'nope'"),
        ("Native", "unknown dialect 'Native'"),
        ("", "name at least one dialect"),
        (" , ", "name at least one dialect"),
        ("[]", "name at least one dialect"),
        ('["native"', "not a JSON list"),
        ("[1]", "valid string"),
    ],
)
def test_unknown_or_no_dialects_are_refused(value: str, message: str, env: Env) -> None:
    assert message in refused("dialects", value, env)


def test_dialects_given_as_a_keyword_are_checked_too(env: Env) -> None:
    assert load_settings(dialects=("native",)).dialects == ("native",)
    with pytest.raises(SettingsError, match="DATALOFT_DIALECTS: unknown dialect 'x'"):
        load_settings(dialects=("native", "x"))


def test_every_known_dialect_is_one_the_app_can_mount() -> None:
    """create_app trusts the settings to name only dialects it has."""
    assert set(ALL_DIALECTS) == set(available_dialects())


# --- blob store URL --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["file://{root}", "file://localhost{root}", "memory://", "s3://bucket/prefix"]
)
def test_blob_urls_the_stores_open(url: str, env: Env, tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    env(blob_url=url.format(root=root))
    assert load_settings().blob_url == url.format(root=root)
    assert not root.exists()  # checked, not opened


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("s3x://bucket/prefix", "unknown blob store scheme 's3x'"),
        ("s3://Bucket/prefix", "not a valid S3 bucket name 'Bucket'"),
        ("/srv/blobs", "unknown blob store scheme ''"),
        ("file://fileserver/blobs", "must be local, got host 'fileserver'"),
        ("file://", "needs an absolute path"),
    ],
)
def test_blob_urls_no_store_opens_are_refused(url: str, message: str, env: Env) -> None:
    assert message in refused("blob_url", url, env)


# --- passwords -------------------------------------------------------------------------------


def test_password_hash_cost_defaults_to_7_mib_and_5_passes(env: Env) -> None:
    settings = load_settings()
    assert (settings.password_hash_memory_kib, settings.password_hash_passes) == (7 * 1024, 5)


def test_password_hash_cost_down_to_argons_minimums(env: Env) -> None:
    env(password_hash_memory_kib="8", password_hash_passes="1")
    settings = load_settings()
    assert (settings.password_hash_memory_kib, settings.password_hash_passes) == (8, 1)
    assert "greater than or equal to 8" in refused("password_hash_memory_kib", "7", env)
    env(password_hash_memory_kib="8")
    assert "greater than or equal to 1" in refused("password_hash_passes", "0", env)


def test_admin_password_follows_the_password_rules(env: Env) -> None:
    env(admin_password="long-enough")
    assert load_settings().admin_password == "long-enough"
    message = refused("admin_password", "short", env)
    assert message == "DATALOFT_ADMIN_PASSWORD: password must be 8-1024 characters long"


def test_min_password_length_is_a_setting_the_admin_password_follows_too(env: Env) -> None:
    assert load_settings().min_password_length == 8
    env(min_password_length="6", admin_password="123456")
    assert (load_settings().min_password_length, load_settings().admin_password) == (6, "123456")
    message = refused("admin_password", "12345", env)
    assert message == "DATALOFT_ADMIN_PASSWORD: password must be 6-1024 characters long"
    assert "greater than or equal to 1" in refused("min_password_length", "0", env)


# --- errors ----------------------------------------------------------------------------------


def test_several_bad_settings_are_one_line_naming_each(env: Env) -> None:
    env(max_file_size="-5", dialects="nope", port="99999")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "\n" not in message
    for name in ("DATALOFT_MAX_FILE_SIZE", "DATALOFT_DIALECTS", "DATALOFT_PORT"):
        assert name in message


def test_settings_error_is_a_value_error() -> None:
    assert issubclass(SettingsError, ValueError)


# --- unknown variables -----------------------------------------------------------------------


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "dataloft.config"]


def test_an_unknown_variable_is_reported_with_the_setting_meant(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DATALOFT_MAX_FILESIZE", "1000")
    with caplog.at_level(logging.WARNING, logger="dataloft.config"):
        settings = load_settings()
    assert settings.max_file_size == Settings.model_fields["max_file_size"].default  # ignored
    assert warnings(caplog) == [
        "ignoring DATALOFT_MAX_FILESIZE: there is no such setting "
        "(did you mean DATALOFT_MAX_FILE_SIZE?)"
    ]


def test_an_unknown_variable_like_no_setting_gets_no_suggestion(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DATALOFT_COLOUR_SCHEME", "dark")
    with caplog.at_level(logging.WARNING, logger="dataloft.config"):
        load_settings()
    assert warnings(caplog) == ["ignoring DATALOFT_COLOUR_SCHEME: there is no such setting"]


def test_known_and_test_suite_variables_are_not_reported(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    env(max_file_size="1000", dialects="native")
    monkeypatch.setenv("DATALOFT_TEST_DATABASES", "sqlite")
    monkeypatch.setenv("DATALOFT_TEST_POSTGRES_URL", "postgresql://x/y")
    monkeypatch.setenv("NOT_DATALOFT_MAX_FILESIZE", "1")
    for client_variable in CLIENT_VARIABLES:  # the data client's, in the same shell
        monkeypatch.setenv(client_variable, "x")
    with caplog.at_level(logging.WARNING, logger="dataloft.config"):
        assert load_settings().max_file_size == 1000
    assert warnings(caplog) == []


# --- documentation ---------------------------------------------------------------------------


def named_settings(page: Path) -> set[str]:
    """The settings a page names as ``DATALOFT_<NAME>`` (the test suite's and the data
    client's own variables aside), upper case, without the prefix."""
    names = set(re.findall(r"\bDATALOFT_([A-Z0-9_]+)", page.read_text()))
    return {
        name
        for name in names
        if not f"DATALOFT_{name}".startswith(TEST_VARIABLE_PREFIX)
        and f"DATALOFT_{name}" not in CLIENT_VARIABLES
    }


def test_every_setting_is_documented_and_the_docs_name_no_other() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    documented = named_settings(DOCS / "configuration.md")
    assert settings - documented == set(), "settings missing from docs/configuration.md"
    for page in sorted(DOCS.glob("*.md")):
        assert named_settings(page) - settings == set(), f"docs/{page.name} names no setting"
