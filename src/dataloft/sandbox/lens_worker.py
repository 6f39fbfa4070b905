"""The lens sandbox's child process: a lens's JavaScript, run by QuickJS.

``dataloft.core.lens_sandbox`` starts it as ``python -I lens_worker.py <memory bytes>
<max output bytes> <cpu seconds>`` for one build, in an empty directory with an empty
environment, and talks to it over standard input and output in frames: a 4-byte
big-endian length, then that many bytes of UTF-8 JSON. First the setup (the program, the
build's time, the limits), answered ``{"ok": true}`` or ``{"ok": false, "error": ...}``
(the code does not compile); then requests, each a header frame followed by its items:

    {"op": "map", "count": n}       n records ({"path": {...}, "data": <tagged JSON>}),
                                    answered by n replies, one per record, in order, each
                                    written as soon as its record is done, so that when
                                    the worker dies the parent knows which record it was on
    {"op": "reduce", "count": n}    n values, answered by one reply

What runs where: this file does the I/O and the limits that JavaScript cannot see (the
time limit's interrupt, an exhausted heap); ``lens_values.js``, ``lens_markup.js`` and
``lens_environment.js`` make the environment the lens's code sees, and build the
replies' JSON themselves, so that a record's reply passes through here as text.

One context for every record, not one per record: a bare QuickJS context costs ~160 µs
to make (measured), and one with the environment evaluated and its built-ins frozen
~5.5 to 6.5 ms, against ~15 µs for a trivial record in a context made already. So the
environment freezes every built-in and its own helpers once (``lockdown`` in
``lens_environment.js``): tampering with ``Object.prototype``, ``Array.prototype.push``,
``JSON.stringify`` or ``output`` is ignored (sloppy code) or a TypeError (strict code),
and reaches neither the next record nor the environment's own code; the globals a record
creates are deleted after it (~4 µs per record, the check included). A context is made
afresh only when a call may have spoiled it: memory exhausted, a global that cannot be
deleted, promise callbacks without end.

QuickJS is imported here only: no ``std`` or ``os`` module is ever loaded into it, so a
lens has no file system, network, clock or process. Before anything else the worker
lowers its own limits, a backstop in case the sandbox has a hole: its address space, no
files written, a few descriptors, no new processes, and its whole CPU time. Like every
program in ``dataloft.sandbox``, it imports nothing of dataloft.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

HERE = Path(__file__).resolve().parent
ENVIRONMENT = ("lens_values.js", "lens_markup.js", "lens_environment.js")
# CPU seconds for setting up a context: freezing the built-ins takes ~2 ms; compiling a
# large program, or finding a syntax error's column, can take longer.
SETUP_SECONDS = 5.0
# Promise callbacks a call left behind run after it (they cannot output); more than this
# many means a lens that keeps queueing them, and the context is replaced instead.
MAX_JOBS = 1000
FILES = 16
LINE_BREAK = re.compile("\r\n|[\n\r\u2028\u2029]")  # the line terminators QuickJS counts
HEADER = 4


def lower_limits(memory_bytes: int, max_output_bytes: int, cpu_seconds: int) -> None:
    """The process's own limits, below what it could otherwise use.

    The address space leaves room above the JavaScript heap for Python and for a reply's
    copies (the JavaScript text, the Python str, its UTF-8 bytes). New processes: the limit
    counts the user's processes, so 0 forbids forking; root is exempt, which is why it is
    only a backstop."""
    address_space = memory_bytes + 4 * max_output_bytes + 256 * 1024 * 1024
    limits = [
        (resource.RLIMIT_AS, address_space),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, FILES),
        (resource.RLIMIT_CPU, cpu_seconds),
        (resource.RLIMIT_NPROC, 0),
    ]
    for which, wanted in limits:
        _soft, hard = resource.getrlimit(which)
        value = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(which, (value, value))


def read_frame(stream: BinaryIO) -> bytes | None:
    header = stream.read(HEADER)
    if len(header) < HEADER:
        return None
    size = int.from_bytes(header, "big")
    body = stream.read(size)
    if len(body) < size:
        return None
    return body


def write_frame(stream: BinaryIO, body: bytes) -> None:
    stream.write(len(body).to_bytes(HEADER, "big") + body)
    stream.flush()


def count_lines(code: Any) -> int:
    return len(LINE_BREAK.split(code)) if isinstance(code, str) else 0


def fallback_reply(kind: str, message: str, *, mapping: bool) -> str:
    """A reply made here, when the environment cannot make one."""
    error = {"type": kind, "message": message, "stack": []}
    if mapping:
        return json.dumps({"outputs": [], "logs": [], "error": error})
    return json.dumps({"value": None, "error": error})


class Realm:
    """One QuickJS context with the lens environment and the program compiled in it.
    Replaced (``renew``) whenever a call may have left it unfit for the next: memory
    exhausted, a global that cannot be removed, promise callbacks without end."""

    def __init__(self, quickjs: Any, setup_text: str) -> None:
        self.quickjs = quickjs
        self.setup_text = setup_text
        setup = json.loads(setup_text)
        self.memory_bytes = int(setup["memoryBytes"])
        self.stack_bytes = int(setup["stackBytes"])
        self.timeout = int(setup["timeoutMs"]) / 1000
        max_output, max_log = int(setup["maxOutput"]), int(setup["maxLog"])
        self.max_reply = 3 * max_output + max_log + 1024 * 1024
        # The environment's lines come after every line of the user's code (see
        # lens_environment.js on why).
        offset = max(count_lines(setup["map"]), count_lines(setup.get("reduce"))) + 3
        parts = [(HERE / name).read_text(encoding="utf-8") for name in ENVIRONMENT]
        body = "\n".join(parts)
        self.source = "\n" * offset + "(function () {\n'use strict';\n" + body + "\n})()"
        self.context: Any = None
        self.lens: Any = None
        self.answer = self.start()

    def start(self) -> str:
        context = self.quickjs.Context()
        context.set_memory_limit(self.memory_bytes)
        context.set_max_stack_size(self.stack_bytes)
        context.set_time_limit(SETUP_SECONDS)
        self.lens = context.eval(self.source)
        self.context = context
        try:
            answer: str = self.lens("setup", self.setup_text)
        except self.quickjs.JSException as error:
            kind, message = self.limit(error, "setting up the lens")
            answer = json.dumps({"ok": False, "error": {"type": kind, "message": message}})
        context.set_time_limit(self.timeout)
        return answer

    def renew(self) -> None:
        self.lens = self.context = None  # the old runtime's memory goes first
        answer = json.loads(self.start())
        if not answer.get("ok"):
            raise RuntimeError(f"the lens no longer sets up: {answer}")

    def limit(self, error: Exception, doing: str) -> tuple[str, str]:
        """The error type and message for an exception that left JavaScript."""
        first = str(error).split("\n", 1)[0]
        if first == "InternalError: interrupted":
            return "TimeoutError", f"{doing} ran longer than {self.timeout * 1000:g} ms of CPU time"
        if first == "InternalError: out of memory":
            return "MemoryError", f"{doing} needed more than {self.memory_bytes} bytes of memory"
        if "stack overflow" in first:
            return "InternalError", "stack overflow"
        return "InternalError", first

    def call(self, operation: str, text: str, *, mapping: bool) -> str:
        """The environment's answer to one call, whatever happens to it."""
        try:
            answer = self.lens(operation, text)
            if not isinstance(answer, str):
                raise TypeError("the environment answered no text")
            return answer
        except self.quickjs.JSException as error:
            doing = "the map call" if mapping else "the reduce call"
            kind, message = self.limit(error, doing)
            fault = {"type": kind, "message": message, "stack": str(error)}
            try:
                answer = str(self.lens("abandon", json.dumps(fault)))
            except Exception:
                answer = "!" + fallback_reply(kind, message, mapping=mapping)
            # After an exhausted heap the context is replaced whatever it says.
            return answer if kind == "TimeoutError" or answer.startswith("!") else "!" + answer
        except Exception as error:  # a reply Python cannot read, memory of Python's own
            return "!" + fallback_reply("InternalError", str(error)[:1000], mapping=mapping)

    def finish(self, answer: str, *, mapping: bool) -> bytes:
        """The reply to send: after the call's promise callbacks have run, in a context
        fit for the next call."""
        if self.drain_jobs() or answer.startswith("!"):
            answer = answer.removeprefix("!")
            self.renew()
        reply = answer.encode()
        if len(reply) > self.max_reply:
            message = f"the reply exceeds {self.max_reply} bytes"
            reply = fallback_reply("OutputTooLarge", message, mapping=mapping).encode()
        return reply

    def drain_jobs(self) -> bool:
        """Run the promise callbacks the call queued; True when the context must go."""
        ran = False
        for _ in range(MAX_JOBS):
            try:
                if not self.context.execute_pending_job():
                    break
            except self.quickjs.JSException:
                pass
            ran = True
        else:
            return True
        return ran and self.call("tidy", "", mapping=True) != "clean"

    def map(self, item: bytes) -> bytes:
        return self.finish(self.call("map", item.decode(), mapping=True), mapping=True)

    def reduce(self, values: list[bytes]) -> bytes:
        answer = self.call("reduce-start", values[0].decode(), mapping=False)
        for value in values[1:]:
            if answer:
                break
            answer = self.call("reduce-step", value.decode(), mapping=False)
        if not answer:
            answer = self.call("reduce-end", "", mapping=False)
        return self.finish(answer, mapping=False)


