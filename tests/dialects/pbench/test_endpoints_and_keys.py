"""``/api/v1/endpoints`` (what ``PbenchServerClient.connect`` reads) and ``/api/v1/key``
(``create_api_key``, ``remove_api_key``): keys are dataloft API tokens."""

from __future__ import annotations

import httpx

from tests.dialects.pbench.conftest import CLIENT, REALM, Pbench

# The 18 names of pbench.client.API, each with its template and parameter types.
EXPECTED = {
    "datasets": ("/datasets/{dataset}", {"dataset": "string"}),
    "datasets_compare": ("/compare", {}),
    "datasets_contents": (
        "/datasets/{dataset}/contents/{target}",
        {"dataset": "string", "target": "path"},
    ),
    "datasets_detail": ("/datasets/{dataset}/detail", {"dataset": "string"}),
    "datasets_inventory": (
        "/datasets/{dataset}/inventory/{target}",
        {"dataset": "string", "target": "path"},
    ),
    "datasets_list": ("/datasets", {}),
    "datasets_mappings": ("/datasets/mappings/{dataset_view}", {"dataset_view": "string"}),
    "datasets_metadata": ("/datasets/{dataset}/metadata", {"dataset": "string"}),
    "datasets_namespace": (
        "/datasets/{dataset}/namespace/{dataset_view}",
        {"dataset": "string", "dataset_view": "string"},
    ),
    "datasets_search": ("/datasets/search", {}),
    "datasets_values": (
        "/datasets/{dataset}/values/{dataset_view}",
        {"dataset": "string", "dataset_view": "string"},
    ),
    "datasets_visualize": ("/datasets/{dataset}/visualize", {"dataset": "string"}),
    "endpoints": ("/endpoints", {}),
    "key": ("/key/{key}", {"key": "string"}),
    "relay": ("/relay/{uri}", {"uri": "path"}),
    "server_audit": ("/server/audit", {}),
    "server_settings": ("/server/settings/{key}", {"key": "string"}),
    "upload": ("/upload/{filename}", {"filename": "string"}),
}


def test_endpoints_name_exactly_the_18_apis_and_the_openid_provider(pbench: Pbench) -> None:
    answer = httpx.get(pbench.url + "/api/v1/endpoints", headers={"Accept": "application/json"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["identification"].startswith("Pbench server ")
    assert body["visualization"] == {"benchmarks": ["fio", "uperf"]}
    assert body["openid"] == {"client": CLIENT, "realm": REALM, "server": pbench.url}
    got = {
        name: (uri["template"], {p: t["type"] for p, t in uri["params"].items()})
        for name, uri in body["uri"].items()
    }
    assert got == {
        name: (pbench.url + "/api/v1" + path, params) for name, (path, params) in EXPECTED.items()
    }


def test_endpoints_follow_the_proxy_headers(pbench: Pbench) -> None:
    proxied = httpx.get(
        pbench.url + "/api/v1/endpoints",
        headers={"X-Forwarded-Host": "pbench.example:8443", "X-Forwarded-Proto": "https"},
    ).json()
    assert proxied["uri"]["endpoints"]["template"] == "https://pbench.example:8443/api/v1/endpoints"
    assert proxied["openid"]["server"] == "https://pbench.example:8443"
    forwarded = httpx.get(
        pbench.url + "/api/v1/endpoints",
        headers={"Forwarded": 'for=1.2.3.4;host="h.example";proto=https'},
    ).json()
    assert forwarded["uri"]["datasets_list"]["template"] == "https://h.example/api/v1/datasets"
    junk = httpx.get(
        pbench.url + "/api/v1/endpoints", headers={"X-Forwarded-Host": "a/b@evil"}
    ).json()
    assert junk["uri"]["endpoints"]["template"] == pbench.url + "/api/v1/endpoints"


def test_an_api_key_is_made_listed_used_everywhere_and_deleted(pbench: Pbench) -> None:
    with pbench.user() as user:
        made = user.post("/key/", params={"label": "ci"})
        assert made.status_code == 201, made.text
        key = made.json()
        assert set(key) == {"id", "label", "key", "username", "created"}
        assert key["label"] == "ci"
        secret = key["key"]
        with_key = {"Authorization": f"Bearer {secret}"}
        listed = httpx.get(pbench.url + "/api/v1/key", headers=with_key).json()
        assert [k["id"] for k in listed] == [key["id"]]
        assert listed[0]["key"].endswith("…") and secret.startswith(listed[0]["key"][:-1])
        one = httpx.get(f"{pbench.url}/api/v1/key/{key['id']}", headers=with_key)
        assert one.json()["id"] == key["id"]
        # The same key is a dataloft API token: the native API knows its owner.
        me = httpx.get(pbench.url + "/loft/v1/me", headers=with_key)
        assert me.status_code == 200 and me.json()["user"]["username"] == key["username"]
        deleted = user.delete(f"/key/{key['id']}")
        assert (deleted.status_code, deleted.json()) == (200, "deleted")
        gone = user.delete(f"/key/{key['id']}")
        assert (gone.status_code, gone.json()) == (404, {"message": "Requested key not found"})
        assert httpx.get(pbench.url + "/api/v1/key", headers=with_key).status_code == 401


def test_keys_need_a_caller_and_cannot_be_named_by_one(pbench: Pbench) -> None:
    with pbench.anonymous() as anonymous:
        refused = anonymous.post("/key/")
        assert refused.status_code == 401
        assert refused.json() == {"message": "User provided access_token is invalid or expired"}
        # Pbench's rule: a bad token is no token.
        bad = anonymous.post("/key/", headers={"Authorization": "Bearer a.b.c"})
        assert bad.json() == refused.json()
    with pbench.user() as user:
        named = user.post("/key/my-own-key")
        assert (named.status_code, named.json()) == (
            400,
            {"message": "Key cannot be specified by the user"},
        )
        with pbench.user() as other:
            theirs = other.post("/key/").json()["id"]
        assert user.get(f"/key/{theirs}").status_code == 404
        assert user.delete(f"/key/{theirs}").status_code == 404
