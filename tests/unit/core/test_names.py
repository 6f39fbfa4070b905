"""dataloft.core.names: the one set of rules for names, paths and identifiers."""

from __future__ import annotations

import pytest

from dataloft.core.errors import Invalid
from dataloft.core.names import (
    RECORD_ID_MAX,
    SEGMENT_MAX_BYTES,
    USERNAME_MAX,
    ancestors,
    prefix_upper_bound,
    validate_dataset_name,
    validate_digest,
    validate_path,
    validate_record_id,
    validate_username,
)

SHA_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

# --- validate_path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "a",
        "a/b/c.txt",
        "données/été.csv",
        "日本語/ファイル",
        "emoji 🎉/x",
        "with space/and more spaces.txt",
        "a.b.c",
        "...",
        "..hidden",
        "trailing.",
        ".dotfile",
        "a/.config/b..c",
        "x" * SEGMENT_MAX_BYTES,
        "é" * (SEGMENT_MAX_BYTES // 2),  # 254 bytes in UTF-8
        "/".join(["y" * 204] * 5),  # exactly 1024 bytes
        "a\ue000b",  # private use: printable enough, and encodable
        "\U0010ffff",
    ],
)
def test_validate_path_accepts(path: str) -> None:
    assert validate_path(path) == path


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("", "must not be empty"),
        ("/a", "must be relative"),
        ("/", "must be relative"),
        ("..", "'..' segment"),
        ("a/../b", "'..' segment"),
        ("a/..", "'..' segment"),
        (".", "'.' or '..' segment"),
        ("./a", "'.' or '..' segment"),
        ("a/./b", "'.' or '..' segment"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("a/b/", "empty"),
        ("a\x00b", "control characters"),
        ("\x00", "control characters"),
        ("a\nb", "control characters"),
        ("a\rb", "control characters"),
        ("a\tb", "control characters"),
        ("a\x1fb", "control characters"),
        ("a\x7fb", "control characters"),
        ("a\x85b", "control characters"),
        ("a\u200bb", "control characters"),  # zero-width space (Cf)
        ("a\u202eb", "control characters"),  # right-to-left override (Cf)
        ("a\ufeffb", "control characters"),  # BOM (Cf)
        ("a\u2028b", "control characters"),  # line separator (Zl)
        ("a\u2029b", "control characters"),  # paragraph separator (Zp)
        ("a\\b", "backslash"),
        ("..\\x", "backslash"),
        ("/".join(["y" * 204] * 4 + ["y" * 205]), "longer than 1024 bytes"),
        ("/".join(["é" * 120] * 5), "longer than 1024 bytes"),  # 604 chars, 1204 bytes
        ("x" * (SEGMENT_MAX_BYTES + 1), f"longer than {SEGMENT_MAX_BYTES} bytes"),
        ("a/" + "é" * 128, f"longer than {SEGMENT_MAX_BYTES} bytes"),  # 128 chars, 256 bytes
    ],
)
def test_validate_path_rejects(path: str, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_path(path)
    assert problem in caught.value.message


def test_validate_path_honours_max_length() -> None:
    assert validate_path("abcd", max_length=4) == "abcd"
    with pytest.raises(Invalid, match="longer than 3 bytes"):
        validate_path("abcd", max_length=3)
    with pytest.raises(Invalid, match="longer than 3 bytes"):
        validate_path("éé", max_length=3)  # 2 characters, 4 bytes


@pytest.mark.parametrize("path", ["a\ud800b", "\udfff", "dir/\udc80.txt"])
def test_validate_path_rejects_lone_surrogates_as_invalid(path: str) -> None:
    # A lone surrogate can arrive through a JSON "\ud800" escape; it cannot be stored or
    # encoded, so it must be a clean Invalid (a 400), not a UnicodeEncodeError (a 500).
    with pytest.raises(Invalid):
        validate_path(path)


# --- validate_dataset_name ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["x", "my dataset", "a.b", "...", ".hidden", "ünïcødé ✓", "UPPER_lower-09", "x" * 250],
)
def test_validate_dataset_name_accepts(name: str) -> None:
    assert validate_dataset_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "1-250 characters"),
        ("x" * 251, "1-250 characters"),
        (".", "no '/', '\\', '.' or '..'"),
        ("..", "no '/', '\\', '.' or '..'"),
        ("a/b", "no '/'"),
        ("/", "no '/'"),
        ("a\\b", "'\\'"),
        (" x", "surrounding spaces"),
        ("x ", "surrounding spaces"),
        ("\u3000x", "surrounding spaces"),
        ("x\u00a0", "surrounding spaces"),
        ("a\x00b", "control characters"),
        ("a\tb", "control characters"),
        ("a\nb", "control characters"),
        ("a\u200bb", "control characters"),
    ],
)
def test_validate_dataset_name_rejects(name: str, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_dataset_name(name)
    assert problem in caught.value.message


def test_validate_dataset_name_honours_max_length() -> None:
    assert validate_dataset_name("abc", max_length=3) == "abc"
    with pytest.raises(Invalid, match="1-2 characters"):
        validate_dataset_name("abc", max_length=2)


def test_validate_dataset_name_rejects_lone_surrogates() -> None:
    # Neither SQLite (UTF-8) nor PostgreSQL can store a lone surrogate.
    with pytest.raises(Invalid):
        validate_dataset_name("data\ud800set")


# --- validate_username -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["a", "A", "7", "alice", "a.b", "a_b", "a-b", "a.", "a-", "a_", "x" * USERNAME_MAX],
)
def test_validate_username_accepts(name: str) -> None:
    assert validate_username(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        ".my",
        "_a",
        "-a",
        "a b",
        "a/b",
        "a@b",
        "a+b",
        "a\\b",
        "a\x00",
        "x" * (USERNAME_MAX + 1),
        "alice\n",  # '$' alone would let a trailing newline through
        "\nalice",
        # ASCII only: letters of other scripts can pass for ASCII ones
        "élise",
        "\u0430lice",  # a Cyrillic "a"
        "\uff41lice",  # a fullwidth "a"
        "alice\u0301",  # a combining accent
        "alice\u00b2",  # a superscript digit ("\d" would take it)
    ],
)
def test_validate_username_rejects(name: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_username(name)
    assert f"invalid name {name!r}" in caught.value.message
    assert "starting with a letter or digit" in caught.value.message


# --- validate_record_id ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "record_id", ["a", "a/b/../c", "/leading", " spaced ", "ünï", "x" * RECORD_ID_MAX, "\n"]
)
def test_validate_record_id_accepts(record_id: str) -> None:
    assert validate_record_id(record_id) == record_id


