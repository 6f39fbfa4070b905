"""``/api/v1/server/audit``: the event log as Pbench audit records, for admins."""

from __future__ import annotations

from tests.dialects.pbench.conftest import ADMIN_NAME, Pbench
from tests.dialects.pbench.tarballs import md5_hex, pbench_tarball, upload
from tests.support import unique


def test_admins_read_records_of_the_shape_pbenchs_suite_checks(pbench: Pbench) -> None:
    with pbench.user() as user:
        name = unique("audited")
        data = pbench_tarball(name)
        assert upload(user, data, f"{name}.tar.xz").status_code == 201
    resource_id = md5_hex(data)
    with pbench.user(ADMIN_NAME) as admin:
        everything = admin.get("/server/audit")
        assert everything.status_code == 200
        records = everything.json()
        assert records
        for record in records:  # what Pbench's test_audit asserts of every record
            assert isinstance(record["id"], int) and record["name"] and record["timestamp"]
            assert record["operation"] in ("CREATE", "READ", "UPDATE", "DELETE")
            assert record["reason"] is None and record["status"] == "SUCCESS"
            assert "root_id" in record and record["attributes"]
            assert record["object_type"] in ("API_KEY", "CONFIG", "DATASET", "NONE", "TEMPLATE")
            if record["object_type"] != "NONE":
                assert record["object_name"]
            if record["object_type"] == "DATASET":
                assert record["object_id"]
            if record["user_name"] is not None:
                assert record["user_id"]
        mine = admin.get("/server/audit", params={"dataset": resource_id, "name": "upload"})
        (made,) = mine.json()
        assert (made["operation"], made["object_type"]) == ("CREATE", "DATASET")
        assert made["object_id"] == resource_id and made["attributes"]["event"] == "dataset.create"
        assert admin.get("/server/audit", params={"object_type": "TEMPLATE"}).json() == []
        future = admin.get("/server/audit", params={"start": "2999-01-01"})
        assert future.json() == []
        assert admin.get("/server/audit", params={"colour": "x"}).status_code == 400


def test_only_admins_read_the_audit_log(pbench: Pbench) -> None:
    with pbench.anonymous() as anonymous:
        refused = anonymous.get("/server/audit")
        assert refused.status_code == 401
        assert refused.json()["message"] == (
            "Unauthenticated client is not authorized to READ a server administrative resource"
        )
    with pbench.user() as user:
        assert user.get("/server/audit").status_code == 403
