"""Two ``Loft``s on one database, as two server processes (or a server and the ``dataloft``
command) are: what one signs or logs in, the other accepts; a lens due in both builds
once; two garbage collections at once do the work once.

Each test makes a database of its own (of the session's kind), both Lofts on it."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update

from dataloft.api.app import create_app
from dataloft.config import Settings
from dataloft.core.access import SYSTEM, Principal
from dataloft.core.changes import PutRecord
from dataloft.core.lenses import parse_config
from dataloft.core.loft import Loft
from dataloft.db.models import Blob
from dataloft.db.types import utcnow
from tests.functional.test_cli import base_env, invoke
from tests.support import LiveServer, own_settings, unique

DEADLINE = 60.0
PASSWORD = "password-of-the-test"


@dataclass
class Side:
    loft: Loft
    live: LiveServer


@pytest.fixture
def own(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    with own_settings(settings, tmp_path, min_password_length=6) as own:
        yield own


@pytest.fixture
def sides(own: Settings) -> Iterator[tuple[Side, Side]]:
    """Two servers, each with its Loft, on one database and one blob store."""
    with contextlib.ExitStack() as stack:
        found = []
        for _ in range(2):
            loft = stack.enter_context(Loft(own))
            live = LiveServer(create_app(own, loft)).start()
            stack.callback(live.stop)
            found.append(Side(loft, live))
        yield found[0], found[1]


def _user(loft: Loft) -> tuple[str, Principal]:
    username = unique("u")
    loft.accounts.create_user(SYSTEM, username, PASSWORD)
    return username, loft.auth.authenticate_password(username, PASSWORD)


def test_what_one_process_signs_the_other_accepts(sides: tuple[Side, Side]) -> None:
    a, b = sides
    username, _ = _user(a.loft)
    # A web session begun on A is good on B.
    with httpx.Client(base_url=a.live.url, timeout=30) as browser:
        page = browser.get("/ui/-/signin")
        csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
        assert csrf is not None
        headers = {"Origin": a.live.url, "Sec-Fetch-Site": "same-origin"}
        fields = {"csrf": csrf.group(1), "username": username, "password": PASSWORD}
        signed_in = browser.post("/ui/-/signin", data=fields, headers=headers)
        assert signed_in.status_code in (200, 303), signed_in.text
        cookies = dict(browser.cookies)
    assert "dataloft_session" in cookies
    on_b = httpx.get(b.live.url + "/ui/", cookies=cookies, timeout=30)
    assert on_b.status_code == 200
    assert username in on_b.text
    assert username not in httpx.get(b.live.url + "/ui/", timeout=30).text
    # A UFDL JSON Web Token made by A is good on B.
    pair = httpx.post(
        a.live.url + "/v1/auth/obtain", json={"username": username, "password": PASSWORD}
    ).json()
    verified = httpx.post(b.live.url + "/v1/auth/verify", json={"token": pair["access"]})
    assert verified.status_code == 200, verified.text
    bearer = {"Authorization": f"Bearer {pair['access']}"}
    me = httpx.get(f"{b.live.url}/v1/users/{username}", headers=bearer)
    assert me.status_code == 200 and me.json()[0]["username"] == username, me.text
    refreshed = httpx.post(b.live.url + "/v1/auth/refresh", json={"refresh": pair["refresh"]})
    assert refreshed.status_code == 200, refreshed.text
    # An access token of the built-in OpenID Connect provider (Pbench's) made by A is good
    # on B, and B publishes the key A signed it with.
    realm = "/realms/pbench-server/protocol/openid-connect"
    grant = httpx.post(
        a.live.url + realm + "/token",
        data={
            "client_id": "pbench-client",
            "grant_type": "password",
            "username": username,
            "password": PASSWORD,
        },
    )
    assert grant.status_code == 200, grant.text
    bearer = {"Authorization": f"Bearer {grant.json()['access_token']}"}
    info = httpx.get(b.live.url + realm + "/userinfo", headers=bearer)
    assert info.status_code == 200 and info.json()["preferred_username"] == username, info.text
    assert httpx.get(a.live.url + realm + "/certs").json() == (
        httpx.get(b.live.url + realm + "/certs").json()
    )


def _lens(loft: Loft, actor: Principal, owner: str) -> tuple[str, str, int]:
    source, name = unique("src"), unique("lens")
    loft.datasets.create(actor, owner, source)
    loft.commits.commit(actor, owner, source, [PutRecord(str(n), {"n": n}) for n in range(5)])
    config = parse_config(
        {"inputs": [f"/datasets/{owner}:{source}"], "code": "output('n', data.n)"}
    )
    made = loft.lenses.create(actor, name, config)
    return source, name, made.dataset.id


def _built(loft: Loft, owner: str, name: str, version: int) -> None:
    """Wait until the lens is at ``version`` and no build of it is due any more."""
    deadline = time.monotonic() + DEADLINE
    while True:
        head = loft.datasets.get(SYSTEM, owner, name).version
        if head >= version and not loft.lens_builder.due():
            assert head == version, f"{head} versions, not {version}: a build ran twice"
            return
        assert time.monotonic() < deadline, f"the lens is at version {head}"
        time.sleep(0.02)


def test_a_lens_due_in_two_processes_builds_once(own: Settings) -> None:
    with Loft(own) as a, Loft(own) as b:
        owner, actor = _user(a)
        source, name, lens_id = _lens(a, actor, owner)
        # B is building it (holds its claim): A, finding it due, leaves it alone.
        with b.claims.hold(f"lens:{lens_id}") as held:
            assert held
            a.lens_builder._run(lens_id)
            assert a.datasets.get(SYSTEM, owner, name).version == 0
        # Both schedulers running, both finding it due: one build, then one per change.
        a.lens_builder.start()
        b.lens_builder.start()
        _built(a, owner, name, 1)
        a.commits.commit(actor, owner, source, [PutRecord("9", {"n": 9})])
        _built(a, owner, name, 2)
        assert a.browse.read_record(SYSTEM, owner, name, "n", 2)[1] == 19


def test_two_garbage_collections_at_once_do_the_work_once(own: Settings) -> None:
    env = base_env(
        DATALOFT_DATABASE_URL=own.database_url,
        DATALOFT_DATA_DIR=str(own.data_dir),
        DATALOFT_BLOB_URL=own.blob_url,
    )
    with Loft(own) as a:
        # An unreferenced blob in the store, untouched for two days.
        data = os.urandom(own.inline_blob_limit + 1000)
        digest = hashlib.sha256(data).hexdigest()
        assert a.blobs.save(SYSTEM, a.blobs.from_bytes(data))
        two_days_ago = utcnow() - timedelta(days=2)
        with a.db.write() as session:
            session.execute(update(Blob).where(Blob.digest == digest).values(touched=two_days_ago))
        path = a.store.local_path(digest)
        assert path is not None
        os.utime(path, (two_days_ago.timestamp(), two_days_ago.timestamp()))
        second: list[str] = []

        def meanwhile() -> None:  # A deleted the rows, not yet the files: another starts
            second.append(invoke("gc", "--grace-hours", "1", env=env).stdout)

        collected = a.garbage.collect(3600, between_phases=meanwhile)
        assert collected is not None, "nobody else was collecting"
        assert (collected.blobs.blobs_removed, collected.blobs.bytes_removed) == (1, len(data))
        assert "skipped: another process is collecting garbage now" in second[0], second
        assert not path.exists()
    # Not held any more: the next run does the work (there is none left).
    again = invoke("gc", "--grace-hours", "1", env=env).stdout
    assert "removed 0 blobs" in again, again