def serve(stdin: BinaryIO, stdout: BinaryIO) -> None:
    setup = read_frame(stdin)
    if setup is None:
        return
    try:
        import quickjs

        realm = Realm(quickjs, setup.decode())
    except Exception:
        fatal = traceback.format_exc(limit=3)[-2000:]
        write_frame(stdout, json.dumps({"ok": False, "fatal": fatal}).encode())
        return
    write_frame(stdout, realm.answer.encode())
    if not json.loads(realm.answer).get("ok"):
        return
    while (header := read_frame(stdin)) is not None:
        request = json.loads(header)
        # The whole request is read before any reply is written: the parent writes it in
        # one go, and would otherwise block on a full pipe while this side did too.
        items: list[bytes] = []
        for _ in range(int(request["count"])):
            item = read_frame(stdin)
            if item is None:
                return
            items.append(item)
        if request["op"] == "map":
            for item in items:
                write_frame(stdout, realm.map(item))
        elif request["op"] == "reduce":
            write_frame(stdout, realm.reduce(items))
        else:
            raise ValueError(f"unknown request {request['op']!r}")


def main() -> None:
    memory_bytes, max_output_bytes, cpu_seconds = (int(arg) for arg in sys.argv[1:4])
    lower_limits(memory_bytes, max_output_bytes, cpu_seconds)
    serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
