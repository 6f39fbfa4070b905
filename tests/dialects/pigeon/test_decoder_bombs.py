"""Decoder bombs sent to Pigeon Optics record writes, in every encoding it reads (issue 10):
each is refused with a 400 or a 413 in the dialect's error shape within 2 s, while the
peak memory of the server's processes grows by less than 50 MB; nothing is stored, and
the server answers the next request. The server runs in a process of its own
(``server_process``), so that the memory measured is the server's only. The limits, and
why each exists: ``dataloft.core.decoding``; the bombs: ``tests/bombs.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests import bombs
from tests.conftest import User
from tests.dialects.pigeon.conftest import Dataset, basic, create_dataset, error, state, value
from tests.support import BOMB_BYTES, BOMB_SECONDS, ServerProcess, refused_cheaply

CBOR = "application/cbor"
MSGPACK = "application/msgpack"
JSON = "application/json"
JSON_LINES = "application/x-ndjson"
YAML = "application/yaml"
FORM = "application/x-www-form-urlencoded"
BOUNDARY = "dataloft-bomb"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


@dataclass(frozen=True)
class Bomb:
    name: str
    content_type: str
    body: Callable[[], bytes]
    status: int
    bulk: bool = False  # a bulk write (POST records/) rather than one record's


BOMBS = [
    Bomb("cbor-shared-values", CBOR, bombs.cbor_shared_values, 400),
    Bomb("cbor-self-reference", CBOR, bombs.cbor_self_reference, 400),
    Bomb("cbor-string-references", CBOR, bombs.cbor_string_references, 400),
    Bomb("cbor-array-as-key", CBOR, bombs.cbor_array_key, 400),
    Bomb("cbor-colliding-keys", CBOR, bombs.cbor_colliding_keys, 400),
    Bomb("cbor-deep", CBOR, bombs.cbor_deep, 400),
    Bomb("cbor-big-integer", CBOR, bombs.cbor_big_integer, 400),
    Bomb("cbor-declared-length", CBOR, bombs.cbor_declared_length, 413),
    Bomb("cbor-many-elements", CBOR, bombs.cbor_many_elements, 413, bulk=True),
    Bomb("msgpack-nested-sets", MSGPACK, bombs.msgpack_nested_sets, 400),
    Bomb("msgpack-declared-length", MSGPACK, bombs.msgpack_declared_length, 413),
    Bomb("msgpack-many-elements", MSGPACK, bombs.msgpack_many_elements, 413, bulk=True),
    Bomb("msgpack-array-as-key", MSGPACK, bombs.msgpack_array_key, 400),
    Bomb("msgpack-big-integer", MSGPACK, bombs.msgpack_big_integer, 400),
    Bomb("json-deep", JSON, bombs.json_deep, 400),
    Bomb("json-many-elements", JSON, bombs.json_many_elements, 413, bulk=True),
    Bomb("json-lines-many-elements", JSON_LINES, bombs.json_lines_many_elements, 413, bulk=True),
    Bomb("json-big-number", JSON, bombs.json_big_number, 400),
    Bomb("json-big-integer-tag", JSON, bombs.json_big_integer_tag, 400),
    Bomb("json-far-date", JSON, bombs.json_far_date, 400),
    Bomb("yaml-aliases", YAML, bombs.yaml_aliases, 400),
    Bomb("yaml-deep", YAML, bombs.yaml_deep, 400),
    Bomb("yaml-many-elements", YAML, bombs.yaml_many_elements, 413, bulk=True),
    Bomb("yaml-big-integer", YAML, bombs.yaml_big_integer, 400),
    Bomb("yaml-big-hex-integer", YAML, bombs.yaml_big_hex_integer, 400),
    Bomb("yaml-colliding-keys", YAML, bombs.yaml_colliding_keys, 400, bulk=True),
    Bomb("form-many-fields", FORM, bombs.form_many_fields, 413),
    Bomb("multipart-many-parts", MULTIPART, lambda: bombs.multipart_many_parts(BOUNDARY), 413),
    Bomb("multipart-many-headers", MULTIPART, lambda: bombs.multipart_many_headers(BOUNDARY), 400),
]


@pytest.fixture
def po(server_process: ServerProcess) -> Iterator[httpx.Client]:
    """A Pigeon Optics client of the server in its own process."""
    headers = {"Accept": "application/json"}
    with httpx.Client(base_url=server_process.url, headers=headers, timeout=60) as client:
        yield client


@pytest.mark.parametrize("bomb", BOMBS, ids=lambda bomb: bomb.name)
def test_a_bomb_is_refused_quickly_and_cheaply_and_leaves_no_trace(
    server_process: ServerProcess, po: httpx.Client, alice: User, bomb: Bomb
) -> None:
    ds = create_dataset(po, alice)
    before = state(po, alice, ds)
    body = bomb.body()

    def send() -> httpx.Response:
        url = ds.records if bomb.bulk else ds.record("r")
        return po.request(
            "POST" if bomb.bulk else "PUT",
            url,
            content=body,
            headers={"Content-Type": bomb.content_type},
            auth=basic(alice),
        )

    error(refused_cheaply(server_process, send, bomb.status), bomb.status)
    assert state(po, alice, ds) == before  # nothing stored, and the server still answers


def test_a_set_of_colliding_big_integers_is_stored_quickly(
    server_process: ServerProcess, po: httpx.Client, alice: User
) -> None:
    """Not a bomb to refuse (a record may hold a Set of big integers), but one to survive:
    deduplicating members whose hashes collide was quadratic."""
    ds: Dataset = create_dataset(po, alice)
    body = bombs.json_colliding_set()
    headers = {"Content-Type": JSON}
    with server_process.usage() as usage:
        response = po.put(ds.record("set"), content=body, headers=headers, auth=basic(alice))
    assert response.status_code == 204, response.text
    assert usage.seconds < BOMB_SECONDS, f"answered in {usage.seconds:.2f} s"
    assert usage.peak_growth < BOMB_BYTES, f"peak memory grew {usage.peak_growth >> 20} MiB"
    stored = value(po, ds, "set")
    assert stored["type"] == "Set" and len(stored["data"]) == 20_000
