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

And one guard: the run must not end its own credentials (revoke the token it sends, or
deactivate or demote the account it is), or every later request would be a 401.

CBOR bodies (``application/cbor``, record values) are encoded with ``cbor2``.
"""

from __future__ import annotations

import hashlib
import os
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
    elif operation in LENS_WRITES and isinstance(case.body, dict) and LENS_INPUT:
        # A lens's inputs must exist and its code compile: a real client's lens.
        case.body["inputs"] = [LENS_INPUT]
        case.body["code"] = "output(path.recordID, data)"
        case.body["reduce_code"] = None
    if case.query:
        case.query.pop("cursor", None)
    return case


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
