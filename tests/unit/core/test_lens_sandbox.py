"""The lens sandbox: real worker processes running real QuickJS, no mocks."""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from dataloft.core.errors import Invalid, ServerFault
from dataloft.core.lens_merge import merge
from dataloft.core.lens_sandbox import (
    BudgetExceeded,
    LensCodeError,
    LensProgram,
    LensSession,
    MapInput,
    MapResult,
    ReduceFailed,
    SandboxLimits,
    check_program,
)
from dataloft.core.values import JSURL, UNDEFINED, JSDate, JSMap, JSSet

NOW = 1_700_000_000_000
LIMITS = SandboxLimits()


def item(record_id: str, value: Any = None, *, author: str = "alice") -> MapInput:
    path = f"/datasets/{author}:signs/records/{record_id}"
    return MapInput(path, "datasets", author, "signs", record_id, value)


def run(
    code: str, items: Sequence[MapInput], limits: SandboxLimits = LIMITS, now: int = NOW
) -> list[MapResult]:
    with LensSession(LensProgram(code), limits, now) as session:
        return session.map(items)


def one(code: str, value: Any = None, limits: SandboxLimits = LIMITS) -> MapResult:
    return run(code, [item("abc", value)], limits)[0]


@pytest.fixture(scope="module")
def echo() -> Iterator[LensSession]:
    """A session whose map outputs its input unchanged, under the record's id."""
    with LensSession(LensProgram("output(path.recordID, data)"), LIMITS, NOW) as session:
        yield session


def test_tag_index_example_and_its_merge() -> None:
    records = {
        "abc": {"tags": ["cat", "dog"]},
        "def": {"tags": ["dog", "mango"]},
        "ghi": {"tags": ["dog", "cat"]},
    }
    code = "for (const tag of data.tags) output(tag, new Set([path.recordID]))"
    results = run(code, [item(key, value) for key, value in records.items()])
    assert [r.error for r in results] == [None, None, None]
    assert results[0].outputs == [("cat", JSSet(["abc"])), ("dog", JSSet(["abc"]))]
    by_id: dict[str, list[Any]] = {}
    for result in results:
        for key, value in result.outputs:
            by_id.setdefault(key, []).append(value)
    merged = {key: merge(values) for key, values in by_id.items()}
    assert merged == {
        "cat": JSSet(["abc", "ghi"]),
        "dog": JSSet(["abc", "def", "ghi"]),
        "mango": JSSet(["def"]),
    }


def test_path(echo: LensSession) -> None:
    [result] = run("output('p', path)", [item("abc", None, author="bob")])
    assert result.outputs == [
        (
            "p",
            {
                "string": "/datasets/bob:signs/records/abc",
                "source": "datasets",
                "author": "bob",
                "name": "signs",
                "recordID": "abc",
            },
        )
    ]


ROUND_TRIPS: list[Any] = [
    b"\x00\x01\xff",
    b"",
    JSSet([1, "1", True, None, b"\x02"]),
    JSMap([(1, "one"), (b"\x01", [1]), (JSDate(5), {"a": 1}), (None, UNDEFINED), ("s", 2)]),
    JSDate(1_234_567_890_123),
    JSDate(-5),
    2**53 + 1,
    -(2**64) - 5,
    10**40,
    2**53,
    UNDEFINED,
    math.inf,
    -math.inf,
    1.5,
    -0.25,
    1e300,
    "text with \x00 NUL, é and 😀",
    "",
    True,
    None,
    [],
    {},
    {"nested": [{"set": JSSet([JSMap([(1, b"\x03")])])}, [UNDEFINED, [math.inf]]]},
    {"__proto__": 1, "constructor": 2, "toString": "x"},
    {"type": "NotATag", "data": 1},
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=repr)
def test_values_round_trip(echo: LensSession, value: Any) -> None:
    [result] = echo.map([item("abc", value)])
    assert result.error is None
    assert result.outputs == [("abc", value)]


def test_nan_round_trips(echo: LensSession) -> None:
    [result] = echo.map([item("abc", [math.nan])])
    assert math.isnan(result.outputs[0][1][0])


