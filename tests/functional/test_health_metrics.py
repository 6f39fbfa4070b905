"""The operators' endpoints over HTTP, on each database: the liveness and readiness probes
(a broken blob directory, a database that is gone, one that does not answer), and the
Prometheus metrics (requests by route template, bytes, durations, commits, who may read
them), including their sum over the worker processes of ``dataloft serve --workers 2``.

The metrics are the test process's own (every server a test starts in this process counts
into them), so each test compares two scrapes around what it does."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dataloft.api.cookies import SESSION_COOKIE
from dataloft.api.probes import READY_TIMEOUT
from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests import support
from tests.conftest import User
from tests.support import (
    LiveServer,
    ServedWorkers,
    own_server,
    postgres_database,
    unique,
)

REQUESTS = "dataloft_http_requests_total"
DURATION_COUNT = "dataloft_http_request_duration_seconds_count"
DURATION_BUCKET = "dataloft_http_request_duration_seconds_bucket"
RECEIVED = "dataloft_http_request_bytes_total"
SENT = "dataloft_http_response_bytes_total"
COMMITS = "dataloft_commits_total"
DATASET = "/loft/v1/datasets/{owner}/{name}"
FILES = "/loft/v1/datasets/{owner}/{name}/files/{path}"
RECORDS = "/loft/v1/datasets/{owner}/{name}/records/{record_id}"


class Scrape:
    """One scrape of ``/metrics``: its text, and its samples by name and labels."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["cache-control"] == "no-store"
        self.text = response.text
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(self.text)
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)


def scrape(url: str, token: str | None = None) -> Scrape:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Scrape(httpx.get(url + "/metrics", headers=headers, timeout=30))


def admin_token(loft: Loft) -> str:
    """A token of the site admin of a server of the test's own (made first)."""
    loft.bootstrap_admin()
    return loft.auth.create_token(SYSTEM, username="admin", name="metrics").secret


def body_length(response: httpx.Response) -> int:
    """The bytes of the body as sent (before any decoding of a Content-Encoding)."""
    return int(response.headers["content-length"])


# --- probes ----------------------------------------------------------------------------------


def test_healthz_answers_anyone_and_is_never_cached(server: LiveServer) -> None:
    got = httpx.get(server.url + "/healthz")
    assert got.status_code == 200
    assert got.json() == {"status": "ok"}
    assert got.headers["cache-control"] == "no-store"
    head = httpx.head(server.url + "/healthz")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_operator_endpoints_take_only_get_and_head(server: LiveServer, path: str) -> None:
    refused = httpx.post(server.url + path, content=b"x")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD"


def test_readyz_is_ready_when_database_and_blob_store_answer(server: LiveServer) -> None:
    got = httpx.get(server.url + "/readyz", headers={"Authorization": "Bearer not-a-token"})
    assert got.status_code == 200, got.text  # no credentials are even looked at
    assert got.json() == {"status": "ready", "database": "ok", "blob_store": "ok"}
    assert got.headers["cache-control"] == "no-store"
    assert httpx.head(server.url + "/readyz").status_code == 200


def test_readyz_names_a_missing_blob_directory_and_recovers(
    settings: Settings, tmp_path: Path
) -> None:
    with own_server(settings, tmp_path) as (live, _loft):
        assert httpx.get(live.url + "/readyz").status_code == 200
        blobs = tmp_path / "blobs"
        shutil.rmtree(blobs)  # a volume that went away
        got = httpx.get(live.url + "/readyz")
        assert got.status_code == 503, got.text
        body = got.json()
        assert body["status"] == "not ready"
        assert body["database"] == "ok"
        assert body["blob_store"] == "failed: FileNotFoundError"
        assert str(tmp_path) not in got.text  # no paths for an unauthenticated caller
        (blobs / "tmp").mkdir(parents=True)
        assert httpx.get(live.url + "/readyz").status_code == 200


