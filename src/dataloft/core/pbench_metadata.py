"""Pbench's dataset metadata, as pure rules: its key paths and namespaces, which keys a
client may write, how each special key's value is checked and stored, the upload's
``metadata`` query parameter, and the ``metadata.log`` a result tarball carries. No
database and no HTTP here: the Pbench dialect and the core service call these, and the
texts of the errors are the ones Pbench's clients see (reference ``pbench.md`` §3.3, §3.8,
§4), so they are worded exactly as the original server words them, quirks included.

The model. A key is a dotted path whose first segment names a namespace:

* ``dataset``: read-only columns of the dataset (``access``, ``name``, ``owner``,
  ``uploaded``, ``metalog``, ``operations``); only ``dataset.name`` may be written;
* ``server``: kept by the server; a client may write ``server.deletion``,
  ``server.archiveonly`` and ``server.origin`` only;
* ``global``: free JSON, written by the owner, read by every reader;
* ``user``: free JSON kept per (dataset, user), seen only by the user who wrote it.

Reading is lenient and writing is strict, on purpose. A read names any path under a
known namespace (``metadata.log`` sections such as ``iterations/1-default`` hold
characters a write may not create), the namespace matched case-insensitively and each
later segment first as written, then lower-cased (ConfigParser lower-cases options). A
write path must be lower-case letters, digits, ``_``, ``-`` and dots once lower-cased,
and is stored lower-cased; the keys of an object written must be ``[a-z0-9_-]+`` as
sent. (The original compares its special keys with the path *as sent*, so
``SERVER.DELETION`` slipped past validation; here a key is lower-cased before it is
recognised, so every spelling is checked the same way.)

``normalise`` is not idempotent: ``server.deletion`` is stored as the day *after* the
date given, so a stored value must never be normalised again. The upload's parameter
parser therefore checks values by the same rules but returns them as typed, not
normalised; the caller normalises once, against the new dataset.
"""

from __future__ import annotations

import configparser
import copy
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

# python-dateutil ships no type information (and no stubs are installed).
from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.pbench_casts import parse_date as read_date
from dataloft.core.pbench_casts import utc

NAMESPACES = ("dataset", "global", "server", "user")

DATASET_NAME = "dataset.name"
SERVER_DELETION = "server.deletion"
SERVER_ARCHIVEONLY = "server.archiveonly"
SERVER_ORIGIN = "server.origin"
# Whole namespaces a client may write anywhere inside.
OPEN_NAMESPACES = ("global", "user")
# The keys a client may write: these exactly, and any path under an open namespace.
WRITABLE_KEYS = (DATASET_NAME, SERVER_ARCHIVEONLY, SERVER_DELETION, SERVER_ORIGIN)

# A dataset's display name: the original's column is VARCHAR(1024), counted in characters.
DATASET_NAME_MAX = 1024
# A metadata.log is a few kilobytes; this bounds what a crafted tarball makes us parse.
METALOG_MAX_BYTES = 1 << 20
# The types an upload's ``key:value:type`` may name, in the order its error lists them.
UPLOAD_TYPES = ("bool", "float", "int", "json", "str")

_QUOTES = "'\""
_TRUE = frozenset({"t", "true", "y", "yes"})
_FALSE = frozenset({"f", "false", "n", "no"})
_WRITE_PATH_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")
_JSON_KEY_CHARS = _WRITE_PATH_CHARS - {"."}
_ONE_DAY = timedelta(days=1)


