"""Rules for names, paths and identifiers. Every dialect validates through these, so the
same bad input gets the same clear message everywhere."""

from __future__ import annotations

import hashlib
import re
import unicodedata

from dataloft.core.errors import Invalid

USERNAME_MAX = 100
TEAM_NAME_MAX = 100
RECORD_ID_MAX = 10_000
SEGMENT_MAX_BYTES = 255
# An empty file that keeps an otherwise empty folder in existence (folders are path
# prefixes). Dialects with folders (Algorithmia) create and hide it; the native API shows it.
FOLDER_MARKER = ".dataloft-folder"

# Matched with fullmatch: "$" would also accept a trailing newline. ASCII only: "\w" would
# admit every script's letters, and with them names that look like others: "alice" with a
# Cyrillic U+0430 for its "a", in fullwidth letters (U+FF41...), or followed by a combining
# mark.
USERNAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_USERNAME = re.compile(USERNAME_PATTERN)
# The rule before names were ASCII-only: any letters and digits. Accounts named then still
# exist, so a path that *looks up* an owner accepts it (see ``validate_owner_lookup``).
_STORED_USERNAME = re.compile(r"[^\W_][\w.-]*")
# Owner names nobody may take, in any case: they would pass for the server itself, its
# staff, or a route (Pigeon Optics' forbiddenAuthorNames among them). The one exception is
# FIRST_ADMIN, the site admin a new server's first start creates (``Loft.bootstrap_admin``),
# as the first account only.
FIRST_ADMIN = "admin"
RESERVED_NAMES = frozenset(
    [
        "admin",
        "administrator",
        "root",
        "system",
        "support",
        "security",
        "api",
        "www",
        "owner",
        "user",
        "author",
        "creator",
        "test",
        "guest",
        "operator",
        "debug",
        "dev",
        "staff",
        "moderator",
        "anonymous",
        "nobody",
        "dataloft",
        "abuse",
        "postmaster",
        "hostmaster",
        "webmaster",
        "noreply",
        "no-reply",
    ]
)
DIGEST_PATTERN = r"[0-9a-f]{64}"
_DIGEST = re.compile(DIGEST_PATTERN)
# type/subtype and parameters, in ASCII (RFC 9110): a name made of token characters, a
# parameter value of visible characters.
_MEDIA_NAME = r"[A-Za-z0-9!#$&^_.+-]+"
MEDIA_TYPE_PATTERN = rf"{_MEDIA_NAME}/{_MEDIA_NAME}(?:[ \t]*;[ \t]*{_MEDIA_NAME}=[!-~]+)*"
MEDIA_TYPE_MAX = 255
_MEDIA_TYPE = re.compile(MEDIA_TYPE_PATTERN)
# Control and format characters, line/paragraph separators, and lone surrogates (which no
# database can store and no UTF-8 encoder accepts).
UNPRINTABLE_CATEGORIES = ("Cc", "Cf", "Cs", "Zl", "Zp")


# In ASCII the unprintable categories hold only the C0 controls and DEL.
_ASCII_CONTROL = re.compile("[\x00-\x1f\x7f]")


