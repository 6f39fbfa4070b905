"""The SDK stands alone: importing it loads httpx and the standard library, none of the
server (FastAPI, Starlette, SQLAlchemy, dataloft itself). Checked in a fresh interpreter,
whose sys.modules holds nothing the test suite imported."""

from __future__ import annotations

import json
import subprocess
import sys

import dataloft_client

SERVER_SIDE = ("fastapi", "starlette", "sqlalchemy", "pydantic", "uvicorn", "dataloft")


def test_importing_the_sdk_loads_nothing_of_the_server() -> None:
    script = (
        "import json, sys; import dataloft_client; "
        "from dataloft_client import Client, AsyncClient; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = json.loads(result.stdout)
    assert "httpx" in loaded and "dataloft_client" in loaded
    heavy = [m for m in loaded if m.split(".")[0] in SERVER_SIDE]
    assert heavy == []


def test_the_public_surface_is_what_all_says() -> None:
    public = {name for name in dir(dataloft_client) if not name.startswith("_")}
    # Public submodules: attributes of the package once imported (fsspec's by the
    # filesystem's tests, in the same process).
    submodules = {"changes", "config", "models", "refs", "fsspec"}
    assert public - submodules == set(dataloft_client.__all__)
    for name in dataloft_client.__all__:
        assert getattr(dataloft_client, name).__module__.startswith("dataloft_client")