def test_javascript_types_inside_the_lens() -> None:
    code = """
      const kinds = {}
      for (const key of Object.keys(data)) {
        const v = data[key]
        kinds[key] = v instanceof Uint8Array ? 'Uint8Array'
          : v instanceof Set ? 'Set' : v instanceof Map ? 'Map' : v instanceof Date ? 'Date'
          : typeof v
      }
      output('kinds', kinds)
      output('buffer', data.buffer instanceof Buffer && data.buffer[1])
      output('big', data.big + 1n)
      output('huge', 2 ** 60)
    """
    value = {
        "buffer": b"\x01\x02",
        "set": JSSet([1]),
        "map": JSMap([(1, 2)]),
        "date": JSDate(0),
        "big": 2**60,
        "small": 2**52,
        "url": JSURL("https://example.com/"),
        "undefined": UNDEFINED,
        "infinity": math.inf,
    }
    result = one(code, value)
    assert result.error is None
    assert dict(result.outputs) == {
        "kinds": {
            "buffer": "Uint8Array",
            "set": "Set",
            "map": "Map",
            "date": "Date",
            "big": "bigint",
            "small": "number",
            "url": "string",
            "undefined": "undefined",
            "infinity": "number",
        },
        "buffer": 2,
        "big": 2**60 + 1,
        "huge": float(2**60),  # a Number beyond 2**53 comes back a float, not an int
    }


def test_each_record_gets_a_fresh_copy() -> None:
    code = "data.list.push(path.recordID); output(path.recordID, data.list)"
    shared = {"list": [0]}
    results = run(code, [item("a", shared), item("b", shared)])
    assert [r.outputs for r in results] == [[("a", [0, "a"])], [("b", [0, "b"])]]
    assert shared == {"list": [0]}


def test_output_ids_are_strings_and_checked() -> None:
    result = one("output(5, 1); output({toString() { return 'obj' }}, 2)")
    assert result.outputs == [("5", 1), ("obj", 2)]
    result = one("output('a', 1)\noutput('', 2)")
    assert result.outputs == [("a", 1)]
    assert result.error is not None and result.error["type"] == "TypeError"
    assert result.error["stack"][0]["line"] == 2
    result = one("output('x'.repeat(10001), 1)")
    assert result.error is not None and result.error["type"] == "RangeError"
    result = one("output('a\\u0000b', 1)")  # the server's rules for record ids
    assert result.outputs == [] and result.error is not None
    assert result.error["type"] == "InvalidOutput"


def test_values_a_record_cannot_hold() -> None:
    for code, kind in [
        ("output('f', () => 1)", "TypeError"),
        ("output('s', Symbol('x'))", "TypeError"),
        ("const a = []; a.push(a); output('c', a)", "RangeError"),
        ("output('d', new Date(NaN))", "RangeError"),
        ("output('u', '\\ud800')", "InvalidOutput"),
    ]:
        result = one(code)
        assert result.outputs == [], code
        assert result.error is not None and result.error["type"] == kind, (code, result.error)


def test_console_is_captured_with_user_lines() -> None:
    code = (
        "console.log('hi', data)\n"
        "\n"
        "  console.warn(new Set([1]), undefined, () => 1)\n"
        "function helper() {\n"
        "  console.error(new Error('bad'))\n"
        "}\n"
        "helper(); console.info(1n, NaN)"
    )
    result = one(code, {"a": b"\x01"})
    assert result.error is None
    assert result.logs == [
        {"type": "log", "args": ["hi", {"a": {"type": "Buffer", "data": [1]}}], "line": 1},
        {
            "type": "warn",
            "args": [
                {"type": "Set", "data": [1]},
                {"type": "constant", "data": "undefined"},
                "[Function]",
            ],
            "line": 3,
        },
        {"type": "error", "args": ["Error: bad"], "line": 5},
        {
            "type": "info",
            "args": [{"type": "BigInteger", "data": "1"}, {"type": "constant", "data": "NaN"}],
            "line": 7,
        },
    ]


def test_console_output_is_bounded() -> None:
    limits = SandboxLimits(max_log_bytes=1000)
    result = one(
        "for (let i = 0; i < 1000; i++) console.log('line', i)\noutput('done', 1)", None, limits
    )
    assert result.error is None and result.outputs == [("done", 1)]
    assert 10 < len(result.logs) < 100
    assert result.logs[-1]["type"] == "warn" and "dropped" in result.logs[-1]["args"][0]


