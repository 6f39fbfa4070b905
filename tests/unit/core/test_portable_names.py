"""dataloft.core.names.portable_segment: a path segment as a file name Windows, macOS and
Linux can all hold, reversibly (percent-decoding gives the segment back)."""

from __future__ import annotations

import random
import re
from urllib.parse import quote, unquote

import pytest

from dataloft.core.names import fitting_segment, portable_path, portable_segment

# The rules as Microsoft documents them ("Naming Files, Paths, and Namespaces"), written out
# here independently of the code under test.
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"} | {
    f"{port}{n}" for port in ("COM", "LPT") for n in [*"0123456789", "¹", "²", "³"]
}
WINDOWS_FORBIDDEN = set('<>:"|?*\\/') | {chr(c) for c in range(32)}


def windows_problem(name: str) -> str | None:
    """Why Windows would not store a file under ``name``, or None."""
    if not name or name in (".", ".."):
        return "empty or a dot name"
    if WINDOWS_FORBIDDEN & set(name):
        return "a forbidden character"
    if name[-1] in ". ":
        return "a trailing dot or space"
    if name.partition(".")[0].rstrip(" ").upper() in WINDOWS_DEVICES:
        return "a device name"
    return None


ENCODED = [
    ("CON", "CO%4E"),
    ("con", "co%6E"),
    ("con.txt", "co%6E.txt"),
    ("Aux.tar.gz", "Au%78.tar.gz"),
    ("nul .txt", "nu%6C .txt"),
    ("PRN", "PR%4E"),
    ("com1", "com%31"),
    ("COM0", "COM%30"),
    ("LPT9.log", "LPT%39.log"),
    ("COM\u00b9", "COM%C2%B9"),
    ("lpt\u00b3.txt", "lpt%C2%B3.txt"),
    ("CONIN$", "CONIN%24"),
    ("conout$.x", "conout%24.x"),
    ("notes.", "notes%2E"),
    ("notes ", "notes%20"),
    ("...", "..%2E"),
    (" ", "%20"),
    ("CON.", "CON%2E"),
    ("12:30:00.log", "12%3A30%3A00.log"),
    ('say "hi"', "say %22hi%22"),
    ("a|b", "a%7Cb"),
    ("why?", "why%3F"),
    ("star*", "star%2A"),
    ("<tag>", "%3Ctag%3E"),
    ("back\\slash", "back%5Cslash"),
    ("tab\there", "tab%09here"),
    ("a%3Ab", "a%253Ab"),
    ("%41%", "%2541%"),
]
UNCHANGED = [
    "plain.txt",
    "100%.txt",
    "%",
    "%4",
    "%zz",
    "café ✓ 日本.txt",
    "CONSOLE",
    "CONFIG.SYS",
    "COM10",
    "LPT",
    "com",
    "aux_file.c",
    "xCON",
    ".hidden",
    " leading space",
    "a.b.c",
    "-",
]


@pytest.mark.parametrize(("segment", "encoded"), ENCODED)
def test_names_windows_cannot_hold_are_encoded(segment: str, encoded: str) -> None:
    assert windows_problem(segment) is not None or "%" in segment
    assert portable_segment(segment) == encoded
    assert windows_problem(encoded) is None
    assert unquote(encoded) == segment


@pytest.mark.parametrize("segment", UNCHANGED)
def test_portable_names_are_unchanged(segment: str) -> None:
    assert windows_problem(segment) is None
    assert portable_segment(segment) == segment


def test_paths_are_encoded_segment_by_segment() -> None:
    assert portable_path("CON/logs/12:00.log") == "CO%4E/logs/12%3A00.log"
    assert portable_path("a/b/c.txt") == "a/b/c.txt"


def test_the_encoding_is_reversible_and_always_portable() -> None:
    # Random segments over an alphabet dense in what needs care: every decodes back to
    # itself (so no two segments share an encoding), and none is a problem for Windows.
    alphabet = 'aAcCoOnNuUlLxXpPrRmMtT0123456789.%:*?"<>|\\ \t$¹²³é✓日'
    pick = random.Random(20261201)
    seen: dict[str, str] = {}
    for _ in range(20_000):
        segment = "".join(pick.choices(alphabet, k=pick.randint(1, 8)))
        if segment in (".", ".."):
            continue
        encoded = portable_segment(segment)
        assert unquote(encoded, errors="strict") == segment, (segment, encoded)
        assert windows_problem(encoded) is None, (segment, encoded)
        assert seen.setdefault(encoded, segment) == segment


@pytest.mark.parametrize(
    ("escaped", "portable"),
    [
        ("CON.json", "CO%4E.json"),
        ("con.txt.cbor", "co%6E.txt.cbor"),
        ("a%3Ab.json", "a%3Ab.json"),
        ("star*.json", "star%2A.json"),
        ("y%20.json", "y%20.json"),
        ("x..json", "x..json"),
    ],
)
def test_an_escaped_segment_keeps_its_escapes(escaped: str, portable: str) -> None:
    assert portable_segment(escaped, escaped=True) == portable


def test_url_encoded_ids_made_portable_still_decode_to_the_id() -> None:
    """Pigeon Optics' export members: a record id URL-encoded as ``encodeURIComponent``
    does, plus an extension, made portable, decodes to the id and the extension."""
    alphabet = "aAcCoOnNuUlLxXpPrRmMtT0123456789.%:*?\"<>|\\ /$¹²³é✓日!'()~-_"
    pick = random.Random(20261206)
    for _ in range(20_000):
        record_id = "".join(pick.choices(alphabet, k=pick.randint(1, 8)))
        stem = quote(record_id, safe="!'()*-._~")
        name = portable_segment(f"{stem}.json", escaped=True)
        assert unquote(name, errors="strict") == f"{record_id}.json", (record_id, name)
        assert windows_problem(name) is None, (record_id, name)


def test_names_too_long_for_a_file_system_are_shortened_distinctly() -> None:
    """Escapes make a name longer; past 255 bytes (what ext4, APFS and NTFS hold) it is
    shortened and keeps a short extension; no two segments share a name, and a shortened
    name is never another segment's unshortened one (those never hold "%7E")."""
    pick = random.Random(20261207)
    seen: dict[str, str] = {}
    shortened = 0
    for _ in range(3_000):
        body = "".join(pick.choices(":é日a.%7E~", k=pick.randint(1, 250)))
        segment = body + pick.choice(["", ".csv", ".tar.gz", "."])
        name = fitting_segment(segment)
        assert len(name.encode()) <= 255, segment
        assert windows_problem(name) is None, (segment, name)
        assert seen.setdefault(name, segment) == segment
        if name == portable_segment(segment):
            assert "%7E" not in name, segment
            continue
        shortened += 1
        assert re.search(r"%7E[0-9a-f]{16}(\.[A-Za-z0-9]{1,16})?\Z", name), name
        assert name.endswith(".csv") == segment.endswith(".csv"), name
    assert 500 < shortened < 2_500  # both kinds were tried


def test_a_shortened_name_leaves_room_for_what_extends_it() -> None:
    name = fitting_segment("\u65e5" * 250 + "-v1", limit=255 - len(".records.jsonl"))
    assert len((name + ".records.jsonl").encode()) <= 255
    assert name.startswith("\u65e5" * 70)