def test_readyz_names_a_database_that_is_gone(settings: Settings, tmp_path: Path) -> None:
    """PostgreSQL: the database dropped under the running server. SQLite: its file moved
    away (connections open on it would go on answering)."""
    with own_server(settings, tmp_path) as (live, loft):
        assert httpx.get(live.url + "/readyz").status_code == 200
        if settings.is_sqlite:
            (tmp_path / "own.sqlite3").rename(tmp_path / "elsewhere.sqlite3")
        else:
            name = loft.db.engine.url.database
            with support._pg_connect() as admin:
                admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        got = httpx.get(live.url + "/readyz")
        assert got.status_code == 503, got.text
        body = got.json()
        assert body["database"].startswith("failed: ")
        assert body["blob_store"] == "ok"
        assert "sqlite3" not in got.text and "dataloft_test_" not in got.text


def test_readyz_gives_up_on_a_database_that_does_not_answer(
    settings: Settings, tmp_path: Path
) -> None:
    """Every connection of the server's pool held elsewhere: the check waits for one,
    and the probe answers 503 at its deadline; later probes wait for the same check, and
    once a connection is free again the server is ready."""
    with own_server(settings, tmp_path, db_pool_size=1) as (live, loft), ExitStack() as held:
        assert httpx.get(live.url + "/readyz").status_code == 200
        for _ in range(3):  # the pool's one connection and its overflow of two
            held.enter_context(loft.db.engine.connect())
        for _ in range(2):
            started = time.monotonic()
            got = httpx.get(live.url + "/readyz", timeout=30)
            waited = time.monotonic() - started
            assert got.status_code == 503, got.text
            assert got.json()["database"] == f"failed: no answer within {READY_TIMEOUT:g} s"
            assert READY_TIMEOUT <= waited < READY_TIMEOUT + 1.5
        held.close()
        deadline = time.monotonic() + 10
        while httpx.get(live.url + "/readyz").status_code != 200:
            assert time.monotonic() < deadline, "not ready again after the pool was freed"


# --- metrics: what they count ----------------------------------------------------------------


def test_requests_are_counted_by_route_template_never_by_name(
    server: LiveServer, admin: User, alice: User, anon: httpx.Client
) -> None:
    secret = unique("secret-name-")
    made = alice.client.post("/datasets", json={"name": secret, "visibility": "private"})
    assert made.status_code == 201, made.text
    path = f"/datasets/{alice.username}/{secret}"
    put = alice.client.put(path + "/records/r1", json={"n": 1})
    assert put.status_code in (200, 201), put.text

    before = scrape(server.url, admin.token)
    for _ in range(3):
        assert alice.client.get(path).status_code == 200  # FastAPI route
        assert alice.client.get(path + "/records/r1").status_code == 200  # pipeline route
    assert anon.get(path).status_code == 404  # a private dataset: not even its existence
    assert anon.get(path + "/records/r1").status_code == 404
    after = scrape(server.url, admin.token)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert delta(REQUESTS, method="GET", route=DATASET, status="200") == 3
    assert delta(REQUESTS, method="GET", route=RECORDS, status="200") == 3
    assert delta(REQUESTS, method="GET", route=DATASET, status="404") == 1
    assert delta(REQUESTS, method="GET", route=RECORDS, status="404") == 1
    assert delta(DURATION_COUNT, method="GET", route=DATASET) == 4
    assert delta(DURATION_BUCKET, method="GET", route=RECORDS, le="+Inf") == 4
    assert delta(DURATION_BUCKET, method="GET", route=RECORDS, le="60.0") == 4
    assert secret not in after.text
    assert alice.username not in after.text


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/loft/v1/licences", "/loft/v1/licences"),  # native, FastAPI's
        ("/v1/data/.my/nothing", "/v1/data/{path}"),  # Algorithmia
        ("/v1/connector/data/someone/things/x.txt", "/v1/connector/data/{path}"),
        ("/datasets/someone:nothing/records/x", "/datasets/{spec}/records/{record_id}"),  # Pigeon
        ("/v1/users/1", "/v1/users/{pk}"),  # UFDL
        ("/api/v1/endpoints", "/api/v1/endpoints"),  # Pbench
        ("/api/v1/datasets/0123abcd", "/api/v1/datasets/{dataset}"),
        ("/ui/someone/nothing", "/ui/{owner}/{name}"),  # web UI
        ("/", "/"),
        ("/openapi.json", "/openapi.json"),  # FastAPI's own
        ("/docs/assets/none.js", "/docs/assets/{path}"),  # a mount
        ("/healthz", "/healthz"),
        ("/no/such/thing", "<unmatched>"),
    ],
)
def test_every_face_is_counted_by_its_template(
    server: LiveServer, admin: User, path: str, template: str
) -> None:
    before = scrape(server.url, admin.token)
    got = httpx.get(server.url + path)
    after = scrape(server.url, admin.token)
    labels = {"method": "GET", "route": template, "status": str(got.status_code)}
    assert after.value(REQUESTS, **labels) - before.value(REQUESTS, **labels) == 1
    assert path not in after.text or path == template


