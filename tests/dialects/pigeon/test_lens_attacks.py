"""Hostile lens code fails only its own record, and never stalls the server.

One lens maps a dataset whose records each ask its map to do something it must not: run
forever, eat memory, recurse without end, output 10 MB, call ``Math.random``, reach
``require``, ``process`` or ``fetch``, or tamper with the prototypes and globals the next
record will see. Every one of those records fails with its error in the lens's logs
(but the tampering one: the built-ins are frozen, so its assignments do nothing); the
records after them build normally and see an untouched environment. Meanwhile a client
reads a record of another dataset again and again: every read answers within 100 ms.
"""

from __future__ import annotations

import threading
import time

import httpx

from tests.conftest import User
from tests.dialects.pigeon.conftest import bulk, create_dataset, put_record
from tests.dialects.pigeon.test_lenses import built, make_lens, values

READ_LIMIT = 0.100
KINDS = {
    "a-loop": "loop",
    "b-bomb": "bomb",
    "c-recurse": "recurse",
    "d-big": "big",
    "e-random": "random",
    "f-require": "require",
    "g-process": "process",
    "h-fetch": "fetch",
    "i-proto": "proto",
    "j-ok": "ok",
    "k-loop": "loop",
    "l-ok": "ok",
}
CODE = """\
if (data.kind === 'loop') while (true) {}
if (data.kind === 'bomb') { const a = []; while (true) a.push(new Array(1e6).fill(1)) }
if (data.kind === 'recurse') { const f = (n) => f(n + 1) + 1; f(0) }
if (data.kind === 'big') output('big', 'a'.repeat(10 * 1024 * 1024))
if (data.kind === 'random') output('random', Math.random())
if (data.kind === 'require') require('fs')
if (data.kind === 'process') process.exit(1)
if (data.kind === 'fetch') fetch('http://127.0.0.1:1/')
if (data.kind === 'proto') {
  Object.prototype.polluted = 'yes'
  Array.prototype.push = function () { throw new Error('tampered') }
  JSON.stringify = () => 'tampered'
  globalThis.output = () => {}
}
const seen = []
seen.push(path.recordID)
output(path.recordID, {polluted: ({}).polluted || 'no', seen: seen, kind: data.kind})
"""


def test_hostile_records_fail_alone_and_the_server_keeps_answering(
    po: httpx.Client, alice: User
) -> None:
    other = create_dataset(po, alice)
    put_record(po, alice, other, "steady", {"x": 1})
    ds = create_dataset(po, alice)
    assert (
        bulk(po, alice, ds, {rid: {"kind": kind} for rid, kind in KINDS.items()}).status_code == 204
    )
    stop = threading.Event()
    slowest: list[float] = []

    def probe() -> None:
        with httpx.Client(base_url=str(po.base_url), headers={"Accept": "application/json"}) as c:
            while not stop.is_set():
                started = time.perf_counter()
                response = c.get(other.record("steady"))
                slowest.append(time.perf_counter() - started)
                assert response.status_code == 200
                stop.wait(0.005)

    reader = threading.Thread(target=probe)
    reader.start()
    try:
        lens = make_lens(po, alice, [ds.url], CODE)
        info = built(po, lens)
    finally:
        stop.set()
        reader.join()
    assert info["status"]["state"] == "ready", info["status"]
    # The built-ins are frozen, so the tampering record's own assignments do nothing (it
    # builds, untainted); every other hostile record fails, and the records after them
    # see a clean environment.
    clean = {rid: {"polluted": "no", "seen": [rid], "kind": KINDS[rid]} for rid in KINDS}
    built_ones = values(po, lens)
    assert built_ones == {rid: clean[rid] for rid in ("i-proto", "j-ok", "l-ok")}
    logs = {entry["path"].rsplit("/", 1)[1]: entry for entry in po.get(lens.url + "/logs").json()}
    failed = {rid: entry["errors"][0] for rid, entry in logs.items() if entry["errors"]}
    assert set(failed) == set(KINDS) - {"i-proto", "j-ok", "l-ok"}, failed
    assert failed["a-loop"]["type"] == "TimeoutError"
    assert failed["k-loop"]["type"] == "TimeoutError"
    assert failed["b-bomb"]["type"] == "MemoryError"
    assert failed["c-recurse"]["type"] in ("RangeError", "InternalError")
    assert failed["d-big"]["type"] == "OutputTooLarge"
    assert "deterministic" in failed["e-random"]["message"]
    for rid in ("f-require", "g-process", "h-fetch"):
        assert failed[rid]["type"] in ("ReferenceError", "TypeError"), failed[rid]
    assert len(slowest) >= 3
    assert max(slowest) < READ_LIMIT, f"slowest read {max(slowest) * 1000:.0f} ms"
    # The server went on building: a later write is reflected.
    put_record(po, alice, ds, "m-ok", {"kind": "ok"})
    built(po, lens)
    assert set(values(po, lens)) == {"i-proto", "j-ok", "l-ok", "m-ok"}
