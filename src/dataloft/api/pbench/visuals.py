"""``GET /api/v1/datasets/{dataset}/visualize`` and ``GET /api/v1/compare?datasets=a,b``:
the datasets' ``result.csv`` rendered by pquisby (``core/pbench_visuals.py``), as Pbench
Server answers: ``{"status": "success", "benchmark", "json_data", ...}``. Only the
benchmarks ``/api/v1/endpoints`` names (fio, uperf) are accepted, and compared datasets
must share one.
"""

from __future__ import annotations

from starlette.responses import JSONResponse, Response

from dataloft.api.pbench.params import Query
from dataloft.api.pipeline import Call, Handler, PlainHandler
from dataloft.core.changes import FILES
from dataloft.core.errors import Invalid, NotFound
from dataloft.core.pbench_datasets import PbenchRun
from dataloft.core.pbench_metadata import get_path
from dataloft.core.pbench_visuals import MAX_RESULT_BYTES, check_benchmark

RESULT = "result.csv"


def _benchmark(run: PbenchRun) -> str:
    found = run.server.get("benchmark") or get_path(run.metalog, ["pbench", "script"])
    return str(found or "unknown")


def _result(call: Call, run: PbenchRun) -> str:
    problem = Invalid(f"unable to extract postprocessed data from {run.name}")
    try:
        read = call.loft.browse.get_entry(call.actor, run.owner, run.core_name, FILES, RESULT)
    except NotFound:
        raise problem from None
    if read.blob is None or read.blob.size > MAX_RESULT_BYTES:
        raise problem
    return call.loft.blobs.read_all(read.blob).decode("utf-8", "replace")


def visualize(call: Call) -> Response:
    run = call.loft.pbench.find(call.actor, call.param("dataset"))
    benchmark = check_benchmark(_benchmark(run))
    return JSONResponse(call.loft.quisby.run(benchmark, {run.name: _result(call, run)}))


def compare(call: Call) -> Response:
    query = Query(call.request.query_params, ("datasets",), ("datasets",))
    ids = query.list("datasets")
    if not ids:
        raise Invalid("Missing required parameters: datasets")
    runs = [call.loft.pbench.find(call.actor, resource_id) for resource_id in ids]
    chosen = _benchmark(runs[0])
    for run in runs[1:]:
        if _benchmark(run) != chosen:
            raise Invalid(
                f"Selected dataset benchmarks must match: {chosen} and {_benchmark(run)} "
                "cannot be compared."
            )
    benchmark = check_benchmark(chosen)
    results = {run.name: _result(call, run) for run in runs}
    return JSONResponse(call.loft.quisby.run(benchmark, results))


ROUTES: dict[str, dict[str, PlainHandler | Handler]] = {
    "/datasets/{dataset}/visualize": {"GET": visualize},
    "/compare": {"GET": compare},
}