def test_bytes_in_and_out_are_the_bodies_sent(
    server: LiveServer, admin: User, alice: User, dataset: str
) -> None:
    payloads = [os.urandom(size) for size in (1, 5000, 300_000)]
    before = scrape(server.url, admin.token)
    sent = 0
    for number, payload in enumerate(payloads):
        put = alice.client.put(f"{dataset}/files/f{number}.bin", content=payload)
        assert put.status_code == 201, put.text
        got = alice.client.get(f"{dataset}/files/f{number}.bin")
        assert got.content == payload
        sent += body_length(put) + body_length(got)
    head = alice.client.head(f"{dataset}/files/f0.bin")  # no body goes out
    assert head.status_code == 200
    after = scrape(server.url, admin.token)
    received = after.value(RECEIVED, route=FILES) - before.value(RECEIVED, route=FILES)
    assert received == sum(len(payload) for payload in payloads)
    assert after.value(SENT, route=FILES) - before.value(SENT, route=FILES) == sent


def test_streamed_bodies_count_every_byte(
    server: LiveServer, admin: User, alice: User, dataset: str
) -> None:
    """A chunked upload (no Content-Length) and an archive streamed back."""
    payload = os.urandom(200_000)

    def pieces() -> Iterator[bytes]:
        for start in range(0, len(payload), 7000):
            yield payload[start : start + 7000]

    put = alice.client.put(f"{dataset}/files/streamed.bin", content=pieces())
    assert put.status_code == 201, put.text
    archive = DATASET + "/archive.zip"
    before = scrape(server.url, admin.token)
    with alice.client.stream("GET", f"{dataset}/archive.zip") as streamed:
        assert streamed.status_code == 200
        length = sum(len(chunk) for chunk in streamed.iter_raw())
    after = scrape(server.url, admin.token)
    assert after.value(SENT, route=archive) - before.value(SENT, route=archive) == length
    assert (
        after.value(DURATION_COUNT, method="GET", route=archive)
        - before.value(DURATION_COUNT, method="GET", route=archive)
        == 1
    )


def test_commits_are_counted(server: LiveServer, admin: User, alice: User, dataset: str) -> None:
    before = scrape(server.url, admin.token)
    for number in range(3):
        put = alice.client.put(f"{dataset}/records/r{number}", json={"n": number})
        assert put.status_code in (200, 201), put.text
    refused = alice.client.put(f"{dataset}/records/r0", json={"n": 9}, headers={"If-Match": "1"})
    assert refused.status_code == 412  # no version: not counted
    after = scrape(server.url, admin.token)
    assert after.value(COMMITS) - before.value(COMMITS) == 3


