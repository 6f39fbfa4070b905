"""Fixtures of the web UI's tests: the session's live server (both databases), a browser
of sorts (``Visitor``: httpx keeping cookies, signing in through the real form), a real
one (chromium, ``page``) and a dataset with files, versions and a record made through the
native API."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.conftest import User
from tests.support import LiveServer, unique
from tests.web.browsing import chromium

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]*)"')


@dataclass
class Visitor:
    """Someone at the web UI: a cookie jar, signed in or not."""

    client: httpx.Client

    def get(self, path: str, **options: object) -> httpx.Response:
        return self.client.get(path, **options)  # type: ignore[arg-type]

    def csrf(self, path: str = "/ui/") -> str:
        """The token the forms of ``path`` carry."""
        found = CSRF_FIELD.search(self.get(path).text)
        assert found is not None, "no form with a csrf field"
        return found.group(1)

    def post(self, path: str, fields: dict[str, str]) -> httpx.Response:
        # A browser posting one of our own forms says it comes from this origin.
        headers = {"Origin": str(self.client.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"}
        return self.client.post(path, data=fields, headers=headers)

    def sign_in(self, user: User) -> httpx.Response:
        token = self.csrf("/ui/-/signin")
        fields = {"csrf": token, "username": user.username, "password": user.password}
        return self.post("/ui/-/signin", fields)


@pytest.fixture
def visit(server: LiveServer) -> Iterator[Callable[[User | None], Visitor]]:
    """Visitors, signed in as the user given (or anonymous)."""
    clients: list[httpx.Client] = []

    def factory(user: User | None = None) -> Visitor:
        client = httpx.Client(base_url=server.url, timeout=30)
        clients.append(client)
        visitor = Visitor(client)
        if user is not None:
            signed = visitor.sign_in(user)
            assert signed.status_code == 303, signed.text
        return visitor

    yield factory
    for client in clients:
        client.close()


@dataclass(frozen=True)
class Birds:
    """alice's dataset of the web tests: two versions of files, a record."""

    owner: str
    name: str

    @property
    def url(self) -> str:
        return f"/ui/{self.owner}/{self.name}"


def put(user: User, dataset: str, path: str, data: bytes, media_type: str | None = None) -> None:
    headers = {"Content-Type": media_type} if media_type else {}
    answer = user.client.put(f"/datasets/{dataset}/files/{path}", content=data, headers=headers)
    assert answer.status_code in (200, 201), answer.text


@pytest.fixture
def birds(alice: User) -> Birds:
    name = unique("birds")
    made = alice.client.post(
        "/datasets",
        json={"name": name, "description": "Bird **counts**. <script>alert(1)</script>"},
    )
    assert made.status_code == 201, made.text
    dataset = f"{alice.username}/{name}"
    put(alice, dataset, "README.md", b"# Birds\n\nCounted in *May*.\n")
    put(alice, dataset, "data/counts.csv", b"species,count\nrobin,3\nwren,5\n")  # version 2
    put(alice, dataset, "data/counts.csv", b"species,count\nrobin,4\nwren,5\nowl,1\n")  # 3
    record = alice.client.put(
        f"/datasets/{dataset}/records/r1", json={"name": "robin", "n": [1, 2]}
    )
    assert record.status_code in (200, 201), record.text
    return Birds(alice.username, name)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped: Playwright's sync API keeps an event loop running in this thread
    # while it is open, and later tests of the suite run asyncio themselves.
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def problems() -> list[str]:
    """What went wrong in the page's scripts and loads (checked to be nothing)."""
    return []


@pytest.fixture
def page(browser: Browser, server: LiveServer, problems: list[str]) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url)
    opened = context.new_page()
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    yield opened
    context.close()
    assert problems == []  # no script error, no resource refused on any page