def test_a_throw_fails_the_record_and_keeps_earlier_outputs() -> None:
    code = "output('a', 1)\noutput('b', [2])\n  throw new Error('nice')\noutput('c', 3)"
    result = one(code)
    assert result.outputs == [("a", 1), ("b", [2])]
    assert result.error == {
        "type": "Error",
        "message": "nice",
        "stack": [
            {"line": 3, "column": 3, "filename": "map.js", "code": "throw new Error('nice')"}
        ],
    }


def test_error_stack_runs_through_user_functions() -> None:
    code = "function inner(x) {\n  return x.missing.field\n}\n[1].forEach(v => {\n  inner(v)\n})"
    result = one(code)
    assert result.error is not None and result.error["type"] == "TypeError"
    # The throw, its caller, then map's own frame (QuickJS gives a call spanning lines the
    # line where it ends).
    assert [frame["line"] for frame in result.error["stack"]] == [2, 5, 6]
    assert result.error["stack"][0]["code"] == "return x.missing.field"


def test_thrown_non_errors_and_custom_errors() -> None:
    result = one("throw 'just a string'")
    assert result.error == {"type": "Error", "message": "just a string", "stack": []}
    code = (
        "class LensError extends Error {\n"
        "  constructor(m) { super(m); this.name = 'LensError' }\n"
        "}\n"
        "throw new LensError('custom')"
    )
    result = one(code)
    assert result.error is not None
    assert (result.error["type"], result.error["message"]) == ("LensError", "custom")
    assert result.error["stack"][-1]["line"] == 4


def test_syntax_error() -> None:
    with pytest.raises(LensCodeError) as raised:
        check_program(LensProgram("let a = 1\nlet b = (1+)\n"), LIMITS)
    error = raised.value
    assert isinstance(error, Invalid)
    assert (error.filename, error.line, error.column) == ("map.js", 2, 12)
    assert error.message == "map.js:2:12: SyntaxError: unexpected token in expression: ')'"


def test_syntax_error_on_the_first_line_and_at_the_end() -> None:
    with pytest.raises(LensCodeError) as raised:
        check_program(LensProgram("output('a', 1) output('b', 2)"), LIMITS)
    assert (raised.value.line, raised.value.column) == (1, 16)
    with pytest.raises(LensCodeError) as raised:
        check_program(LensProgram("if (x) {\n  output('a', 1)\n"), LIMITS)
    assert raised.value.line == 2 and "end of the code" in raised.value.message


def test_a_program_that_compiles() -> None:
    check_program(LensProgram("output(path.recordID, data)", "return left"), LIMITS)


def test_code_that_closes_the_function_early() -> None:
    with pytest.raises(LensCodeError, match="closes the function early"):
        check_program(LensProgram("}); (function () {"), LIMITS)


def test_reduce_syntax_error() -> None:
    with pytest.raises(LensCodeError) as raised:
        check_program(LensProgram("output(1, 1)", "return left +"), LIMITS)
    assert raised.value.filename == "reduce.js" and raised.value.line == 1


def test_determinism() -> None:
    code = (
        "output('now', Date.now())\n"
        "output('date', new Date())\n"
        "output('string', Date())\n"
        "output('given', new Date(2020, 0, 1).toISOString())\n"
        "output('random', typeof Math.random)"
    )
    first = run(code, [item("a")])
    second = run(code, [item("a")])
    assert first == second
    assert dict(first[0].outputs) == {
        "now": NOW,
        "date": JSDate(NOW),
        "string": "Tue Nov 14 2023 22:13:20 GMT+0000",
        "given": "2020-01-01T00:00:00.000Z",  # local time is UTC in the sandbox
        "random": "function",
    }
    result = one("Math.random()")
    assert result.error is not None
    assert (result.error["type"], result.error["message"]) == (
        "Error",
        "Lenses must be deterministic",
    )


def test_a_timeout_fails_only_its_record() -> None:
    code = "output(path.recordID, 1)\nif (path.recordID === 'loop') while (true) {}"
    results = run(code, [item("a"), item("loop"), item("b")])
    assert results[0] == MapResult([("a", 1)], [], None)
    assert results[1].outputs == []  # where a limit strikes is not deterministic
    assert results[1].error is not None and results[1].error["type"] == "TimeoutError"
    assert "50 ms" in results[1].error["message"]
    assert results[1].error["stack"][0]["line"] == 2  # where it was when time ran out
    assert results[2] == MapResult([("b", 1)], [], None)


