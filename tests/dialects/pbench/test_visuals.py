"""``visualize`` and ``compare``: uperf results rendered by the real pquisby, in the
interpreter of its own the server runs it in (``DATALOFT_PQUISBY_PYTHON``)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from dataloft.config import Settings
from tests.dialects.pbench.conftest import Pbench
from tests.dialects.pbench.tarballs import md5_hex, pbench_tarball, upload
from tests.support import own_server, pquisby_python, unique

UPERF_CSV = (
    b"iteration_num,iteration_name,Gb_sec:all,trans_sec:all\n"
    b"1,tcp_stream-64B-1i,10.5,\n"
    b"2,tcp_stream-64B-8i,30.1,\n"
    b"3,tcp_rr-64B-1i,,12345\n"
)


@pytest.fixture(scope="module")
def visuals(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pbench]:
    python = pquisby_python()
    with own_server(
        settings,
        tmp_path_factory.mktemp("visuals"),
        min_password_length=6,
        pquisby_python=python,
    ) as (live, loft):
        loft.bootstrap_admin()
        yield Pbench(live, loft)


def _run(client: httpx.Client, script: str, result: bytes | None = UPERF_CSV) -> str:
    name = unique(script)
    extra = {"result.csv": result} if result is not None else {}
    data = pbench_tarball(name, script=script, extra=extra)
    made = upload(client, data, f"{name}.tar.xz", access="public")
    assert made.status_code == 201, made.text
    return md5_hex(data)


def test_a_uperf_dataset_is_visualized_by_pquisby(visuals: Pbench) -> None:
    with visuals.user() as client:
        resource_id = _run(client, "uperf")
        answer = client.get(f"/datasets/{resource_id}/visualize")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["status"], body["benchmark"]) == ("success", "uperf")
    assert "csv_data" in body
    data = body["json_data"]["data"]
    assert [(d["test_name"], d["metrics_unit"]) for d in data] == [
        ("tcp_stream64B", "Gb_sec"),
        ("tcp_rr64B", "trans_sec"),
    ]
    assert [i["time_taken"] for i in data[0]["instances"]] == ["10.5", "30.1"]


def test_two_uperf_datasets_are_compared(visuals: Pbench) -> None:
    with visuals.user() as client:
        first, second = _run(client, "uperf"), _run(client, "uperf")
        answer = client.get("/compare", params={"datasets": f"{first},{second}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["status"], body["benchmark"]) == ("success", "uperf")
        assert body["json_data"]["dataset_name"].count("&") == 1
        instances = body["json_data"]["data"][0]["instances"]
        assert len(instances) == 4  # two instance counts from each dataset
        # The functional suite compares a dataset with itself when it has only one.
        same = client.get("/compare", params=[("datasets", first), ("datasets", first)])
        assert same.status_code == 200 and isinstance(same.json()["json_data"]["data"], list)


def test_refusals_are_pbenchs(visuals: Pbench) -> None:
    with visuals.user() as client:
        linpack = _run(client, "linpack")
        unsupported = client.get(f"/datasets/{linpack}/visualize")
        assert (unsupported.status_code, unsupported.json()) == (
            400,
            {"message": "Unsupported Benchmark: linpack"},
        )
        uperf, fio = _run(client, "uperf"), _run(client, "fio")
        mixed = client.get("/compare", params={"datasets": f"{uperf},{fio}"})
        assert mixed.status_code == 400
        assert mixed.json()["message"] == (
            "Selected dataset benchmarks must match: uperf and fio cannot be compared."
        )
        missing = _run(client, "uperf", result=None)
        none = client.get(f"/datasets/{missing}/visualize")
        assert none.status_code == 400 and "unable to extract postprocessed data" in none.text
        assert client.get("/compare").status_code == 400
        assert client.get("/datasets/" + "0" * 32 + "/visualize").status_code == 404


def test_without_pquisby_the_two_answer_503(pbench: Pbench) -> None:
    with pbench.user() as client:
        resource_id = _run(client, "uperf")
        answer = client.get(f"/datasets/{resource_id}/visualize")
    assert answer.status_code == 503
    assert "DATALOFT_PQUISBY_PYTHON" in answer.json()["message"]


def test_a_private_dataset_is_not_visualized_for_others(visuals: Pbench) -> None:
    with visuals.user() as owner:
        name = unique("uperf")
        data = pbench_tarball(name, script="uperf", extra={"result.csv": UPERF_CSV})
        assert upload(owner, data, f"{name}.tar.xz").status_code == 201
    resource_id = md5_hex(data)
    with visuals.user() as other:
        refused = other.get(f"/datasets/{resource_id}/visualize")
    assert refused.status_code == 403
    with visuals.anonymous() as anonymous:
        assert anonymous.get(f"/datasets/{resource_id}/visualize").status_code == 401
