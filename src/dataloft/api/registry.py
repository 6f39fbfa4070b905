"""Dialects: each one mounts its routes and renders errors in its own shape."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request
from starlette.responses import Response

# (request, status, message) -> the dialect's error response
ErrorRenderer = Callable[[Request, int, str], Response]


@dataclass(frozen=True)
class Dialect:
    name: str
    prefixes: tuple[str, ...]  # paths this dialect answers (its errors use its renderer)
    mount: Callable[[FastAPI], None]
    render_error: ErrorRenderer

    def owns(self, path: str) -> bool:
        return any(path == p.rstrip("/") or path.startswith(p) for p in self.prefixes)
