"""Pbench's visualisations, by pquisby, in an interpreter of its own.

pquisby (GPL-3.0) pins dozens of old packages (requests 2.25, urllib3 1.26, packaging 20.9,
...) that cannot share an environment with dataloft's, so the server runs this file with
the Python named by ``DATALOFT_PQUISBY_PYTHON``, in which pquisby is installed, and never
imports pquisby itself. It reads one JSON request on standard input:

    {"benchmark": "uperf" | "fio", "results": {"<dataset name>": "<result.csv text>", ...}}

and writes pquisby's answer as JSON on standard output: ``extract_data`` for one dataset
(Pbench's ``visualize``), ``compare_csv_to_json`` for several (``compare``). Only the
standard library and pquisby are imported here.
"""

import json
import logging
import resource
import sys


def main() -> None:
    # Its limits, from the server (memory in bytes, CPU seconds): set here, before any of
    # pquisby is imported, because a server with threads cannot set them for a child.
    memory, cpu = int(sys.argv[1]), int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    logging.disable(logging.CRITICAL)  # pquisby logs every row at INFO
    from pquisby.lib.post_processing import (  # type: ignore[import-not-found]
        BenchmarkName,
        InputType,
        QuisbyProcessing,
    )

    request = json.load(sys.stdin)
    benchmark = BenchmarkName[request["benchmark"].upper()]
    results = request["results"]
    quisby = QuisbyProcessing()
    if len(results) == 1:
        ((name, text),) = results.items()
        answer = quisby.extract_data(benchmark, name, InputType.STREAM, text)
    else:
        answer = quisby.compare_csv_to_json(benchmark, InputType.STREAM, results)
    json.dump(answer, sys.stdout, default=str)


if __name__ == "__main__":
    main()
