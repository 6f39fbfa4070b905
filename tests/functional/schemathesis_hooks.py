"""Schemathesis hooks for the contract test (``test_openapi_contract.py``), loaded by the
``st`` process it runs (``SCHEMATHESIS_HOOKS``).

The OpenAPI document states every rule a single value must follow. A few rules tie a value
to another value or to the server's state, which JSON Schema cannot say; for those, and only
in positive mode (requests the schema calls valid), the hooks below make the request what
a real client sends. Negative requests go out untouched. Each rule is still stated in the
field's description, and pinned by its own functional test.

- ``PUT /blobs/{sha256}``: the digest is the body's sha256.
- A commit names each path (or record id) once, and its ``put_file`` changes name bytes
  the caller may name: the run's own blob.
- A token's ``expires_at`` lies in the future.
- ``cursor``: only the ``next_cursor`` of an earlier page is one (it is opaque).
- A lens's inputs exist (the run's own input dataset) and its code compiles.
- A new resumable upload (``POST /uploads/``) names each metadata key once, and a
  ``sha256`` one declares a digest (the hook sends plain metadata instead); its first
  bytes fit in its ``Upload-Length``. An upload's bytes (there, and in a ``PATCH``) match
  their ``Upload-Checksum``; the coverage phase draws no header value with a space from a
  pattern, and sends a placeholder instead, which goes.

And one guard: the run must not end its own credentials (revoke the token it sends, or
deactivate or demote the account it is), or every later request would be a 401.

CBOR bodies (``application/cbor``, record values) are encoded with ``cbor2``; an upload's
bytes (``application/offset+octet-stream``) go as they are.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import cbor2
import schemathesis
from schemathesis import Case, GenerationMode, HookContext, SerializationContext
from schemathesis.core import NotSet
from schemathesis.transport.serialization import serialize_binary

FUZZER = os.environ.get("DATALOFT_FUZZER", "")
FUZZER_TOKEN_ID = os.environ.get("DATALOFT_FUZZER_TOKEN_ID", "")
OWN_BLOB = os.environ.get("DATALOFT_FUZZER_BLOB", "")
LENS_INPUT = os.environ.get("DATALOFT_FUZZER_LENS_INPUT", "")
LENS_WRITES = ("POST /loft/v1/lenses", "PUT /loft/v1/lenses/{owner}/{name}")


@schemathesis.serializer("application/cbor")
def cbor(context: SerializationContext, value: Any) -> bytes:
    encoded: bytes = cbor2.dumps(value)
    return encoded


@schemathesis.serializer("application/offset+octet-stream")
def offset_stream(context: SerializationContext, value: Any) -> bytes:
    return serialize_binary(value)


def _positive(case: Case[Any]) -> bool:
    return case.meta is not None and case.meta.generation.mode is GenerationMode.POSITIVE


@schemathesis.hook
def map_case(context: HookContext, case: Case[Any]) -> Case[Any]:
    if not _positive(case):
        return case
    operation = case.operation.label
    if operation == "PUT /loft/v1/blobs/{sha256}" and case.path_parameters is not None:
        # The bytes as they go on the wire (the serializer of application/octet-stream).
        sent = b"" if isinstance(case.body, NotSet) else serialize_binary(case.body)
        case.path_parameters["sha256"] = hashlib.sha256(sent).hexdigest()
    elif operation == "POST /loft/v1/datasets/{owner}/{name}/commits" and isinstance(
        case.body, dict
    ):
        changes = case.body.get("changes")
        case.body["changes"] = _once_each(changes if isinstance(changes, list) else [])
    elif (
        operation == "POST /loft/v1/tokens"
        and isinstance(case.body, dict)
        and case.body.get("expires_at") is not None
    ):
        case.body["expires_at"] = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    elif operation == "POST /loft/v1/uploads/" and case.headers is not None:
        _valid_upload(case, case.headers)
    elif operation == "PATCH /loft/v1/uploads/{upload_id}" and case.headers is not None:
        _valid_checksum(case, case.headers)
    elif operation in LENS_WRITES and isinstance(case.body, dict) and LENS_INPUT:
        # A lens's inputs must exist and its code compile: a real client's lens.
        case.body["inputs"] = [LENS_INPUT]
        case.body["code"] = "output(path.recordID, data)"
        case.body["reduce_code"] = None
    if case.query:
        case.query.pop("cursor", None)
    return case


def _valid_upload(case: Case[Any], headers: MutableMapping[str, Any]) -> None:
    if "Upload-Metadata" in headers:
        headers["Upload-Metadata"] = "filename " + base64.b64encode(b"fuzzed.bin").decode()
    if not isinstance(case.body, NotSet):
        sent = len(serialize_binary(case.body))
        headers["Upload-Length"] = str(max(int(headers.get("Upload-Length", 0)), sent))
    _valid_checksum(case, headers)


def _valid_checksum(case: Case[Any], headers: MutableMapping[str, Any]) -> None:
    algorithm = str(headers.get("Upload-Checksum", "")).split(" ")[0]
    if algorithm not in ("sha256", "sha1"):
        headers.pop("Upload-Checksum", None)
        return
    sent = b"" if isinstance(case.body, NotSet) else serialize_binary(case.body)
    digest = hashlib.new(algorithm, sent).digest()
    headers["Upload-Checksum"] = f"{algorithm} {base64.b64encode(digest).decode()}"


def _once_each(changes: list[Any]) -> list[Any]:
    named: set[tuple[str, str]] = set()
    kept = []
    for change in changes:
        file = change["op"] in ("put_file", "delete_file", "put_symlink")
        key = ("file", change["path"]) if file else ("record", change["id"])
        if key in named:
            continue
        named.add(key)
        if change["op"] == "put_file":
            change["sha256"] = OWN_BLOB
        kept.append(change)
    return kept


@schemathesis.hook
def filter_case(context: HookContext, case: Case[Any]) -> bool:
    operation, path = case.operation.label, case.path_parameters or {}
    if operation == "DELETE /loft/v1/tokens/{token_id}":
        return str(path.get("token_id")) != FUZZER_TOKEN_ID
    if operation in ("PATCH /loft/v1/users/{username}", "DELETE /loft/v1/users/{username}"):
        return str(path.get("username")).lower() != FUZZER.lower()
    return True
