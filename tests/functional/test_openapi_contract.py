"""The OpenAPI document is the contract: schemathesis, with every check it has, finds nothing
wrong with what the live server answers to what the document allows.

``st run`` (the schemathesis CLI, in a process of its own, as CI would run it) fuzzes each
operation from the document with a fixed seed and budget: its examples and boundaries
(coverage phase), generated valid and invalid requests (fuzzing), and chains that follow
the document's links from operations that create to those that read (stateful). Each
response must be documented (status, media type, body, headers), valid requests accepted,
invalid ones refused with a 4xx, never a 500, authentication enforced where declared.

The server has a database of its own: the run creates, renames and deletes whatever it
can, as a site admin. ``schemathesis_hooks.py`` says what the run is told beyond the
document (rules JSON Schema cannot state), ``schemathesis.toml`` how it is configured.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from dataloft.config import Settings
from dataloft.core.access import SYSTEM
from dataloft.core.loft import Loft
from tests.support import LiveServer, own_server, sha

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).parent / "st"
# The budget: examples per operation and phase. 51 operations take about a minute per
# database on a 2-core machine; the seed makes every run the same run.
SEED = 20261206
MAX_EXAMPLES = 30
FUZZER = "fuzzer"
OWN_BLOB = b"the fuzzer's own bytes\n"
LENS_INPUT = "lens-input-7f3e9c"


@pytest.fixture
def contract_server(settings: Settings, tmp_path: Path) -> Iterator[tuple[LiveServer, Loft]]:
    """A server on a database of its own: what the run does stays out of the session's."""
    with own_server(settings, tmp_path) as (live, loft):
        yield live, loft


def test_schemathesis_finds_nothing_wrong_with_the_openapi_document(
    contract_server: tuple[LiveServer, Loft], tmp_path: Path
) -> None:
    live, loft = contract_server
    loft.accounts.create_user(SYSTEM, FUZZER, "fuzzer-password", is_admin=True)
    # An API token, not a login session: the run may change the account's password.
    token = loft.auth.create_token(SYSTEM, username=FUZZER, name="schemathesis")
    headers = {"Authorization": f"Bearer {token.secret}"}
    with httpx.Client(base_url=live.url + "/loft/v1", headers=headers) as client:
        # Something to find: a dataset with a file and a record, and bytes to commit.
        assert client.post("/datasets", json={"name": "birds"}).status_code == 201
        assert client.put("/datasets/fuzzer/birds/files/a.txt", content=b"a").status_code == 201
        assert client.put("/datasets/fuzzer/birds/records/r", json=1).status_code == 201
        assert client.put(f"/blobs/{sha(OWN_BLOB)}", content=OWN_BLOB).status_code == 201
        # A lens input no generated request will name (and so delete or rename).
        assert client.post("/datasets", json={"name": LENS_INPUT}).status_code == 201
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": str(HERE / "schemathesis_hooks.py"),
        "DATALOFT_FUZZER": FUZZER,
        "DATALOFT_FUZZER_TOKEN_ID": str(token.token.id),
        "DATALOFT_FUZZER_BLOB": sha(OWN_BLOB),
        "DATALOFT_FUZZER_LENS_INPUT": f"/datasets/{FUZZER}:{LENS_INPUT}",
    }
    command = [
        str(ST),
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "--no-color",
        "run",
        f"{live.url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--header",
        f"Authorization: Bearer {token.secret}",
        "--request-timeout",
        "30",
    ]
    run = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    report = run.stdout + run.stderr
    assert run.returncode == 0, report[-30_000:]
    assert "Stateful" in report  # the links were followed, not skipped