class MetadataErrors(Invalid):
    """Several metadata items are wrong at once: ``errors`` holds one text per item, in
    the order given, and the dialect renders ``{"message": ..., "errors": [...]}``."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("at least one specified metadata key is invalid")
        self.errors = errors


# --- texts shared with the other Pbench parameters ------------------------------------------


def conversion_message(value: object, expected: str) -> str:
    """The text of a parameter value that is not of its type ("Value 'x' (str) cannot be
    parsed as a boolean"); ``expected`` is worded as the original words it ("int",
    "date/time string", "JSON", ...)."""
    return f"Value {value!r} ({type(value).__name__}) cannot be parsed as a {expected}"


def unrecognized_list_message(
    parameter: str, bad: Iterable[str], expected: Sequence[str] = NAMESPACES
) -> str:
    """The text of list parameter elements that are not recognised, for the ``metadata``
    parameter of the metadata, list and detail APIs alike (all bad elements, sorted)."""
    values = sorted(bad)
    plural = "s" if len(values) > 1 else ""
    return (
        f"Unrecognized list value{plural} {values!r} given for parameter {parameter};"
        f" expected {list(expected)!r}"
    )


def unrecognized_json_keys_message(bad: Iterable[str]) -> str:
    """The text of a metadata update naming keys it may not write (all of them, sorted)."""
    keys = sorted(bad)
    plural = "s" if len(keys) > 1 else ""
    return f"Unrecognized JSON key{plural} {keys!r} for parameter metadata."


def dataset_label(owner: str, name: str) -> str:
    """How the original names a dataset inside its metadata errors: ``(owner)|name``."""
    return f"({owner})|{name}"


# --- the shared vocabularies ----------------------------------------------------------------


def parse_bool(value: str | bool) -> bool:
    """A boolean parameter: a bare key (``?mine``, value ``""``), t/true/y/yes or
    f/false/n/no, in any case, or a JSON boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.lower()
        if word == "" or word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise Invalid(conversion_message(value, "boolean"))


def parse_date(value: str) -> datetime:
    """A date/time parameter, read as leniently as ``dateutil`` reads it ("12/17/2026
    10:00+0000" included; ``core.pbench_casts.parse_date``), in UTC: a time without an
    offset is UTC (the original took the server's local zone, UTC on every server it
    documents), so it compares with the dataset times the server keeps."""
    try:
        return read_date(value)
    except (ValueError, OverflowError, TypeError) as error:
        raise Invalid(conversion_message(value, "date/time string")) from error


# --- key paths ----------------------------------------------------------------------------------


def _readable(key: str) -> tuple[str, list[str]] | None:
    segments = key.split(".")
    # An empty segment (``a..b``, a trailing dot, an empty key) addresses nothing.
    if "" in segments or segments[0].lower() not in NAMESPACES:
        return None
    return segments[0].lower(), segments[1:]


def split_key(key: str) -> tuple[str, list[str]]:
    """A key to read, as its namespace (lower-cased) and the path inside it (as given):
    ``"server.deletion"`` is ``("server", ["deletion"])``."""
    parsed = _readable(key)
    if parsed is None:
        raise Invalid(unrecognized_list_message("metadata", [key]))
    return parsed


