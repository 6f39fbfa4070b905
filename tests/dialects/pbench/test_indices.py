"""The Elasticsearch-only APIs, answered as Pbench answers for data it has not indexed."""

from __future__ import annotations

from tests.dialects.pbench.conftest import Pbench
from tests.dialects.pbench.tarballs import md5_hex, pbench_tarball, upload
from tests.support import unique


def test_search_finds_nothing_and_mappings_name_no_fields(pbench: Pbench) -> None:
    with pbench.user() as user:
        found = user.post("/datasets/search", json={"search_term": "fio", "start": "2020"})
        assert found.status_code == 200
        assert found.json()["hits"]["hits"] == []
        assert user.post("/datasets/search", json=[1]).status_code == 400
        assert user.get("/datasets/mappings/summary").json() == {}
        bad = user.get("/datasets/mappings/colours")
        assert bad.status_code == 400 and "allowed keywords are" in bad.json()["message"]


def test_a_datasets_namespace_and_values_are_not_indexed(pbench: Pbench) -> None:
    with pbench.user() as owner:
        name = unique("idx")
        data = pbench_tarball(name)
        assert upload(owner, data, f"{name}.tar.xz").status_code == 201
        resource_id = md5_hex(data)
        namespace = owner.get(f"/datasets/{resource_id}/namespace/iterations")
        assert (namespace.status_code, namespace.json()) == (
            404,
            {"message": "Dataset has no 'result-data-sample' data"},
        )
        values = owner.post(f"/datasets/{resource_id}/values/summary", json={})
        assert (values.status_code, values.json()) == (
            404,
            {"message": "Dataset has no 'run' data"},
        )
        # The dataset itself is still there: the search route did not swallow it.
        assert (
            owner.post(f"/datasets/{resource_id}", params={"access": "public"}).status_code == 200
        )
    with pbench.user() as other:
        private_name = unique("idx")
        private = pbench_tarball(private_name)
        assert upload(other, private, f"{private_name}.tar.xz").status_code == 201
    with pbench.anonymous() as anonymous:
        refused = anonymous.get(f"/datasets/{md5_hex(private)}/namespace/summary")
        assert refused.status_code == 401
        unknown = anonymous.get("/datasets/" + "0" * 32 + "/namespace/summary")
        assert unknown.status_code == 404
