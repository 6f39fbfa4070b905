"""The lens worker's process as the server sees it: started isolated, spoken to in
length-prefixed frames with a deadline on every wait, and killed.

``sandbox/lens_worker.py`` is the other end (its docstring has the protocol). The child
gets an empty environment (only ``TZ=UTC``, so that a lens's local-time Date methods give
the same answer on every server), an empty temporary working directory, no stderr (it
reports its own failures in frames), and a session of its own, so that killing its process
group leaves nothing behind. Waits use ``poll`` on the pipes, never a blocking read, so a
silent or dead worker costs at most its deadline; nothing here touches an event loop.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dataloft import sandbox

WORKER = Path(sandbox.__file__).resolve().parent / "lens_worker.py"
CHILD_ENVIRONMENT = {"TZ": "UTC", "LC_ALL": "C.UTF-8"}
HEADER = 4
CHUNK = 1024 * 1024


class WorkerDied(Exception):
    """The worker exited, was killed, or said nothing before the deadline."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class WorkerProcess:
    """One running worker. ``max_frame`` bounds what it may send in one frame."""

    def __init__(
        self, memory_bytes: int, max_output_bytes: int, cpu_seconds: int, max_frame: int
    ) -> None:
        self.max_frame = max_frame
        self.directory = tempfile.mkdtemp(prefix="dataloft-lens-")
        arguments = [str(memory_bytes), str(max_output_bytes), str(cpu_seconds)]
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(WORKER), *arguments],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                cwd=self.directory,
                env=CHILD_ENVIRONMENT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin = self.process.stdin.fileno()
        self.stdout = self.process.stdout.fileno()
        os.set_blocking(self.stdin, False)
        os.set_blocking(self.stdout, False)
        self.buffer = bytearray()
        self.start = 0  # where the unread part of the buffer begins
        self.closed = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, frames: list[bytes], silence: float, until: float) -> None:
        """Write ``frames``, reading whatever the worker answers meanwhile (it may be
        answering an earlier request, and would block on a full pipe if nobody read)."""
        data = memoryview(b"".join(len(f).to_bytes(HEADER, "big") + f for f in frames))
        poller = select.poll()
        poller.register(self.stdin, select.POLLOUT)
        poller.register(self.stdout, select.POLLIN)
        last = time.monotonic()
        while data:
            for fd, _event in self._wait(poller, min(last + silence, until)):
                if fd == self.stdout:
                    self._read()
                else:
                    try:
                        written = os.write(self.stdin, data)
                    except BlockingIOError:
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        raise WorkerDied(self._how_it_ended()) from None
                    data = data[written:]
                last = time.monotonic()

    def receive(self, silence: float, until: float) -> bytes:
        """The next frame, once all of it has come; ``WorkerDied`` when nothing came for
        ``silence`` seconds, or at ``until``."""
        poller = select.poll()
        poller.register(self.stdout, select.POLLIN)
        last = time.monotonic()
        while True:
            frame = self._frame()
            if frame is not None:
                return frame
            self._wait(poller, min(last + silence, until))
            self._read()
            last = time.monotonic()

    def leftover(self) -> list[bytes]:
        """The whole frames that came before the worker died, not yet received."""
        frames: list[bytes] = []
        try:
            while (frame := self._frame()) is not None:
                frames.append(frame)
        except WorkerDied:
            pass
        return frames

    def _frame(self) -> bytes | None:
        available = len(self.buffer) - self.start
        if available < HEADER:
            return None
        size = int.from_bytes(self.buffer[self.start : self.start + HEADER], "big")
        if size > self.max_frame:
            raise WorkerDied(f"the worker sent a frame of {size} bytes")
        if available < HEADER + size:
            return None
        begin = self.start + HEADER
        frame = bytes(self.buffer[begin : begin + size])
        self.start = begin + size
        if self.start > CHUNK and self.start * 2 > len(self.buffer):
            # Compact now and then, not after every frame: a batch's replies often come
            # in one read.
            del self.buffer[: self.start]
            self.start = 0
        return frame

    def _read(self) -> None:
        try:
            chunk = os.read(self.stdout, CHUNK)
        except BlockingIOError:
            return
        if not chunk:
            raise WorkerDied(self._how_it_ended())
        self.buffer += chunk

    def _wait(self, poller: select.poll, deadline: float) -> list[tuple[int, int]]:
        remaining = deadline - time.monotonic()
        events = poller.poll(remaining * 1000) if remaining > 0 else []
        if not events:
            raise WorkerDied("the worker went silent")
        return events

    def _how_it_ended(self) -> str:
        try:
            status = self.process.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "the worker closed its pipes"
        if status < 0:
            try:
                name = signal.Signals(-status).name
            except ValueError:
                name = "unknown"
            return f"the worker was killed by signal {-status} ({name})"
        return f"the worker exited with status {status}"

    def terminate(self) -> None:
        """Kill the worker and anything it started, and nothing else: safe while another
        thread waits on its pipes (it sees them close)."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def kill(self) -> None:
        """Kill the worker and release its pipes and directory."""
        if self.closed:
            return
        self.closed = True
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5.0)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        shutil.rmtree(self.directory, ignore_errors=True)
