"""Progress of a push or pull, on stderr: rich bars on a terminal, plain lines otherwise.

A command goes through phases (hashing, uploading; checking, downloading), each with a
number of bytes and files to get through. Many threads report into one phase at once (the
SDK's ``progress`` callbacks from parallel transfers, the hashing threads), so a ``Meter``
is thread-safe and sums what they report.

On a terminal (``Console.is_terminal`` of stderr), one rich ``Progress`` shows a bar per
phase with bytes, files done of all, the rate and the time left. Anywhere else (a log, a
pipe, CI) a phase prints a line at every tenth of its way and one when it ends, so a log
shows progress without a line per file.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text


class Meter(Protocol):
    """Where work in progress is counted (from any thread)."""

    def advance(self, count: int) -> None:
        """``count`` more bytes are done."""

    def file_done(self) -> None:
        """One more file is done."""

    def grow(self, count_bytes: int, count_files: int) -> None:
        """The phase has this much more to do than it was opened with (a push learns
        what it must upload as it goes)."""


class Display(Protocol):
    """The progress display of one command."""

    def phase(
        self, label: str, done_label: str, total_bytes: int, total_files: int
    ) -> AbstractContextManager[Meter]:
        """A phase (``hashing``, ``hashed``) of ``total_bytes`` in ``total_files``."""


class Counted:
    """A ``progress`` callback for the SDK: passes the bytes it is told of on to a meter,
    except the first ``skip`` (bytes the meter was told of already: a resumed download's
    ``.part``, a batch sent again file by file), and counts those it passed on."""

    def __init__(self, meter: Meter, skip: int = 0) -> None:
        self._meter, self._skip = meter, skip
        self.passed = 0

    def __call__(self, count: int) -> None:
        skipped = min(count, self._skip)
        self._skip -= skipped
        if count > skipped:
            self.passed += count - skipped
            self._meter.advance(count - skipped)


def human(size: float) -> str:
    """A byte count as people read it: ``12.3 MB``."""
    return decimal(int(size))


def files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


class _Counts:
    """Bytes and files done, counted under a lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.bytes = 0
        self.files = 0
        self.started = time.monotonic()


class _BarMeter:
    def __init__(
        self, progress: Progress, task: TaskID, total_bytes: int, total_files: int
    ) -> None:
        self._progress, self._task = progress, task
        self.total_bytes, self._total_files = total_bytes, total_files
        self._counts = _Counts()

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)  # rich's own lock

    def file_done(self) -> None:
        with self._counts.lock:
            self._counts.files += 1
            self._show_files()

    def grow(self, count_bytes: int, count_files: int) -> None:
        with self._counts.lock:
            self.total_bytes += count_bytes
            self._total_files += count_files
            self._progress.update(self._task, total=self.total_bytes)
            self._show_files()

    def _show_files(self) -> None:
        files = f"{self._counts.files}/{self._total_files} files"
        self._progress.update(self._task, files=files)


class BarDisplay:
    """Rich bars on the terminal ``console``; open it with ``with``."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description:>11}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[files]}"),
            TransferSpeedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )

    def __enter__(self) -> BarDisplay:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @contextmanager
    def phase(
        self, label: str, done_label: str, total_bytes: int, total_files: int
    ) -> Iterator[Meter]:
        task = self._progress.add_task(label, total=total_bytes, files=f"0/{total_files} files")
        meter = _BarMeter(self._progress, task, total_bytes, total_files)
        yield meter
        self._progress.update(task, description=done_label, completed=meter.total_bytes)


class _LineMeter:
    """Prints a line each time the phase passes another tenth of its bytes (of its files,
    when it has no bytes)."""

    def __init__(self, console: Console, label: str, total_bytes: int, total_files: int) -> None:
        self._console, self._label = console, label
        self._total_bytes, self._total_files = total_bytes, total_files
        self._counts = _Counts()
        self._tenths = 0

    def advance(self, count: int) -> None:
        with self._counts.lock:
            self._counts.bytes += count
            self._report()

    def file_done(self) -> None:
        with self._counts.lock:
            self._counts.files += 1
            self._report()

    def grow(self, count_bytes: int, count_files: int) -> None:
        with self._counts.lock:
            self._total_bytes += count_bytes
            self._total_files += count_files

    def _report(self) -> None:
        counts = self._counts
        if self._total_bytes:
            tenths = counts.bytes * 10 // self._total_bytes
        else:
            tenths = counts.files * 10 // max(self._total_files, 1)
        if tenths <= self._tenths or tenths >= 10:  # the last line is the phase's end
            return
        self._tenths = tenths
        rate = counts.bytes / max(time.monotonic() - counts.started, 1e-9)
        left = (self._total_bytes - counts.bytes) / rate if rate else 0.0
        self._console.print(
            Text(
                f"{self._label}: {tenths * 10}% ({human(counts.bytes)} of "
                f"{human(self._total_bytes)}, {counts.files}/{self._total_files} files, "
                f"{human(rate)}/s, ETA {left:.0f} s)"
            )
        )

    def finish(self, done_label: str) -> None:
        counts = self._counts
        seconds = time.monotonic() - counts.started
        rate = counts.bytes / max(seconds, 1e-9)
        self._console.print(
            Text(
                f"{done_label} {human(counts.bytes)} in {files(counts.files)} "
                f"in {seconds:.1f} s ({human(rate)}/s)"
            )
        )


class LineDisplay:
    """Plain lines on ``console``."""

    def __init__(self, console: Console) -> None:
        self._console = console

    def __enter__(self) -> LineDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    @contextmanager
    def phase(
        self, label: str, done_label: str, total_bytes: int, total_files: int
    ) -> Iterator[Meter]:
        meter = _LineMeter(self._console, label, total_bytes, total_files)
        yield meter
        meter.finish(done_label)


def display(console: Console) -> BarDisplay | LineDisplay:
    """Bars when ``console`` is a terminal, lines otherwise."""
    return BarDisplay(console) if console.is_terminal else LineDisplay(console)
