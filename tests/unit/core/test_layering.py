"""The core, the storage layer and the database layer know nothing of HTTP or the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src" / "dataloft"
FORBIDDEN = frozenset({"fastapi", "starlette", "jinja2", "typer", "click", "uvicorn", "httpx"})


def _imported_modules(source: str, filename: str, package: str | None = None) -> set[str]:
    """Every module name an ``import`` or ``from ... import`` statement names, wherever it
    appears (functions, ``if TYPE_CHECKING:`` blocks, ``try:`` blocks). Relative imports
    are resolved against ``package`` when given, and skipped otherwise."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=filename)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module:
                    modules.add(node.module)
            elif package is not None:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                if node.module:
                    modules.add(".".join([*base, node.module]))
                else:
                    modules.update(".".join([*base, alias.name]) for alias in node.names)
    return modules


def _package_of(path: Path) -> str:
    # A module's package is its folder, and so is an __init__.py's.
    return ".".join(path.relative_to(SRC.parent).parts[:-1])


def _forbidden_imports(source: str, filename: str = "<test>") -> set[str]:
    return {
        module
        for module in _imported_modules(source, filename)
        if module.split(".")[0] in FORBIDDEN
    }


def _python_files(package: str) -> list[Path]:
    return sorted((SRC / package).rglob("*.py"))


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import fastapi", {"fastapi"}),
        ("import os, starlette.responses as r", {"starlette.responses"}),
        ("from httpx import Client", {"httpx"}),
        ("from starlette.requests import Request", {"starlette.requests"}),
        ("def f():\n    import typer\n", {"typer"}),
        ("if True:\n    from click.testing import CliRunner\n", {"click.testing"}),
        ("try:\n    import uvicorn\nexcept ImportError:\n    pass\n", {"uvicorn"}),
        ("import jinja2.sandbox", {"jinja2.sandbox"}),
        ("import fastapi_utils, httpxyz, clickhouse", set()),
        ("from . import fastapi", set()),
        ("from .httpx import x", set()),
        ("import json\nfrom dataloft.core import errors", set()),
    ],
)
def test_checker_recognises_forbidden_imports(source: str, found: set[str]) -> None:
    assert _forbidden_imports(source) == found


@pytest.mark.parametrize(
    ("source", "package", "found"),
    [
        ("from .. import api", "dataloft.core", {"dataloft.api"}),
        ("from ..cli.main import app", "dataloft.core", {"dataloft.cli.main"}),
        ("from .errors import Invalid", "dataloft.core", {"dataloft.core.errors"}),
        ("from ...api import app", "dataloft.db.migrations", {"dataloft.api"}),
    ],
)
def test_checker_resolves_relative_imports(source: str, package: str, found: set[str]) -> None:
    assert _imported_modules(source, "<test>", package) == found


def test_package_of() -> None:
    assert _package_of(SRC / "core" / "names.py") == "dataloft.core"
    assert _package_of(SRC / "core" / "__init__.py") == "dataloft.core"
    assert _package_of(SRC / "db" / "migrations" / "env.py") == "dataloft.db.migrations"


@pytest.mark.parametrize("package", ["core", "storage", "db"])
def test_package_has_sources(package: str) -> None:
    files = _python_files(package)
    assert len(files) >= 3, files
    assert (SRC / package / "__init__.py") in files


@pytest.mark.parametrize("package", ["core", "storage", "db"])
def test_package_imports_no_web_or_cli_framework(package: str) -> None:
    offenders = {}
    for path in _python_files(package):
        found = _forbidden_imports(path.read_text(encoding="utf-8"), str(path))
        if found:
            offenders[str(path.relative_to(SRC))] = sorted(found)
    assert offenders == {}


@pytest.mark.parametrize("package", ["core", "storage", "db"])
def test_package_does_not_import_the_api_or_cli_layers(package: str) -> None:
    # Importing dataloft.api or dataloft.cli would pull the frameworks in indirectly.
    offenders = {}
    for path in _python_files(package):
        modules = _imported_modules(path.read_text(encoding="utf-8"), str(path), _package_of(path))
        bad = sorted(
            m for m in modules if m.split(".")[:2] in (["dataloft", "api"], ["dataloft", "cli"])
        )
        if bad:
            offenders[str(path.relative_to(SRC))] = bad
    assert offenders == {}