def test_a_memory_bomb_fails_only_its_record() -> None:
    code = (
        "if (path.recordID === 'bomb') {\n"
        "  const a = []; while (true) a.push(new Array(1e6).fill(1))\n"
        "}\n"
        "output(path.recordID, 1)"
    )
    results = run(code, [item("a"), item("bomb"), item("b")])
    assert results[1].error is not None and results[1].error["type"] == "MemoryError"
    assert [r.outputs for r in results] == [[("a", 1)], [], [("b", 1)]]


def test_too_deep_a_recursion_fails_only_its_record() -> None:
    code = (
        "if (path.recordID === 'deep') {\n"
        "  function f() { return f() }\n"
        "  f()\n"
        "}\n"
        "output(path.recordID, 1)"
    )
    results = run(code, [item("a"), item("deep"), item("b")])
    error = results[1].error
    assert error is not None and error["type"] in {"RangeError", "InternalError"}
    assert "stack" in error["message"]
    assert [r.outputs for r in results] == [[("a", 1)], [], [("b", 1)]]


def test_too_large_an_output_fails_only_its_record() -> None:
    limits = SandboxLimits(max_output_bytes=10 * 1024 * 1024)
    code = (
        "output('small', 1)\n"
        "if (path.recordID === 'big') {\n"
        "  try { output('x', 'a'.repeat(10*1024*1024+1)) } catch (e) {}\n"
        "}\n"
        "output(path.recordID, 1)"
    )
    results = run(code, [item("a"), item("big"), item("b")], limits)
    assert results[1].error is not None and results[1].error["type"] == "OutputTooLarge"
    assert results[1].outputs == []  # even though the lens caught the error
    assert results[0].outputs == [("small", 1), ("a", 1)]
    assert results[2].outputs == [("small", 1), ("b", 1)]


def test_tampering_does_not_reach_the_next_record() -> None:
    code = """
      if (path.recordID === 'tamper') {
        Object.prototype.polluted = 1
        Array.prototype.push = function () { return 'hijacked' }
        JSON.stringify = () => 'hijacked'
        output = () => {}
        console = null
        Math.random = () => 4
        leaked = 'implicit global'
        globalThis.cache = new Map()
        Object.defineProperty(globalThis, 'permanent', {value: 1})
        try { Object.setPrototypeOf(Set.prototype, null) } catch (e) { console.log(e.name) }
      }
      const seen = [typeof ({}).polluted, [].push(1), JSON.stringify([1]), typeof leaked,
        typeof cache, typeof permanent, Object.getPrototypeOf(Set.prototype) === Object.prototype]
      console.log('ok')
      output(path.recordID, seen)
    """
    results = run(code, [item("before"), item("tamper"), item("after")])
    expected = ["undefined", 1, "[1]", "undefined", "undefined", "undefined", True]
    assert results[0].outputs == [("before", expected)]
    assert results[2].outputs == [("after", expected)]
    assert results[2].logs == [{"type": "log", "args": ["ok"], "line": 16}]
    # Within the record itself the built-ins were frozen too; its own globals lived on.
    assert results[1].logs[0]["args"] == ["TypeError"]
    tampered = results[1].outputs[0][1]
    assert tampered == ["undefined", 1, "[1]", "string", "object", "number", True]


def test_strict_code_sees_frozen_builtins_throw() -> None:
    result = one("'use strict'\nArray.prototype.push = null")
    assert result.error is not None and result.error["type"] == "TypeError"


def test_overriding_inherited_names_still_works() -> None:
    code = """
      const o = {}; o.toString = () => 'mine'; o.constructor = 'c'
      const e = new Error('m'); e.name = 'Named'; e.message = 'changed'
      function P() {}; P.prototype.toString = function () { return 'P' }
      output('o', [String(o), o.constructor, String(e), String(new P()), String({})])
    """
    result = one(code)
    assert result.error is None
    assert result.outputs == [("o", ["mine", "c", "Named: changed", "P", "[object Object]"])]


