"""Lens programs run in the sandbox: map over records, reduce an output id's values.

A lens's JavaScript (Pigeon Optics' map and reduce, docs/lenses.md) is untrusted code of
any user, so it never runs in the server's process. A ``LensSession`` is one build's
child process (``core/lens_worker_process.py`` starts it, ``sandbox/lens_worker.py`` is
the program) holding the program compiled in QuickJS, with a CPU-time limit per call,
a memory and a stack limit, a bound on each record's outputs and the process's own
rlimits; the session adds a wall-clock deadline on every answer and a budget for the
whole build. Values cross as tagged JSON (``core/values.py``); what comes back is
checked as any client's value is (``check_value``), since the lens could have made it
anything.

Records go in batches (up to ``BATCH_RECORDS`` records or about ``BATCH_BYTES`` per round
trip), two batches in flight, each encoded just before it goes and each record's reply
decoded as soon as it comes, so that the server's side (~9 µs to encode a small record,
~8 µs to check its reply) overlaps the worker's (~15 µs: parse, map, encode, reply).
Measured through ``LensSession.map`` on a 2-core machine, with ``output(path.recordID,
data)`` over 10,000 small records: 20 to 25 µs per record (16 to 19 µs for an empty map);
before the pipelining, 41 µs. Starting a worker (Python, QuickJS, the environment, the
compiled program) takes 40 to 55 ms.

Failures, each failing one record (``MapResult.error``) and never the session:
a throw, a limit (``TimeoutError``, ``MemoryError``, ``RangeError``/``InternalError`` for
the stack, ``OutputTooLarge``), an output the server refuses (``InvalidOutput``), and the
worker dying or going silent (``WorkerCrash``: the worker is killed and a fresh one
takes the rest of the records). A session whose ``build_seconds`` are spent raises
``BudgetExceeded``, an ``Invalid``: a build that does not fit its budget is the lens's
fault, like any other rule it breaks. A syntax error raises ``LensCodeError``.

Called from worker threads: every method blocks its thread, none touches an event loop.
One session serves one build, one call at a time (a lock makes sure).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson

from dataloft.core.decoding import MAX_DEPTH, DecodeLimits
from dataloft.core.errors import Invalid, LoftError, ServerFault
from dataloft.core.lens_worker_process import WorkerDied, WorkerProcess
from dataloft.core.names import validate_record_id
from dataloft.core.values import check_value, from_jsonable, to_jsonable

# Part of every program's digest: a change to what the environment gives a lens (its
# globals, the engine, how values cross) changes the version, and so invalidates every
# cached map result.
ENVIRONMENT_VERSION = "dataloft-lens-environment-1 quickjs-1.19.4 (QuickJS 2021-03-27)"

BATCH_RECORDS = 256
BATCH_BYTES = 1024 * 1024
# Wall-clock slack per call over its CPU-time limit: the machine may be busy, and the
# worker may be replacing its context after the call (~5 ms; more for a large program).
# What QuickJS cannot interrupt (a regular expression that backtracks without end) is
# stopped by this deadline: the worker is killed, the record fails as a WorkerCrash.
CALL_GRACE_SECONDS = 2.0
STARTUP_SECONDS = 30.0


@dataclass(frozen=True)
class LensProgram:
    map_code: str
    reduce_code: str | None = None

    def digest(self) -> str:
        """Names the program and the environment it runs in (for caching map results)."""
        text = json.dumps([ENVIRONMENT_VERSION, self.map_code, self.reduce_code])
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class SandboxLimits:
    timeout_ms: int = 50  # per map/reduce call (CPU time)
    memory_bytes: int = 64 * 1024 * 1024
    max_output_bytes: int = 16 * 1024 * 1024  # per record's outputs, encoded
    stack_bytes: int = 512 * 1024
    build_seconds: float = 600.0  # the whole session's wall-clock budget
    # Per record's console output: beyond it the record's further logs are dropped (one
    # warning says so) rather than the record failed, logs being a debugging aid.
    max_log_bytes: int = 1024 * 1024

    def __post_init__(self) -> None:
        numbers = (self.timeout_ms, self.memory_bytes, self.max_output_bytes, self.stack_bytes)
        if min(numbers) < 1 or self.max_log_bytes < 1 or not self.build_seconds > 0:
            raise ValueError("sandbox limits must be positive")

    @property
    def call_seconds(self) -> float:
        """How long the server waits for one call's answer before it kills the worker."""
        return self.timeout_ms / 1000 * 4 + CALL_GRACE_SECONDS


