"""Pbench's ``visualize`` and ``compare``: a dataset's ``result.csv`` read by pquisby, the
library Pbench Server uses, in an interpreter of its own (``sandbox/quisby_worker.py``
says why), with a memory and a CPU-time limit, and a wall-clock timeout.

Without ``DATALOFT_PQUISBY_PYTHON`` (a Python with pquisby installed) the two answer
``Unavailable``: the rest of the Pbench API does not need it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from dataloft import sandbox
from dataloft.core.errors import Invalid, ServerFault, Unavailable

WORKER = Path(sandbox.__file__).parent / "quisby_worker.py"
BENCHMARKS = ("fio", "uperf")
MEMORY_BYTES = 1024 * 1024 * 1024
CPU_SECONDS = 60
TIMEOUT_SECONDS = 90.0
MAX_RESULT_BYTES = 16 * 1024 * 1024  # one result.csv


def check_benchmark(benchmark: str) -> str:
    if benchmark.lower() not in BENCHMARKS:
        raise Invalid(f"Unsupported Benchmark: {benchmark}")
    return benchmark.lower()


class Quisby:
    def __init__(self, python: str | None) -> None:
        self.python = python

    def run(self, benchmark: str, results: dict[str, str]) -> dict[str, Any]:
        """pquisby's answer for ``results`` (dataset name -> ``result.csv`` text): one
        dataset's data, or several compared."""
        if self.python is None:
            raise Unavailable(
                "visualize and compare need pquisby: set DATALOFT_PQUISBY_PYTHON to a Python "
                "in which it is installed (docs/pbench.md)"
            )
        request = json.dumps({"benchmark": check_benchmark(benchmark), "results": results})
        try:
            done = subprocess.run(
                [self.python, str(WORKER), str(MEMORY_BYTES), str(CPU_SECONDS)],
                input=request.encode(),
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise ServerFault("Visualization failed: pquisby took too long") from None
        except OSError as error:
            raise ServerFault(f"Visualization failed: cannot run pquisby ({error})") from None
        if done.returncode != 0:
            last = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            raise ServerFault(f"Visualization failed with {last[0]!r}")
        answer: dict[str, Any] = json.loads(done.stdout)
        if answer.get("status") != "success":
            raise ServerFault(
                f"Visualization processing failure. Exception: {answer.get('exception')}"
            )
        answer["benchmark"] = benchmark.lower()
        return answer
