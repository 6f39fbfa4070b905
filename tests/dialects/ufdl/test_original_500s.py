"""Every request the original UFDL server answered with 500 (its reference lists them)
answers here with a 4xx in UFDL's shape, or, where the request is sound, succeeds."""

from __future__ import annotations

import httpx
import pytest

from tests.dialects.ufdl.conftest import MIT, Ufdl, Workspace, new_dataset, upload
from tests.support import LiveServer, unique


def _detail(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    detail: str = response.json()["detail"]
    return detail


def test_downloading_a_core_dataset_works(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    upload(writer, pk, "a.txt", b"a")
    assert writer.http.post(f"/datasets/{pk}/download", json={}).status_code == 200


def test_file_handles_route_is_not_there(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    assert writer.http.get(f"/datasets/{pk}/file-handles/{'0' * 64}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/datasets/list"),
        ("OPTIONS", "/datasets/list"),
        ("GET", "/datasets/{pk}/download"),
        ("PUT", "/datasets/{pk}/clear"),
    ],
)
def test_wrong_methods_are_405(writer: Ufdl, workspace: Workspace, method: str, path: str) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    response = writer.http.request(method, path.format(pk=pk))
    assert response.status_code == 405
    assert response.headers["allow"]
    assert "detail" in response.json()


def test_anonymous_create_is_401(server: LiveServer, workspace: Workspace) -> None:
    body = {"name": unique("ds"), "project": workspace.project["pk"], "licence": MIT, "tags": ""}
    response = httpx.post(server.url + "/v1/datasets/create", json=body)
    assert _detail(response, 401) == "Authentication credentials were not provided."


def test_an_empty_file_is_a_file(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    added = upload(writer, pk, "empty.txt", b"")
    assert added.status_code == 200
    assert (
        added.json()["handle"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_unknown_filter_and_order_fields_are_400(writer: Ufdl) -> None:
    unknown = writer.list(
        "/datasets", {"expressions": [{"type": "exact", "field": "colour", "value": "x"}]}
    )
    assert "unknown field 'colour'" in _detail(unknown, 400)
    order = writer.list("/datasets", {"order_by": [{"field": "colour"}]})
    assert "colour" in _detail(order, 400)
    docs_spelling = writer.list(
        "/datasets", {"expressions": [{"type": "is_null", "field": "name"}]}
    )
    assert _detail(docs_spelling, 400)


def test_renaming_into_a_clash_is_400(writer: Ufdl, workspace: Workspace) -> None:
    first = new_dataset(writer, workspace.project["pk"])
    second = new_dataset(writer, workspace.project["pk"])
    clash = writer.http.patch(f"/datasets/{second['pk']}", json={"name": first["name"]})
    assert "exists" in _detail(clash, 400)
    again = writer.http.post(
        "/datasets/create",
        json={
            "name": first["name"],
            "project": workspace.project["pk"],
            "licence": MIT,
            "tags": "",
        },
    )
    assert "exists" in _detail(again, 400)


def test_hard_delete_answers_the_dataset(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    gone = workspace.admin.http.delete(f"/datasets/{pk}/hard")
    assert gone.status_code == 200 and gone.json()["pk"] == pk


def test_bad_download_and_copy_parameters(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    rar = writer.http.post(f"/datasets/{pk}/download", json={"filetype": "rar"})
    assert _detail(rar, 415) == 'Unsupported media type "rar" in request.'
    foo = writer.http.post(f"/datasets/{pk}/download", json={"params": {"foo": "bar"}})
    assert _detail(foo, 422) == "Unknown parameters: foo=bar"
    assert writer.http.post(f"/datasets/{pk}/download", json={"params": 5}).status_code == 400
    copy = writer.http.post(f"/datasets/{pk}/copy", json={"foo": 1})
    assert _detail(copy, 422) == "Unknown parameters: foo=1"
    named = writer.http.post(f"/datasets/{pk}/copy", json={"new_name": 5})
    assert _detail(named, 400) == "Bad name '5': New dataset name must be a string"


def test_bad_bodies_are_400(writer: Ufdl, workspace: Workspace) -> None:
    pk = new_dataset(writer, workspace.project["pk"])["pk"]
    no_name = writer.http.post(f"/datasets/{pk}/files/a.txt", content=b"x")
    assert _detail(no_name, 400).startswith("Missing filename.")
    merge = writer.http.post(f"/datasets/{pk}/merge/{pk}", content=b"")
    assert _detail(merge, 400) == "'delete' is a required property"
    extra = writer.http.post(f"/datasets/{pk}/merge/{pk}", json={"delete": False, "x": 1})
    assert _detail(extra, 400)
    meta = writer.http.post(f"/datasets/{pk}/metadata/nope.txt", json={"metadata": "m"})
    assert _detail(meta, 400) == "Bad name 'nope.txt': Doesn't exist"
    upload(writer, pk, "a.txt", b"a")
    wrong = writer.http.post(f"/datasets/{pk}/metadata/a.txt", json={"metadata": 5})
    assert _detail(wrong, 400)
    missing = writer.http.get(f"/datasets/{pk}/files/nope.txt")
    assert _detail(missing, 400) == "Bad name 'nope.txt': Doesn't exist"
    put = writer.http.put(f"/datasets/{pk}", json={"name": "x"})
    assert _detail(put, 400)
    not_json = writer.http.post(
        "/datasets/create", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert _detail(not_json, 400)
    unknown_project = writer.http.post(
        "/datasets/create", json={"name": "x", "project": 999_999_999, "licence": MIT, "tags": ""}
    )
    assert (
        _detail(unknown_project, 400) == 'project: Invalid pk "999999999" - object does not exist.'
    )


def test_merging_across_domains_is_406(writer: Ufdl, workspace: Workspace) -> None:
    core = new_dataset(writer, workspace.project["pk"])
    made = writer.http.post(
        "/classify/datasets/create",
        json={"name": unique("ic"), "project": workspace.project["pk"], "licence": MIT, "tags": ""},
    )
    assert made.status_code == 201 and made.json()["domain"] == "Image Classification"
    refused = writer.http.post(
        f"/datasets/{made.json()['pk']}/merge/{core['pk']}", json={"delete": False}
    )
    assert refused.status_code == 406
    under_prefix = writer.http.post(
        f"/classify/datasets/{made.json()['pk']}/merge/{core['pk']}", json={"delete": False}
    )
    assert under_prefix.status_code == 406


def test_a_domain_prefix_finds_its_own_datasets_only(writer: Ufdl, workspace: Workspace) -> None:
    """UFDL's domain apps look in their own dataset tables: a core dataset is not an
    image-classification one. /v1/datasets/ finds both."""
    core = new_dataset(writer, workspace.project["pk"])["pk"]
    assert writer.http.get(f"/classify/datasets/{core}").status_code == 404
    assert writer.http.post(f"/speech/datasets/{core}/copy", json={}).status_code == 404
    made = writer.http.post(
        "/classify/datasets/create",
        json={"name": unique("ic"), "project": workspace.project["pk"], "licence": MIT, "tags": ""},
    ).json()["pk"]
    assert writer.http.get(f"/datasets/{made}").status_code == 200
    assert writer.http.get(f"/objdet/datasets/{made}").status_code == 404