@pytest.mark.parametrize(
    ("record_id", "problem"),
    [
        ("", f"1-{RECORD_ID_MAX} characters"),
        ("x" * (RECORD_ID_MAX + 1), f"1-{RECORD_ID_MAX} characters"),
        ("a\x00b", "NUL"),
        ("\x00", "NUL"),
    ],
)
def test_validate_record_id_rejects(record_id: str, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_record_id(record_id)
    assert problem in caught.value.message


# --- validate_digest ---------------------------------------------------------------------------


@pytest.mark.parametrize("digest", [SHA_EMPTY, "0" * 64, "f" * 64, "0123456789abcdef" * 4])
def test_validate_digest_accepts(digest: str) -> None:
    assert validate_digest(digest) == digest


@pytest.mark.parametrize(
    "digest",
    [
        "",
        SHA_EMPTY[:-1],
        SHA_EMPTY + "0",
        SHA_EMPTY.upper(),
        "g" * 64,
        " " + SHA_EMPTY[1:],
        SHA_EMPTY[:32] + "-" + SHA_EMPTY[33:],
        SHA_EMPTY + "\n",  # '$' alone would let a trailing newline through
        "sha256:" + SHA_EMPTY,
    ],
)
def test_validate_digest_rejects(digest: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_digest(digest)
    assert f"{digest!r} is not a sha256 digest" in caught.value.message


# --- prefix_upper_bound ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "bound"),
    [
        ("a", "b"),
        ("abc", "abd"),
        ("a/", "a0"),
        ("data/2024-", "data/2024."),
        ("z", "{"),
        ("é", "ê"),
        ("\uffff", "\U00010000"),
        ("a\U0010ffff", "b"),
        ("ab\U0010ffff\U0010ffff", "ac"),
        ("a\ud7ff", "a\ue000"),  # the next code point would be a surrogate: skip them all
        ("a\ud7fe", "a\ud7ff"),
        ("\U0010fffe", "\U0010ffff"),
    ],
)
def test_prefix_upper_bound(prefix: str, bound: str) -> None:
    assert prefix_upper_bound(prefix) == bound


@pytest.mark.parametrize("prefix", ["", "\U0010ffff", "\U0010ffff" * 3])
def test_prefix_upper_bound_none_when_unbounded(prefix: str) -> None:
    assert prefix_upper_bound(prefix) is None


@pytest.mark.parametrize("prefix", ["a", "a/b", "x\U0010ffff", "\ud7ff", "é/ü", "a\uffff"])
def test_prefix_upper_bound_brackets_every_extension(prefix: str) -> None:
    bound = prefix_upper_bound(prefix)
    assert bound is not None
    assert not bound.startswith(prefix)
    extensions = ["", "\x00", "a", "/", "zzz", "\uffff", "\ue000", "\U0010ffff" * 4]
    for tail in extensions:
        assert prefix <= prefix + tail < bound
    assert bound.encode()  # encodable as UTF-8: usable as a query parameter


# --- ancestors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a", []),
        ("a/b", ["a"]),
        ("a/b/c", ["a", "a/b"]),
        ("x/y/z/w.txt", ["x", "x/y", "x/y/z"]),
        ("été/ü ö/f", ["été", "été/ü ö"]),
    ],
)
def test_ancestors(path: str, expected: list[str]) -> None:
    assert ancestors(path) == expected