def has_control(text: str) -> bool:
    # ASCII text (nearly every name and path) is searched in C: a Pbench tarball's 10,000
    # member names took 0.48 s character by character.
    if text.isascii():
        return _ASCII_CONTROL.search(text) is not None
    return any(unicodedata.category(ch) in UNPRINTABLE_CATEGORIES for ch in text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(text: str) -> bool:
    # A search in C, not a loop over characters: a bulk write checks 10,000 record ids.
    return not text.isascii() and _SURROGATE.search(text) is not None


def check_text(value: object, field: str, limit: int) -> str:
    """Free text (descriptions, tags, messages, search terms): a string of at most
    ``limit`` characters with no NUL (which PostgreSQL cannot store and SQLite truncates
    at in some operations) and no unpaired surrogates."""
    if not isinstance(value, str) or len(value) > limit:
        raise Invalid(f"{field} must be a string of at most {limit} characters")
    if "\x00" in value or _has_surrogate(value):
        raise Invalid(f"{field} must not contain NUL characters or unpaired surrogates")
    return value


def validate_username(name: str) -> str:
    """ASCII letters, digits, ``.``, ``_`` and ``-``; starts with a letter or digit (so that
    Algorithmia's ``.my`` alias and other dot-names can never be an account). The rule for
    names of users, teams and projects that are made or renamed from now on; names stored
    before it stay as they are."""
    if not 1 <= len(name) <= USERNAME_MAX or not _USERNAME.fullmatch(name):
        raise Invalid(
            f"invalid name {name!r}: use 1-{USERNAME_MAX} ASCII letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    return name


validate_team_name = validate_username


def validate_owner_lookup(name: str) -> str:
    """An owner name a request looks up rather than makes: anything ``validate_username``
    ever allowed, so that accounts named before names were ASCII-only stay addressable. It
    still starts with a letter or digit, which keeps ``.my`` and other dot-names out."""
    if not 1 <= len(name) <= USERNAME_MAX or not _STORED_USERNAME.fullmatch(name):
        raise Invalid(
            f"invalid name {name!r}: names are 1-{USERNAME_MAX} letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    return name


def owner_key(name: str) -> str:
    """The form in which user and team names are compared: names that differ only in case
    are one name (``Alice`` is ``alice``)."""
    return name.lower()


def check_not_reserved(name: str) -> str:
    """Refuse a name in ``RESERVED_NAMES``, in any case, for a new user or team."""
    if owner_key(name) in RESERVED_NAMES:
        raise Invalid(f"{name!r} is a reserved name; choose another")
    return name


def validate_dataset_name(name: str, max_length: int = 250) -> str:
    """Generous, because dialects bring their own names: anything printable up to
    ``max_length`` characters except ``/`` and ``\\``, no surrounding spaces, not ``.``/``..``."""
    if not name or len(name) > max_length:
        raise Invalid(f"dataset name must be 1-{max_length} characters long")
    if name in (".", "..") or "/" in name or "\\" in name:
        raise Invalid(f"invalid dataset name {name!r}: no '/', '\\', '.' or '..'")
    if has_control(name) or name != name.strip():
        raise Invalid(f"invalid dataset name {name!r}: no control characters or surrounding spaces")
    return name


def validate_path(path: str, max_length: int = 1024) -> str:
    """A file path inside a dataset: relative, ``/``-separated, no ``.``/``..``/empty
    segments, no backslashes or control characters (NUL included)."""
    if not path:
        raise Invalid("path must not be empty")
    if has_control(path):
        raise Invalid(f"path {path!r} contains control characters")
    if len(path.encode()) > max_length:
        raise Invalid(f"path is longer than {max_length} bytes")
    if "\\" in path:
        raise Invalid(f"path {path!r} contains a backslash")
    if path.startswith("/"):
        raise Invalid(f"path {path!r} must be relative (no leading '/')")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise Invalid(f"path {path!r} has an empty, '.' or '..' segment")
        if len(segment.encode()) > SEGMENT_MAX_BYTES:
            raise Invalid(f"path segment longer than {SEGMENT_MAX_BYTES} bytes in {path!r}")
    return path


def validate_record_id(record_id: str) -> str:
    if not record_id or len(record_id) > RECORD_ID_MAX:
        raise Invalid(f"record id must be 1-{RECORD_ID_MAX} characters long")
    if "\x00" in record_id:
        raise Invalid("record id contains a NUL character")
    if _has_surrogate(record_id):
        raise Invalid("record id contains an unpaired surrogate")
    return record_id


def validate_digest(digest: str) -> str:
    if not _DIGEST.fullmatch(digest):
        raise Invalid(f"{digest!r} is not a sha256 digest (64 lowercase hex characters)")
    return digest


def validate_media_type(media_type: str) -> str:
    if len(media_type) > MEDIA_TYPE_MAX or not _MEDIA_TYPE.fullmatch(media_type):
        raise Invalid(f"invalid media type {media_type!r}")
    return media_type


# --- paths as file names on every system -------------------------------------------------------
#
# A valid dataset path is a valid POSIX path, but not every one is a file name Windows can
# hold (nor a FAT, exFAT or SMB volume on any system; macOS's Finder shows ":" as "/").
# Windows refuses the characters < > : " | ? * \ and control characters, drops a trailing
# dot or space, and reads CON, PRN, AUX, NUL, COM0-9, LPT0-9 (and COM/LPT with a
# superscript 1-3, CONIN$, CONOUT$) as devices, with any extension and in any case
# ("con.txt", "Nul .tar.gz"). Extracting an archive holding such a name fails, silently
# renames the file, or writes to a device.
#
# Those paths are not refused: they are ordinary names on Linux, in S3, and in the systems
# whose APIs dataloft speaks (a log named "12:30:00.log", a C file "aux.c"); data already
# stored holds them; and a path (or a record id) becomes a local file name in archives
# only: native archives and Pigeon Optics' zip exports (single downloads are named by
# Content-Disposition, which browsers sanitise themselves).
# So archives encode them, reversibly: ``portable_segment`` replaces each offending
# character by %XX (its UTF-8 bytes, upper-case hex), escapes a "%" that is followed by two
# hex digits (so that an encoded name never collides with a stored one), and escapes the
# last character of a device name or of a name ending in a dot or space. Everything else is
# kept as it is. Decoding is percent-decoding (``urllib.parse.unquote``) of each segment.

_NOT_PORTABLE = frozenset('<>:"|?*\\' + "".join(chr(code) for code in range(32)))
_ESCAPE_LIKE = re.compile(r"%[0-9A-Fa-f]{2}")
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{port}{digit}" for port in ("COM", "LPT") for digit in "0123456789\u00b9\u00b2\u00b3"]
)


def _percent(character: str) -> str:
    return "".join(f"%{byte:02X}" for byte in character.encode())


def portable_segment(segment: str, *, escaped: bool = False) -> str:
    """``segment`` (one path segment, not empty) as a file name every system can hold,
    encoded as the comment above says; unchanged when it already is one. ``escaped``: the
    segment is percent-encoded already (Pigeon Optics names export members by the
    URL-encoded record id), so its escapes are kept as they are, and the name still
    percent-decodes to what the segment encodes."""
    name = "".join(
        _percent(ch)
        if ch in _NOT_PORTABLE or (ch == "%" and not escaped and _ESCAPE_LIKE.match(segment, index))
        else ch
        for index, ch in enumerate(segment)
    )
    if name.endswith((".", " ")):
        name = name[:-1] + _percent(name[-1])
    device = name.partition(".")[0].rstrip(" ")
    if device.upper() in _DEVICES:
        last = len(device) - 1
        name = name[:last] + _percent(name[last]) + name[last + 1 :]
    return name


# A stored segment may be SEGMENT_MAX_BYTES long, and escaping makes it longer (three
# bytes for each byte escaped), past the 255 bytes a file name may have on every common
# file system. Such a name is shortened: as much of its portable form as fits, cut between
# characters and escapes, then "%7E" and 16 hex digits of the segment's sha256, then its
# extension if it has a short one. "%7E" (an escaped "~") is never in an unshortened
# portable name ("~" is never escaped, and a stored "%7E" becomes "%257E"), so a shortened
# name is never another segment's name; archives list what each one stands for.
_SHORTENED = "%7E"
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,16}\Z")
_DIGEST_CHARS = 16
_PIECE = re.compile(r"%[0-9A-F]{2}|.", re.DOTALL)  # an escape, or one character


def fitting_segment(segment: str, limit: int = SEGMENT_MAX_BYTES) -> str:
    """``portable_segment(segment)``, shortened as the comment above says when it is longer
    than ``limit`` bytes (less, for a name that others extend: ``<root>.paths.jsonl``)."""
    name = portable_segment(segment)
    if len(name.encode()) <= limit:
        return name
    extension = _EXTENSION.search(name)
    suffix = _SHORTENED + hashlib.sha256(segment.encode()).hexdigest()[:_DIGEST_CHARS]
    suffix += extension.group() if extension else ""
    room = limit - len(suffix)
    kept, used = [], 0
    for piece in _PIECE.findall(name):
        used += len(piece.encode())
        if used > room:
            break
        kept.append(piece)
    return "".join(kept) + suffix


def portable_path(path: str) -> str:
    """A valid dataset path with each segment made portable and short enough for every
    file system (``fitting_segment``)."""
    return "/".join(fitting_segment(segment) for segment in path.split("/"))


def ancestors(path: str) -> list[str]:
    """``a/b/c`` -> ``['a', 'a/b']``: the folders a file path implies."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (code point
    order), for range scans: ``path >= prefix AND path < prefix_upper_bound(prefix)``.
    Returns None when no such string exists (the prefix is all U+10FFFF)."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = 0xE000 if 0xD800 <= last + 1 <= 0xDFFF else last + 1  # skip surrogates
            return prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return None
