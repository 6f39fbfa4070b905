"""Pigeon Optics lenses over HTTP (reference §1.3 and §3): create, the tag index of §3.2,
builds in the background after input writes, chains, deletions, map errors with their
lines, syntax errors, the ephemeral lens, the lens event stream, incremental builds that
map only what changed, and lenses read-only to writers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.conftest import User
from tests.dialects.pigeon.conftest import (
    Dataset,
    basic,
    bulk,
    create_dataset,
    error,
    put_record,
)
from tests.dialects.pigeon.test_event_stream import EventReader
from tests.support import unique

TAGS = {
    "abc": {"tags": ["cat", "dog"]},
    "def": {"tags": ["dog", "mango"]},
    "ghi": {"tags": ["dog", "cat"]},
}
TAG_CODE = "for (const tag of data.tags) output(tag, new Set([path.recordID]))"
BUILD_SECONDS = 60.0


@dataclass(frozen=True)
class Lens:
    author: str
    name: str

    @property
    def url(self) -> str:
        return f"/lenses/{self.author}:{self.name}"

    @property
    def path(self) -> str:
        return self.url

    @property
    def records(self) -> str:
        return f"{self.url}/records/"

    def record(self, record_id: str) -> str:
        return f"{self.url}/records/{quote(record_id, safe='')}"


def make_lens(
    po: httpx.Client, user: User, inputs: list[str] | str, code: str, **extra: Any
) -> Lens:
    name = unique("lens")
    body = {"name": name, "inputs": inputs, "code": code, "memo": "a lens", **extra}
    response = po.put("/lenses/create", json=body, auth=basic(user))
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/lenses/{user.username}:{name}/"
    return Lens(user.username, name)


def built(po: httpx.Client, lens: Lens) -> dict[str, Any]:
    """The lens's info once no build is due or running (polled: builds run in the
    background by design)."""
    deadline = time.monotonic() + BUILD_SECONDS
    while True:
        response = po.get(lens.url + "/")
        assert response.status_code == 200, response.text
        info: dict[str, Any] = response.json()
        status = info["status"]
        if not status["pending"] and status["state"] in ("ready", "failed"):
            return info
        assert time.monotonic() < deadline, f"the lens never caught up: {status}"
        time.sleep(0.02)


def values(po: httpx.Client, lens: Lens) -> dict[str, Any]:
    """Every record of the lens, by id, as JSON."""
    response = po.get(lens.records)
    assert response.status_code == 200, response.text
    found = {}
    for record_id in response.json():
        record = po.get(lens.record(record_id))
        assert record.status_code == 200, record.text
        found[record_id] = record.json()
    return found


def a_set(*members: str) -> dict[str, Any]:
    return {"type": "Set", "data": list(members)}


@pytest.fixture
def tagged(po: httpx.Client, alice: User) -> Dataset:
    ds = create_dataset(po, alice)
    response = bulk(po, alice, ds, TAGS)
    assert response.status_code == 204, response.text
    return ds


def test_the_tag_index_of_the_reference(po: httpx.Client, alice: User, tagged: Dataset) -> None:
    lens = make_lens(po, alice, [tagged.url], TAG_CODE)
    info = built(po, lens)
    assert info["status"]["state"] == "ready"
    assert info["status"]["inputVersions"] == {tagged.url: 1}
    assert info["config"]["inputs"] == [tagged.url]
    assert info["config"]["code"] == TAG_CODE
    assert set(info["records"]) == {"cat", "dog", "mango"}
    assert values(po, lens) == {
        "cat": a_set("abc", "ghi"),
        "dog": a_set("abc", "def", "ghi"),
        "mango": a_set("def"),
    }
    # Listed as a lens of alice's, not as a dataset.
    assert lens.name in po.get("/lenses/").json()[alice.username]
    assert po.get(f"/lenses/{alice.username}:").json() == [lens.name]
    assert lens.name not in po.get("/datasets/").json().get(alice.username, [])
    assert po.get(f"/authors/{alice.username}/").json()["lenses"] == [lens.name]
    code = po.get(lens.url + "/configuration/map")
    assert code.status_code == 200
    assert code.headers["content-type"].startswith("application/javascript")
    assert code.text == TAG_CODE
    # A user's code is user bytes: never a script a browser runs in our origin.
    assert code.headers["content-security-policy"].startswith("sandbox")
    assert code.headers["content-disposition"].startswith('attachment; filename="map.js"')


def test_inputs_as_a_newline_string_and_map_code(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    lens = make_lens(po, alice, tagged.url + "\n", "", mapCode="output(path.recordID, 1)")
    built(po, lens)
    assert values(po, lens) == {"abc": 1, "def": 1, "ghi": 1}


def test_a_chain_follows_one_input_write(po: httpx.Client, alice: User, tagged: Dataset) -> None:
    tags = make_lens(po, alice, [tagged.url], TAG_CODE)
    counts = make_lens(po, alice, [tags.url], "output(path.recordID, data.size)")
    built(po, tags)
    built(po, counts)
    assert values(po, counts) == {"cat": 2, "dog": 3, "mango": 1}
    put_record(po, alice, tagged, "jkl", {"tags": ["mango", "kiwi"]})
    built(po, tags)
    info = built(po, counts)
    assert values(po, counts) == {"cat": 2, "dog": 3, "mango": 2, "kiwi": 1}
    assert info["status"]["inputVersions"] == {tags.url: po.get(tags.url + "/").json()["version"]}


def test_a_deleted_input_record_leaves_the_outputs(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    lens = make_lens(po, alice, [tagged.url], TAG_CODE)
    built(po, lens)
    response = po.delete(tagged.record("def"), auth=basic(alice))
    assert response.status_code == 204, response.text
    built(po, lens)
    assert values(po, lens) == {"cat": a_set("abc", "ghi"), "dog": a_set("abc", "ghi")}


def test_one_changed_record_maps_once(po: httpx.Client, alice: User) -> None:
    ds = create_dataset(po, alice)
    assert bulk(po, alice, ds, {f"r{n:03d}": {"n": n} for n in range(200)}).status_code == 204
    lens = make_lens(po, alice, [ds.url], "output(String(data.n % 10), data.n)")
    first = built(po, lens)["status"]["lastBuild"]
    assert first["mapped"] == 200
    assert first["full"] is True
    put_record(po, alice, ds, "r007", {"n": 1007})
    again = built(po, lens)["status"]["lastBuild"]
    assert again["mapped"] == 1
    assert again["full"] is False
    assert again["reduced"] == 1  # only "7" is touched
    assert values(po, lens)["7"] == sum(range(7, 200, 10)) + 1000


def test_an_error_in_map_is_logged_with_its_line(po: httpx.Client, alice: User) -> None:
    ds = create_dataset(po, alice)
    assert (
        bulk(po, alice, ds, {"a": {"ok": 1}, "b": {"bad": True}, "c": {"ok": 3}}).status_code == 204
    )
    code = (
        "console.log('seen', path.recordID)\n"
        "if (data.bad) {\n"
        "  throw new Error('nice')\n"
        "}\n"
        "output(path.recordID, data.ok)"
    )
    lens = make_lens(po, alice, [ds.url], code)
    info = built(po, lens)
    assert info["status"]["state"] == "ready"
    assert values(po, lens) == {"a": 1, "c": 3}
    logs = po.get(lens.url + "/logs").json()
    by_path = {entry["path"]: entry for entry in logs}
    bad = by_path[ds.record("b")]
    assert bad["logs"] == [{"type": "log", "args": ["seen", "b"], "line": 1}]
    assert len(bad["errors"]) == 1
    failure = bad["errors"][0]
    assert failure["type"] == "Error"
    assert failure["message"] == "nice"
    assert failure["stack"][0]["line"] == 3
    assert failure["stack"][0]["filename"] == "map.js"
    assert by_path[ds.record("a")]["errors"] == []


def test_a_syntax_error_rejects_the_configuration(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    name = unique("lens")
    body = {"name": name, "inputs": [tagged.url], "code": "output(path.recordID,\n  ]"}
    message = error(po.put("/lenses/create", json=body, auth=basic(alice)), 400)
    assert "map.js:2" in message, message
    assert "SyntaxError" in message, message
    assert po.get(f"/lenses/{alice.username}:{name}/").status_code == 404
    # The same on a configuration change, which then changes nothing.
    lens = make_lens(po, alice, [tagged.url], TAG_CODE)
    response = po.put(lens.url + "/configuration", json=body, auth=basic(alice))
    error(response, 400)
    assert po.get(lens.url + "/configuration").json()["code"] == TAG_CODE


def test_inputs_must_exist_and_not_form_a_cycle(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    missing = f"/datasets/{alice.username}:{unique('nothing')}"
    body = {"name": unique("lens"), "inputs": [missing], "code": TAG_CODE}
    assert missing in error(po.put("/lenses/create", json=body, auth=basic(alice)), 400)
    first = make_lens(po, alice, [tagged.url], TAG_CODE)
    second = make_lens(po, alice, [first.url], "output(path.recordID, 1)")
    cycle = {"inputs": [tagged.url, second.url], "code": TAG_CODE}
    message = error(po.put(first.url + "/configuration", json=cycle, auth=basic(alice)), 400)
    assert "cycle" in message


def test_a_configuration_change_rebuilds_everything(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    lens = make_lens(po, alice, [tagged.url], TAG_CODE)
    built(po, lens)
    change = {
        "inputs": [tagged.url],
        "code": "output(path.recordID, data.tags.length)",
        "memo": "m",
    }
    response = po.put(lens.url + "/configuration", json=change, auth=basic(alice))
    assert response.status_code == 204, response.text
    info = built(po, lens)
    assert info["status"]["lastBuild"]["full"] is True
    assert values(po, lens) == {"abc": 2, "def": 2, "ghi": 2}
    assert info["config"]["memo"] == "m"


def test_others_may_not_configure_or_delete(
    po: httpx.Client, alice: User, bob: User, tagged: Dataset
) -> None:
    lens = make_lens(po, alice, [tagged.url], TAG_CODE)
    change = {"inputs": [tagged.url], "code": TAG_CODE}
    error(po.put(lens.url + "/configuration", json=change, auth=basic(bob)), 403)
    error(po.put(lens.url + "/configuration", json=change), 401)
    error(po.delete(lens.url + "/", auth=basic(bob)), 403)
    assert po.delete(lens.url + "/", auth=basic(alice)).status_code == 204
    assert po.get(lens.url + "/").status_code == 404


def test_lens_records_are_read_only(po: httpx.Client, alice: User, tagged: Dataset) -> None:
    lens = make_lens(po, alice, [tagged.url], TAG_CODE)
    built(po, lens)
    as_dataset = Dataset(alice.username, lens.name)
    response = po.put(as_dataset.record("cat"), json={"mine": True}, auth=basic(alice))
    assert response.status_code in (401, 403), response.text
    assert bulk(po, alice, as_dataset, {"x": 1}).status_code in (401, 403)
    assert values(po, lens)["cat"] == a_set("abc", "ghi")
    # The lens's address is not a dataset's page, nor a dataset's a lens's.
    assert po.get(as_dataset.url + "/").status_code == 404
    assert po.get(f"/lenses/{tagged.author}:{tagged.name}/records/").status_code == 404


def test_the_ephemeral_lens_streams_logs_then_records(po: httpx.Client, tagged: Dataset) -> None:
    body = {"inputs": [tagged.url], "code": "console.log(path.recordID)\n" + TAG_CODE}
    response = po.post("/lenses/ephemeral", json=body)
    assert response.status_code == 200, response.text
    items = response.json()
    kinds = [next(iter(item)) for item in items]
    assert kinds == ["log"] * 3 + ["record"] * 3
    logs = [item["log"] for item in items[:3]]
    assert [entry["input"] for entry in logs] == [tagged.record(r) for r in ("abc", "def", "ghi")]
    assert all(entry["error"] is False for entry in logs)
    assert logs[0]["logs"][0]["args"] == ["abc"]
    records = {item["record"]["id"]: item["record"] for item in items[3:]}
    assert records["cat"]["data"] == a_set("abc", "ghi")
    assert len(records["cat"]["hash"]) == 64
    # Nothing was kept.
    assert "ephemeral" not in str(po.get("/lenses/").json())


def test_the_lens_event_stream_sees_each_new_version(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    lens = make_lens(po, alice, [tagged.url], TAG_CODE)
    version = built(po, lens)["version"]
    timeout = httpx.Timeout(10, read=30)
    headers = {"Accept": "text/event-stream"}
    with po.stream("GET", lens.url + "/event-stream", headers=headers, timeout=timeout) as stream:
        assert stream.status_code == 200
        events = EventReader(stream.iter_lines())
        first = events.next()
        assert first.data["source"] == "lenses"
        assert first.data["path"] == lens.url
        assert first.data["version"] == version
        put_record(po, alice, tagged, "jkl", {"tags": ["kiwi"]})
        assert events.next().data["version"] == version + 1
        put_record(po, alice, tagged, "mno", {"tags": ["kiwi"]})
        later = events.next().data
        assert later["version"] == version + 2
        assert set(later["records"]) == {"cat", "dog", "mango", "kiwi"}


def test_a_deleted_input_takes_its_outputs_along(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    other = create_dataset(po, alice)
    put_record(po, alice, other, "xyz", {"tags": ["kiwi", "dog"]})
    lens = make_lens(po, alice, [tagged.url, other.url], TAG_CODE)
    built(po, lens)
    assert values(po, lens)["dog"] == a_set("abc", "def", "ghi", "xyz")
    assert po.delete(other.url + "/", auth=basic(alice)).status_code == 204
    info = built(po, lens)
    assert info["status"]["inputVersions"][other.url] == -1
    assert values(po, lens) == {
        "cat": a_set("abc", "ghi"),
        "dog": a_set("abc", "def", "ghi"),
        "mango": a_set("def"),
    }


def test_a_single_record_input_and_a_reduce_of_ones_own(
    po: httpx.Client, alice: User, tagged: Dataset
) -> None:
    """An input may name one record; ``reduceCode`` folds an id's values left to right,
    in the order of the inputs, instead of the built-in merge."""
    other = create_dataset(po, alice)
    put_record(po, alice, other, "zzz", {"tags": ["cat"]})
    code = "for (const tag of data.tags) output(tag, path.recordID)"
    reduce = "return left + '+' + right"
    lens = make_lens(po, alice, [other.url, tagged.record("abc")], code, reduceCode=reduce)
    info = built(po, lens)
    assert info["config"]["reduceCode"] == reduce
    assert values(po, lens) == {"cat": "zzz+abc", "dog": "abc"}
    put_record(po, alice, tagged, "def", {"tags": ["cat"]})  # not an input: nothing to do
    put_record(po, alice, tagged, "abc", {"tags": ["cat", "kiwi"]})
    after = built(po, lens)
    assert after["status"]["lastBuild"]["mapped"] == 1
    assert values(po, lens) == {"cat": "zzz+abc", "kiwi": "abc"}
    reduce_code = po.get(lens.url + "/configuration/reduce")
    assert reduce_code.status_code == 200
    assert reduce_code.text == reduce
