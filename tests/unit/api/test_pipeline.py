"""The request pipeline's own rules: where handlers run, and what importing does."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import httpx
import pytest
from starlette.responses import Response

from dataloft.api.pipeline import Call, Handler, quick, streaming
from tests.support import LiveServer


def _plain(call: Call) -> Response:
    return Response()


async def _streamed(call: Call) -> Response:
    return Response()


def test_streaming_handlers_are_coroutines_and_plain_ones_are_not() -> None:
    assert streaming(_streamed).streaming
    assert quick(_plain).quick
    with pytest.raises(TypeError, match="streaming handlers are"):
        Handler(_plain, streaming=True)
    with pytest.raises(TypeError, match="plain handlers are not"):
        Handler(_streamed)


def test_importing_the_package_registers_no_convertor_and_create_app_does() -> None:
    """Starlette's convertor table is process-wide: only ``create_app`` may change it."""
    script = textwrap.dedent(
        """
        import importlib, pkgutil, tempfile
        from starlette.convertors import CONVERTOR_TYPES
        import dataloft
        for module in pkgutil.walk_packages(dataloft.__path__, "dataloft."):
            if ".migrations" not in module.name:
                importlib.import_module(module.name)
        print(sorted({"anypath", "hex64"} & set(CONVERTOR_TYPES)))
        from dataloft.api.app import create_app
        from dataloft.config import Settings
        create_app(Settings(data_dir=tempfile.mkdtemp()))
        print(sorted({"anypath", "hex64"} & set(CONVERTOR_TYPES)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["[]", "['anypath', 'hex64']"]


def test_the_hot_reads_are_in_the_openapi_schema(server: LiveServer) -> None:
    """They are pipeline routes, not FastAPI's, and documented all the same."""
    schema = httpx.get(server.url + "/openapi.json", timeout=30).json()
    paths = schema["paths"]
    for noun, key in (("records", "record_id"), ("files", "path")):
        item = paths[f"/loft/v1/datasets/{{owner}}/{{name}}/{noun}/{{{key}}}"]
        assert set(item) >= {"get", "head", "put", "delete"}  # reads here, writes by FastAPI
        names = {p["name"] for p in item["get"]["parameters"]}
        assert names == {"owner", "name", key, "version"}
        assert item["get"]["description"]