def split_keys(keys: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``split_key`` over a whole ``metadata`` parameter: one error naming every bad key."""
    given = list(keys)
    parsed = [_readable(key) for key in given]
    bad = [key for key, split in zip(given, parsed, strict=True) if split is None]
    if bad:
        raise Invalid(unrecognized_list_message("metadata", bad))
    return [split for split in parsed if split is not None]


def get_path(document: object, path: Sequence[str]) -> Any:
    """The value at ``path`` inside a namespace's ``document``; ``None`` when a segment
    is absent or the path runs through something that is not an object. Each segment is
    looked up as given, then lower-cased (``metadata.log`` options are stored lower-case,
    while its section names keep their case)."""
    value: Any = document
    for segment in path:
        if not isinstance(value, dict):
            return None
        if segment in value:
            value = value[segment]
        elif segment.lower() in value:
            value = value[segment.lower()]
        else:
            return None
    return value


def set_path(
    document: object,
    path: Sequence[str],
    value: Any,
    *,
    namespace: str = "",
    dataset_name: str = "",
) -> Any:
    """A copy of a namespace's ``document`` (``None`` when it has none yet) with
    ``value`` at ``path``, creating the objects on the way; ``document`` is left as it
    was. An empty path replaces the whole document. A path through something that is not
    an object is ``Invalid``, naming the key whose value is in the way (``namespace``
    and ``dataset_name`` only make that text say where)."""
    if not path:
        return copy.deepcopy(value)
    full_key = ".".join([namespace, *path] if namespace else path)
    result: Any = {} if document is None else copy.deepcopy(document)
    node, holder = result, namespace or "metadata"
    for depth, segment in enumerate(path):
        if not isinstance(node, dict):
            where = f" in {dataset_name}" if dataset_name else ""
            raise Invalid(f"Key {holder!r} value for {full_key!r}{where} is not a JSON object")
        if depth == len(path) - 1:
            node[segment] = copy.deepcopy(value)
        else:
            node = node.setdefault(segment, {})
            holder = segment
    return result


def _writable(key: str) -> bool:
    lowered = key.lower()
    if lowered in WRITABLE_KEYS or lowered in OPEN_NAMESPACES:
        return True
    segments = lowered.split(".")
    return (
        "" not in segments and segments[0] in OPEN_NAMESPACES and set(lowered) <= _WRITE_PATH_CHARS
    )


def split_writable(key: str) -> tuple[str, list[str]]:
    """A key a client may write, as its namespace and path, both lower-cased as stored;
    any other key is ``Invalid`` with the metadata update's text."""
    if not _writable(key):
        raise Invalid(unrecognized_json_keys_message([key]))
    namespace, *path = key.lower().split(".")
    return namespace, path


def check_writable(key: str) -> None:
    """``dataset.name``, ``server.deletion``, ``server.archiveonly``, ``server.origin``
    and ``global``/``user`` paths of ``[a-z0-9_.-]`` may be written; else ``Invalid``."""
    split_writable(key)


def check_json_keys(value: Any) -> list[str]:
    """The keys of the objects nested in a value to be written that a key path could not
    name (not ``[a-z0-9_-]+``), in document order. Arrays are data, not paths: objects
    inside them are not looked at (nor were they by the original)."""
    bad: list[str] = []
    if isinstance(value, dict):
        for name, inner in value.items():
            if not (isinstance(name, str) and name and set(name) <= _JSON_KEY_CHARS):
                bad.append(str(name))
            bad.extend(check_json_keys(inner))
    return bad


def check_update(metadata: object) -> dict[str, Any]:
    """The ``metadata`` object of a metadata update (``PUT .../metadata``), its keys
    checked: every key not writable and every bad nested key, reported in one error."""
    if metadata is None:
        raise Invalid("Missing required parameters: metadata")
    if not isinstance(metadata, dict):
        raise Invalid(conversion_message(metadata, "JSON"))
    bad: list[str] = []
    for key, value in metadata.items():
        if not _writable(key):
            bad.append(key)
        bad.extend(check_json_keys(value))
    if bad:
        raise Invalid(unrecognized_json_keys_message(bad))
    return metadata


# --- values ----------------------------------------------------------------------------------


def normalise(
    key: str, value: Any, *, dataset_name: str, uploaded: datetime, lifetime_days: int
) -> Any:
    """The value to store for a writable ``key``, or ``Invalid`` with the original's text.

    ``dataset_name`` is how the text names the dataset (``dataset_label``; ``""`` before
    there is one); ``uploaded`` and ``lifetime_days`` bound ``server.deletion``, which
    may be no later than ``uploaded + lifetime_days`` (to the instant; the text names
    that day) and is stored as the UTC date of the day after the moment given, "YYYY-MM-DD"
    (deletion happens some time on that day, never before the moment asked for).
    """
    return _normalise(key, value, dataset_name, _latest(uploaded, lifetime_days))


def _latest(start: datetime, lifetime_days: int) -> datetime | None:
    try:
        return utc(start) + timedelta(days=lifetime_days)
    except OverflowError:
        return None  # a lifetime past the calendar's end bounds nothing


def _normalise(key: str, value: Any, dataset_name: str, latest: datetime | None) -> Any:
    def bad(expected: str) -> Invalid:
        named = f"{dataset_name} " if dataset_name else ""
        return Invalid(
            f"Metadata key {key!r} value {value!r} for dataset {named}must be a {expected}"
        )

    lowered = key.lower()
    if lowered == DATASET_NAME:
        if not isinstance(value, str) or not value:
            raise bad(f"UTF-8 string of 1 to {DATASET_NAME_MAX} characters")
        try:
            value.encode("utf-8")  # a lone surrogate from a JSON "\ud800" is no name
        except UnicodeEncodeError as error:
            raise bad("UTF-8 string") from error
        if len(value) > DATASET_NAME_MAX:
            raise bad(f"UTF-8 string of 1 to {DATASET_NAME_MAX} characters")
        return value
    if lowered == SERVER_DELETION:
        if not isinstance(value, str):
            raise bad("date/time")
        try:
            target = read_date(value)
        except (ValueError, OverflowError) as error:
            raise bad("date/time") from error
        if latest is not None and target > latest:
            raise bad(f"date/time before {latest:%Y-%m-%d}")
        try:
            return f"{target + _ONE_DAY:%Y-%m-%d}"
        except OverflowError as error:
            raise bad("date/time") from error
    if lowered == SERVER_ARCHIVEONLY:
        if isinstance(value, bool):
            return value
        # Unlike a query parameter's boolean, an empty string is no answer here.
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise bad("boolean")
    if lowered == SERVER_ORIGIN and not isinstance(value, str):
        raise bad("string")
    return value


# --- the upload's ``metadata`` parameter --------------------------------------------------------


def split_quoted(text: str, sep: str = ",") -> list[str]:
    """``text`` split at each ``sep`` outside quotes, the pieces kept as written (quotes
    included, empty pieces too). ``'`` and ``"`` quote and nest: a quote closes the one
    opened last if it is the same character, and otherwise opens another, so ``'a"b"c'``
    is one quoted run. A quote left open is ``Invalid``, the text showing it in brackets."""
    pieces: list[str] = []
    start = 0
    open_quotes: list[int] = []  # positions of the quotes still open, innermost last
    for at, char in enumerate(text):
        if char == sep and not open_quotes:
            pieces.append(text[start:at])
            start = at + 1
        elif char in _QUOTES:
            if open_quotes and text[open_quotes[-1]] == char:
                open_quotes.pop()
            else:
                open_quotes.append(at)
    if open_quotes:
        at = open_quotes[-1]
        shown = f"{text[:at]}[{text[at]}]{text[at + 1 :]}"
        raise Invalid(f"Unterminated quote at {shown!r}")
    pieces.append(text[start:])
    return pieces


def unquote(token: str) -> str:
    """``token`` without the quotes around it, when the quote it opens with is the one
    that closes it at its end (``'a':'b'`` is two quoted runs, and stays as it is)."""
    if len(token) < 2 or token[0] not in _QUOTES:
        return token
    open_quotes: list[str] = []
    for at, char in enumerate(token):
        if char in _QUOTES:
            if open_quotes and open_quotes[-1] == char:
                open_quotes.pop()
            else:
                open_quotes.append(char)
        if not open_quotes:
            return token[1:-1] if at == len(token) - 1 else token
    return token


def _typed(value: str, type_name: str) -> Any:
    if type_name == "bool":
        return parse_bool(value)
    if type_name == "int":
        try:
            return int(value)
        except ValueError as error:
            raise Invalid(conversion_message(value, "int")) from error
    if type_name == "float":
        try:
            number = float(value)
        except ValueError as error:
            raise Invalid(conversion_message(value, "floating point number")) from error
        # JSON has no NaN or infinity, and metadata is stored as JSON.
        if not math.isfinite(number):
            raise Invalid(conversion_message(value, "floating point number"))
        return number
    if type_name == "json":
        try:
            return json.loads(value, parse_constant=_no_constant)
        except ValueError as error:
            raise Invalid(conversion_message(value, "JSON string")) from error
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_item(item: str) -> tuple[str, Any]:
    # ``key:value[:type]``: the key and the value may be quoted to hold ':' or ','; any
    # text after the second unquoted ':' is the type (so a stray third ':' lands there).
    fields = split_quoted(item, ":")
    if len(fields) == 1:
        raise Invalid(f"Missing ':' terminator after {fields[0]!r}")
    key, value = unquote(fields[0]), unquote(fields[1])
    if not _writable(key):
        raise Invalid(f"Metadata key {key!r} is not supported")
    type_name = ":".join(fields[2:]).lower() or "str"
    if type_name not in UPLOAD_TYPES:
        raise Invalid(f"The metadata type {type_name!r} must be one of {','.join(UPLOAD_TYPES)}")
    if not value:
        raise Invalid(f"Metadata {item!r} must have the form 'k:v[:type]'")
    return key, _typed(value, type_name)


def parse_upload_metadata(
    values: Iterable[str], *, lifetime_days: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """The upload's (and relay's) repeatable ``metadata`` parameter: each value a
    quote-aware, comma-separated list of ``key:value[:type]``, ``type`` one of
    ``UPLOAD_TYPES`` (``str`` by default), e.g. ``server.archiveonly:n:bool`` or
    ``global.x:'{"a":1}':json``. Returns ``{key: typed value}``, keys lower-cased, the
    last of a repeated key winning.

    Only writable keys are taken, and each value is checked as ``normalise`` checks it
    (``server.deletion`` against ``now``, by default the present, and ``lifetime_days``;
    without ``lifetime_days`` only its syntax), but returned as typed, not normalised:
    the caller normalises once, against the dataset. Every wrong item is reported at
    once, in ``MetadataErrors``; a quote left open stops the parse with a plain
    ``Invalid``. Empty items (``a:b,,c:d``, a trailing comma) are skipped.
    """
    latest = None
    if lifetime_days is not None:
        latest = _latest(now or datetime.now(UTC), lifetime_days)
    metadata: dict[str, Any] = {}
    errors: list[str] = []
    for value in values:
        for piece in split_quoted(value):
            if not piece:
                continue
            item = unquote(piece)
            try:
                key, typed = _parse_item(item)
                _normalise(key, typed, "", latest)
            except Invalid as error:
                errors.append(error.message)
                continue
            metadata[key.lower()] = typed
    if errors:
        raise MetadataErrors(errors)
    return metadata


# --- metadata.log -------------------------------------------------------------------------------


def parse_metalog(
    text: str | bytes, *, max_bytes: int = METALOG_MAX_BYTES
) -> dict[str, dict[str, str]]:
    """A tarball's ``metadata.log`` (INI, UTF-8) as ``{section: {option: value}}``, read
    as the original reads it: no interpolation (values hold ``%``), option names
    lower-cased, section names as written, ``[DEFAULT]`` options folded into every
    section. Larger than ``max_bytes`` is ``TooLarge``; anything ConfigParser refuses
    (no section header, a repeated section or option, a line that is no ``key = value``)
    is ``Invalid`` naming the problem: whether that fails an upload is the caller's call.
    """
    try:
        data = text.encode("utf-8") if isinstance(text, str) else text
        if len(data) > max_bytes:
            raise TooLarge(f"metadata.log is {len(data)} bytes, more than the {max_bytes} allowed")
        text = data.decode("utf-8")
    except UnicodeError as error:
        raise Invalid(f"metadata.log is not UTF-8 text: {error}") from error
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source="metadata.log")
    except configparser.Error as error:
        problem = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
        raise Invalid(f"metadata.log cannot be parsed: {problem}") from error
    return {section: dict(parser.items(section)) for section in parser.sections()}


def normalise_all(
    values: Mapping[str, Any], *, dataset_name: str, uploaded: datetime, lifetime_days: int
) -> dict[str, Any]:
    """``normalise`` of every key, all or none: ``MetadataErrors`` with every problem."""
    stored: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in values.items():
        try:
            stored[key] = normalise(
                key,
                value,
                dataset_name=dataset_name,
                uploaded=uploaded,
                lifetime_days=lifetime_days,
            )
        except Invalid as error:
            errors.append(error.message)
    if errors:
        raise MetadataErrors(errors)
    return stored


def place(
    documents: dict[str, Any], stored: Mapping[str, Any], *, dataset_name: str = ""
) -> tuple[set[str], str | None]:
    """Write normalised values into their namespace documents (``documents``: namespace ->
    document, replaced by changed copies): the namespaces changed, and a new
    ``dataset.name`` if one was given (it is no document's)."""
    changed: set[str] = set()
    name = None
    for key, value in stored.items():
        if key.lower() == DATASET_NAME:
            name = value
            continue
        namespace, path = split_writable(key)
        documents[namespace] = set_path(
            documents.get(namespace), path, value, namespace=namespace, dataset_name=dataset_name
        )
        changed.add(namespace)
    return changed, name