def test_no_way_out() -> None:
    code = (
        "const probes = {require: () => require('fs'), process: () => process.exit(),"
        " fetch: () => fetch('http://x'), xhr: () => new XMLHttpRequest(),"
        " std: () => std.open('/etc/passwd'), os: () => os.exec(['ls'])}\n"
        "probes[path.recordID]()\n"
        "output(path.recordID, 'escaped')"
    )
    names = ["require", "process", "fetch", "xhr", "std", "os"]
    results = run(code, [item(name) for name in names] + [item("none")])
    for name, result in zip(names, results, strict=False):
        assert result.outputs == [], name
        assert result.error is not None and result.error["type"] == "ReferenceError", name
    assert results[-1].error is not None and results[-1].error["type"] == "TypeError"
    result = one("import('fs').catch(() => {}); output('after', typeof globalThis.fs)")
    assert result.outputs == [("after", "undefined")]


def test_environment_internals_are_hidden() -> None:
    names = [
        "revive",
        "encode",
        "settings",
        "lockdown",
        "current",
        "mapFunction",
        "lens",
        "RealDate",
    ]
    code = (
        f"output('seen', {names!r}.filter(name => {{\n"
        "  try { return eval(name) !== undefined } catch (e) { return false }\n"
        "}))"
    )
    assert one(code).outputs == [("seen", [])]


def test_markup_helpers() -> None:
    code = """
      const doc = data
      output('is', [Markup.isPigeonMark(doc), Markup.isPigeonMark(['', 1]),
        Markup.isPigeonMark('t')])
      output('get', [Markup.get.type(doc), Markup.get.name(doc), Markup.get.id(doc),
        Markup.get.classList(doc), Markup.get.attribute(doc, 'lang'), Markup.get.attributes(doc),
        Markup.get.children(doc).length, Markup.get.childNodes(doc).length, Markup.get.text(doc),
        Markup.get.type('x'), Markup.get.name('x')])
      output('select', [
        Markup.select(doc, 'p').length, Markup.select(doc, '.note').map(Markup.get.text),
        Markup.select(doc, '#main').length, Markup.select(doc, 'div p b').map(Markup.get.text),
        Markup.select(doc, 'div > b').length, Markup.select(doc, 'p.note.big, i').length,
        Markup.select(doc, '*').length])
      const copy = ['p', 'x']
      Markup.set.attribute(copy, 'class', 'a')
      Markup.set.attribute(copy, 'title', 'T')
      Markup.set.attribute(copy, 'title', null)
      Markup.set.text(copy, 'new <text>')
      output('set', copy)
      output('html', Markup.toHTML(['div', {id: 'a"b', hidden: true, gone: false},
        'x < y & z', ['br'], ['img', {src: '<x>'}], ['p', 'a', ['b', 'c']]]))
      let refused = []
      for (const bad of [['a b'], ['a', {'x"': 1}]]) {
        try { Markup.toHTML(bad) } catch (e) { refused.push(e.constructor.name) }
      }
      try { Markup.select(doc, 'a[href]') } catch (e) { refused.push(e.constructor.name) }
      output('refused', refused)
    """
    doc = [
        "div",
        {"id": "main", "class": "page wide", "lang": "en"},
        ["p", {"class": "note"}, "first ", ["b", "bold"]],
        ["p", {"class": "note big"}, "second"],
        "tail",
        ["i", "x"],
    ]
    result = one(code, doc)
    assert result.error is None, result.error
    assert dict(result.outputs) == {
        "is": [True, False, True],
        "get": [
            "element",
            "div",
            "main",
            ["page", "wide"],
            "en",
            {"id": "main", "class": "page wide", "lang": "en"},
            3,
            4,
            "first boldsecondtailx",
            "text",
            UNDEFINED,
        ],
        "select": [2, ["first bold", "second"], 1, ["bold"], 0, 2, 5],
        "set": ["p", {"class": "a"}, "new <text>"],
        "html": '<div id="a&quot;b" hidden>x &lt; y &amp; z<br><img src="&lt;x&gt;">'
        "<p>a<b>c</b></p></div>",
        "refused": ["TypeError", "TypeError", "SyntaxError"],
    }


