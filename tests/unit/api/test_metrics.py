"""The request figures gathered on the event loop reach the Prometheus instruments as they
would have one request at a time, and routes are known by their templates."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Histogram
from starlette.routing import Mount, Route

from dataloft.api.metrics import (
    DURATION,
    DURATION_BUCKETS,
    UNMATCHED,
    RequestCounts,
    RouteTemplates,
)
from tests.support import unique


def _samples(registry: CollectorRegistry, name: str) -> dict[str, float]:
    """The bucket counts, sum and count of the series of ``name`` in ``registry``, by
    sample name and ``le``, for the route of this test."""
    return {
        sample.name.rsplit("_", 1)[-1] + sample.labels.get("le", ""): sample.value
        for family in registry.collect()
        if family.name == name
        for sample in family.samples
        if sample.labels.get("route") in (None, ROUTE) and not sample.name.endswith("_created")
    }


ROUTE = unique("/test/")
SECONDS = [0.0001, 0.005, 0.0051, 0.3, 2.5, 59.9, 60.0, 61.0, 1000.0]


def test_handed_over_figures_equal_one_observation_per_request() -> None:
    counts = RequestCounts()

    async def requests() -> None:
        for seconds in SECONDS:
            counts.began()
            counts.ended("GET", ROUTE, 200, seconds, 10, 20)
        counts.hand_over()

    asyncio.run(requests())
    direct = CollectorRegistry()
    one_by_one = Histogram(
        "dataloft_http_request_duration_seconds",
        "",
        ["method", "route"],
        buckets=DURATION_BUCKETS,
        registry=direct,
    )
    for seconds in SECONDS:
        one_by_one.labels("GET", ROUTE).observe(seconds)
    name = DURATION._name
    assert _samples(REGISTRY, name) == _samples(direct, name)
    assert _samples(REGISTRY, name)["count"] == len(SECONDS)
    labels = {"method": "GET", "route": ROUTE, "status": "200"}
    assert REGISTRY.get_sample_value("dataloft_http_requests_total", labels) == len(SECONDS)
    route = {"route": ROUTE}
    assert REGISTRY.get_sample_value("dataloft_http_request_bytes_total", route) == 10 * 9
    assert REGISTRY.get_sample_value("dataloft_http_response_bytes_total", route) == 20 * 9
    assert REGISTRY.get_sample_value("dataloft_http_requests_in_progress") == 0


async def _endpoint() -> None:
    pass  # never called: the routes are only matched


TEMPLATES = RouteTemplates(
    [
        Route("/a/{name}", _endpoint, methods=["GET"]),
        Route("/b/{path:path}", _endpoint, methods=["PUT"]),
        Mount("/static", routes=[]),
    ]
)


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("GET", "/a/private-name", "/a/{name}"),
        ("GET", "/b/x/y", "/b/{path}"),  # another method's route: the 405 it answers
        ("GET", "/static/app.js", "/static/{path}"),
        ("GET", "/a/x/y", UNMATCHED),
    ],
)
def test_a_request_without_a_route_in_its_scope_is_matched(
    method: str, path: str, template: str
) -> None:
    assert TEMPLATES.of(None, method, path, "") == template


def test_a_route_in_the_scope_is_looked_up() -> None:
    route = Route("/c/{id}", _endpoint)
    templates = RouteTemplates([route])
    assert templates.of(route, "GET", "/nothing/like/it", "") == "/c/{id}"