class LensCodeError(Invalid):
    """The lens's code does not compile. ``message`` reads like
    ``map.js:3:7: SyntaxError: unexpected token in expression: ')'``."""

    def __init__(
        self, message: str, *, filename: str, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line
        self.column = column

    @classmethod
    def from_report(cls, report: dict[str, Any]) -> LensCodeError:
        filename = str(report.get("filename") or "map.js")
        line = report.get("line") if isinstance(report.get("line"), int) else None
        column = report.get("column") if isinstance(report.get("column"), int) else None
        where = filename + "".join(f":{n}" for n in (line, column) if n is not None)
        text = f"{where}: {report.get('type', 'SyntaxError')}: {report.get('message', '')}"
        return cls(text, filename=filename, line=line, column=column)


class BudgetExceeded(Invalid):
    """The session used up its ``build_seconds``; its worker is gone."""


class ReduceFailed(Exception):
    """The user's reduce failed for one output id: ``error`` as a map error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('type')}: {error.get('message')}")
        self.error = error


@dataclass(frozen=True)
class MapInput:
    path: str  # "/datasets/alice:signs/records/abc"
    source: str  # "datasets" or "lenses"
    author: str
    name: str
    record_id: str
    value: Any  # a record value as core.values types


@dataclass
class MapResult:
    """One record's map: ``outputs`` in emission order, values as core.values types;
    ``logs`` as ``{"type", "args", "line"}`` with the arguments as tagged JSON (ready to
    serve); ``error`` as ``{"type", "message", "stack": [{"line", "column", "filename",
    "code"}]}`` or None."""

    outputs: list[tuple[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None


def failure(kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "message": message, "stack": []}


def check_program(program: LensProgram, limits: SandboxLimits) -> None:
    """Compile map (and reduce) in a worker; LensCodeError on a syntax error."""
    with LensSession(program, limits, now_ms=0):
        pass


class LensSession:
    """One child process for one build (see the module docstring)."""

    def __init__(self, program: LensProgram, limits: SandboxLimits, now_ms: int) -> None:
        self.program = program
        self.limits = limits
        self.decode_limits = DecodeLimits()
        self.deadline = time.monotonic() + limits.build_seconds
        self._lock = threading.Lock()
        self._worker: WorkerProcess | None = None
        self._closed = False
        setup = {
            "map": program.map_code,
            "reduce": program.reduce_code,
            "now": now_ms,
            "timeoutMs": limits.timeout_ms,
            "memoryBytes": limits.memory_bytes,
            "stackBytes": limits.stack_bytes,
            "maxOutput": limits.max_output_bytes,
            "maxLog": limits.max_log_bytes,
            "maxDepth": MAX_DEPTH,
        }
        try:
            self._setup = orjson.dumps(setup)
        except orjson.JSONEncodeError:
            raise LensCodeError(
                "map.js: the code is not valid Unicode text", filename="map.js"
            ) from None
        self._start()

    # --- the worker ---

    @property
    def worker_pid(self) -> int | None:
        """The process id of the current worker (None between workers)."""
        return None if self._worker is None else self._worker.pid

    def _start(self) -> WorkerProcess:
        if self._closed:
            raise ServerFault("the lens session is closed")
        limits = self.limits
        worker = WorkerProcess(
            limits.memory_bytes,
            limits.max_output_bytes,
            math.ceil(limits.build_seconds) + 30,  # its whole CPU time: a backstop
            3 * limits.max_output_bytes + limits.max_log_bytes + 2 * 1024 * 1024,
        )
        try:
            worker.send([self._setup], STARTUP_SECONDS, self.deadline)
            answer = orjson.loads(worker.receive(STARTUP_SECONDS, self.deadline))
        except (WorkerDied, orjson.JSONDecodeError) as error:
            worker.kill()
            self._check_budget()
            raise ServerFault(f"the lens worker did not start: {error}") from None
        if not isinstance(answer, dict) or not answer.get("ok"):
            worker.kill()
            if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
                raise LensCodeError.from_report(answer["error"])
            raise ServerFault(f"the lens worker could not start: {answer}")
        self._worker = worker
        return worker

    def _check_budget(self) -> None:
        if time.monotonic() >= self.deadline:
            self._discard()
            raise BudgetExceeded(
                f"the lens build used up its budget of {self.limits.build_seconds:g} seconds"
            )

    def _discard(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker = None

    # --- map ---

    def map(self, items: Sequence[MapInput]) -> list[MapResult]:
        """One result per item, in order."""
        with self._lock:
            self._check_budget()
            results: list[MapResult | None] = [None] * len(items)
            waiting = deque(range(len(items)))
            while waiting:
                self._map_some(items, waiting, results)
            return [result if result is not None else MapResult() for result in results]

    def _map_some(
        self, items: Sequence[MapInput], waiting: deque[int], results: list[MapResult | None]
    ) -> None:
        """Map the ``waiting`` items with one worker, until done or the worker dies: then
        the record it was on fails, and those sent after it go back to ``waiting``.

        Two batches are kept in flight, so that the worker starts on the next while the
        replies to the last are decoded here; each is encoded just before it goes."""
        sent: deque[int] = deque()  # the items with the worker, in order
        worker = self._worker or self._start()
        try:
            while waiting or sent:
                if waiting and len(sent) <= BATCH_RECORDS:
                    batch = self._batch(items, waiting, results)
                    if batch:
                        header = orjson.dumps({"op": "map", "count": len(batch)})
                        frames = [header, *(data for _, data in batch)]
                        worker.send(frames, self.limits.call_seconds, self.deadline)
                        sent.extend(index for index, _ in batch)
                    continue
                reply = worker.receive(self.limits.call_seconds, self.deadline)
                results[sent.popleft()] = self._map_result(reply)
        except WorkerDied as died:
            for reply in worker.leftover():  # answers that came before it died
                if sent:
                    results[sent.popleft()] = self._map_result(reply)
            self._discard()
            self._check_budget()
            if self._closed:
                raise ServerFault("the lens session was closed while it mapped") from None
            if sent:
                message = f"{died.reason} while mapping this record; a fresh worker goes on"
                results[sent.popleft()] = MapResult(error=failure("WorkerCrash", message))
            waiting.extendleft(reversed(sent))

    def _batch(
        self, items: Sequence[MapInput], waiting: deque[int], results: list[MapResult | None]
    ) -> list[tuple[int, bytes]]:
        """The next batch: up to ``BATCH_RECORDS`` records and about ``BATCH_BYTES``."""
        batch: list[tuple[int, bytes]] = []
        size = 0
        while waiting and len(batch) < BATCH_RECORDS and size < BATCH_BYTES:
            index = waiting.popleft()
            try:
                data = self._encode(items[index])
            except (LoftError, orjson.JSONEncodeError) as error:
                # Not a value a record can hold: never stored, but said per record.
                results[index] = MapResult(error=failure("InvalidInput", str(error)))
                continue
            batch.append((index, data))
            size += len(data)
        return batch

    def _encode(self, item: MapInput) -> bytes:
        path = {
            "string": item.path,
            "source": item.source,
            "author": item.author,
            "name": item.name,
            "recordID": item.record_id,
        }
        return orjson.dumps({"path": path, "data": to_jsonable(item.value, exact_integers=True)})

    def _map_result(self, reply: bytes) -> MapResult:
        try:
            answer = orjson.loads(reply)
        except orjson.JSONDecodeError as unreadable:
            # The environment escapes everything but an output's lone surrogate, which
            # orjson refuses (a record's text must be valid Unicode).
            message = f"an output cannot be stored: {unreadable}"
            return MapResult(error=failure("InvalidOutput", message))
        if not isinstance(answer, dict):
            return MapResult(error=failure("InternalError", "the worker's reply is malformed"))
        raw_outputs, logs, error = answer.get("outputs"), answer.get("logs"), answer.get("error")
        if not isinstance(raw_outputs, list) or not isinstance(logs, list):
            return MapResult(error=failure("InternalError", "the worker's reply is malformed"))
        if error is not None and not isinstance(error, dict):
            error = failure("InternalError", "the worker's reply is malformed")
        outputs: list[tuple[str, Any]] = []
        for pair in raw_outputs:
            try:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise Invalid("the worker's reply is malformed")
                record_id = validate_record_id(pair[0])
                value = from_jsonable(pair[1])
                check_value(value, self.decode_limits)
            except LoftError as refused:
                # As if the lens had thrown at this output: what came before stays.
                error = failure("InvalidOutput", f"output {str(pair[0])[:100]!r}: {refused}")
                break
            outputs.append((record_id, value))
        return MapResult(outputs, [entry for entry in logs if isinstance(entry, dict)], error)

    # --- reduce ---

    def reduce(self, values: Sequence[Any]) -> Any:
        """The user's reduce folded over ``values`` left to right; ReduceFailed."""
        if self.program.reduce_code is None:
            raise ValueError("this lens has no reduce code")
        if not values:
            raise ValueError("nothing to reduce")
        if len(values) == 1:
            return values[0]  # reduce is called only for an id output more than once
        with self._lock:
            self._check_budget()
            try:
                frames = [orjson.dumps(to_jsonable(v, exact_integers=True)) for v in values]
            except (LoftError, orjson.JSONEncodeError) as refused:
                raise ReduceFailed(failure("InvalidInput", str(refused))) from None
            header = orjson.dumps({"op": "reduce", "count": len(frames)})
            try:
                worker = self._worker or self._start()
                # The whole fold is one reply: silence for every call's time at most.
                silence = len(frames) * self.limits.call_seconds
                worker.send([header, *frames], silence, self.deadline)
                reply = worker.receive(silence, self.deadline)
            except WorkerDied as died:
                self._discard()
                self._check_budget()
                if self._closed:
                    raise ServerFault("the lens session was closed while it reduced") from None
                message = f"{died.reason} while reducing; a fresh worker goes on"
                raise ReduceFailed(failure("WorkerCrash", message)) from None
            return self._reduce_result(reply)

    def _reduce_result(self, reply: bytes) -> Any:
        try:
            answer = orjson.loads(reply)
        except orjson.JSONDecodeError as unreadable:
            message = f"the reduced value cannot be stored: {unreadable}"
            raise ReduceFailed(failure("InvalidOutput", message)) from None
        if not isinstance(answer, dict):
            raise ReduceFailed(failure("InternalError", "the worker's reply is malformed"))
        if answer.get("error") is not None:
            error = answer["error"]
            raise ReduceFailed(error if isinstance(error, dict) else failure("InternalError", ""))
        try:
            value = from_jsonable(answer.get("value"))
            check_value(value, self.decode_limits)
        except LoftError as refused:
            raise ReduceFailed(failure("InvalidOutput", str(refused))) from None
        return value

    # --- lifetime ---

    def close(self) -> None:
        """Kill the worker, at once even while another thread maps with it (that thread
        gets a ServerFault)."""
        self._closed = True
        worker = self._worker
        if worker is not None:
            worker.terminate()
        with self._lock:
            self._discard()

    def __enter__(self) -> LensSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