def test_a_killed_worker_fails_the_record_it_was_on() -> None:
    limits = SandboxLimits(timeout_ms=20_000)
    code = "if (path.recordID === 'slow') while (true) {}\noutput(path.recordID, 1)"
    with LensSession(LensProgram(code), limits, NOW) as session:
        first_pid = session.worker_pid
        assert first_pid is not None
        timer = threading.Timer(0.5, os.kill, (first_pid, signal.SIGKILL))
        timer.start()
        try:
            results = session.map([item("a"), item("slow"), item("b"), item("c")])
        finally:
            timer.cancel()
        assert results[0].outputs == [("a", 1)]
        assert results[1].error is not None and results[1].error["type"] == "WorkerCrash"
        assert "SIGKILL" in results[1].error["message"]
        assert [r.outputs for r in results[2:]] == [[("b", 1)], [("c", 1)]]
        assert session.worker_pid not in (None, first_pid)
        assert session.map([item("d")])[0].outputs == [("d", 1)]


def test_close_while_mapping() -> None:
    limits = SandboxLimits(timeout_ms=20_000)
    session = LensSession(LensProgram("while (true) {}"), limits, NOW)
    pid = session.worker_pid
    timer = threading.Timer(0.5, session.close)
    timer.start()
    with pytest.raises(ServerFault, match="closed"):
        session.map([item("a")])
    timer.join()
    assert session.worker_pid is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid or 0, 0)
    with pytest.raises(ServerFault, match="closed"):
        session.map([item("b")])


def test_the_build_budget() -> None:
    limits = SandboxLimits(timeout_ms=20_000, build_seconds=1.0)
    with LensSession(LensProgram("while (true) {}"), limits, NOW) as session:
        with pytest.raises(BudgetExceeded):
            session.map([item("a")])
        assert session.worker_pid is None
        with pytest.raises(BudgetExceeded):
            session.map([item("b")])


def test_user_reduce() -> None:
    program = LensProgram("output('all', data)", "return left + right")
    with LensSession(program, LIMITS, NOW) as session:
        assert session.reduce([1, 2, 3]) == 6
        assert session.reduce(["a", "b"]) == "ab"
        assert session.reduce([[1]]) == [1]  # one value is never reduced
        assert session.reduce([2**60, 2**60]) == 2**61  # two BigInts
        with pytest.raises(ReduceFailed) as raised:
            session.reduce([2**60, 1.5])  # JavaScript cannot mix a BigInt and a Number
        assert raised.value.error["type"] == "TypeError"
        assert raised.value.error["stack"][0]["filename"] == "reduce.js"
        assert session.reduce([JSSet([1]), JSSet([2])]) == "[object Set][object Set]"


def test_user_reduce_errors() -> None:
    program = LensProgram(
        "output('x', 1)",
        "if (right === 'loop') while (true) {}\n"
        "if (right === 'throw')\n"
        "  throw new RangeError('no')\n"
        "return {...left, ...right}",
    )
    with LensSession(program, LIMITS, NOW) as session:
        assert session.reduce([{"a": 1}, {"b": 2}]) == {"a": 1, "b": 2}
        with pytest.raises(ReduceFailed) as raised:
            session.reduce([{}, "throw"])
        assert raised.value.error["type"] == "RangeError"
        assert raised.value.error["stack"][0] == {
            "line": 3,
            "column": 3,
            "filename": "reduce.js",
            "code": "throw new RangeError('no')",
        }
        with pytest.raises(ReduceFailed) as raised:
            session.reduce([{}, "loop"])
        assert raised.value.error["type"] == "TimeoutError"
        assert session.reduce([{"a": 1}, {"a": 2}]) == {"a": 2}
        assert session.map([item("m")])[0].outputs == [("x", 1)]


def test_no_reduce_code() -> None:
    with (
        LensSession(LensProgram("output(1, 1)"), LIMITS, NOW) as session,
        pytest.raises(ValueError, match="no reduce"),
    ):
        session.reduce([1, 2])


def test_digest() -> None:
    a = LensProgram("output(1, 1)")
    assert a.digest() == LensProgram("output(1, 1)").digest()
    assert (
        len(
            {
                a.digest(),
                LensProgram("output(1, 2)").digest(),
                LensProgram("output(1, 1)", "").digest(),
            }
        )
        == 3
    )


def test_ten_thousand_records_in_one_session(echo: LensSession) -> None:
    items = [item(f"r{i}", {"n": i, "tags": ["x"]}) for i in range(10_000)]
    results = echo.map(items)
    assert len(results) == 10_000
    assert all(r.error is None for r in results)
    assert [r.outputs for r in results] == [
        [(f"r{i}", {"n": i, "tags": ["x"]})] for i in range(10_000)
    ]