def test_what_waits_is_reported(server: LiveServer, admin: User) -> None:
    scraped = scrape(server.url, admin.token)
    for name in ("dataloft_lens_builds_running", "dataloft_lens_builds_due"):
        assert (name, frozenset()) in scraped.samples
    assert ("dataloft_uploads_in_progress", frozenset()) in scraped.samples
    assert scraped.value("dataloft_http_requests_in_progress") >= 1  # the scrape itself
    assert ("dataloft_threadpool_tasks_in_progress", frozenset()) in scraped.samples


def test_uploads_in_progress_counts_unfinished_uploads(settings: Settings, tmp_path: Path) -> None:
    with own_server(settings, tmp_path, metrics="public") as (live, loft):
        token = admin_token(loft)
        headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
        for _ in range(2):
            made = httpx.post(
                live.url + "/loft/v1/uploads/", headers={**headers, "Upload-Length": "10"}
            )
            assert made.status_code == 201, made.text
        assert scrape(live.url).value("dataloft_uploads_in_progress") == 2


# --- metrics: who may read them --------------------------------------------------------------


def test_metrics_are_for_site_admins_by_default(
    server: LiveServer, admin: User, alice: User
) -> None:
    anonymous = httpx.get(server.url + "/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["cache-control"] == "no-store"
    user = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {alice.token}"})
    assert user.status_code == 403
    bad = httpx.get(server.url + "/metrics", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    scrape(server.url, admin.token)
    # A web session of a site admin will do too.
    session = httpx.get(server.url + "/metrics", cookies={SESSION_COOKIE: admin.token})
    assert session.status_code == 200


@pytest.mark.parametrize(
    ("access", "anonymous", "admin"), [("public", 200, 200), ("off", 404, 404)]
)
def test_metrics_setting(
    settings: Settings, tmp_path: Path, access: str, anonymous: int, admin: int
) -> None:
    with own_server(settings, tmp_path, metrics=access) as (live, loft):
        token = admin_token(loft)
        assert httpx.get(live.url + "/metrics").status_code == anonymous
        as_admin = httpx.get(live.url + "/metrics", headers={"Authorization": f"Bearer {token}"})
        assert as_admin.status_code == admin
        assert httpx.get(live.url + "/healthz").status_code == 200  # the probes stay


# --- several workers -------------------------------------------------------------------------


@pytest.mark.skipif("postgresql" not in support.test_databases(), reason="needs PostgreSQL")
def test_workers_report_the_sum_of_all_of_them(tmp_path: Path) -> None:
    """``dataloft serve --workers 2``: requests on new connections reach either worker,
    and every scrape, whichever worker answers it, counts all of them (eight scrapes on
    new connections: were the sum missing, those that reach a worker which did not answer
    every request would count fewer). The workers' metrics directory is gone once the
    server stopped."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with postgres_database() as database_url:
        environment = {
            "TMPDIR": str(temporary),  # where serve makes the metrics directory
            "DATALOFT_METRICS": "public",
        }
        served = ServedWorkers(database_url, tmp_path, environment=environment).start()
        url = served.url
        try:
            assert len(list(temporary.iterdir())) == 1  # the metrics directory
            requests = 40
            for _ in range(requests):  # a new connection each: either worker may answer
                assert httpx.get(url + "/loft/v1/licences").status_code == 200
            labels = {"method": "GET", "route": "/loft/v1/licences", "status": "200"}
            # A worker hands its figures over within a second (api/metrics.py): the one a
            # scrape does not reach may be that late.
            deadline = time.monotonic() + 10
            while scrape(url).value(REQUESTS, **labels) != requests:
                assert time.monotonic() < deadline, scrape(url).text
                time.sleep(0.1)
            for _ in range(8):
                scraped = scrape(url)
                assert scraped.value(REQUESTS, **labels) == requests
                assert (
                    scraped.value(DURATION_COUNT, method="GET", route="/loft/v1/licences")
                    == requests
                )
        finally:
            served.stop()
    assert list(temporary.iterdir()) == []
