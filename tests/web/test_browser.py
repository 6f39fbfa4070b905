"""The web UI in a real browser: Debian's chromium, driven by Playwright, against the
session's live server on both databases. Screenshots of the pages at a desktop's and a
phone's width go to ``test-artifacts/web/`` (kept by CI)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import User
from tests.support import LiveServer
from tests.web.conftest import Birds, put

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
WIDTHS = {"desktop": 1280, "phone": 390}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2ee6b5c0000000049454e44ae426082"
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install chromium")
    return found


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


def sign_in(page: Page, user: User) -> None:
    page.goto("/ui/-/signin")
    page.get_by_label("Name").fill(user.username)
    page.get_by_label("Password").fill(user.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/")


def shoot(page: Page, name: str, database: str) -> None:
    """Screenshots of the page at each width, each checked by axe-core: no serious or
    critical accessibility violation."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, width in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}-{database}.png"), full_page=True)
        violations = Axe().run(page).response["violations"]
        serious = [
            (v["id"], v["help"], [n["target"] for n in v["nodes"]])
            for v in violations
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == [], (name, label)


def test_browsing_a_dataset(page: Page, alice: User, birds: Birds, database_url: str) -> None:
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    put(alice, f"{birds.owner}/{birds.name}", "img/dot.png", PNG)
    sign_in(page, alice)
    shoot(page, "home", database)
    page.get_by_role("link", name=birds.name).first.click()
    page.wait_for_url(f"**{birds.url}")
    assert page.get_by_role("heading", name="Birds", exact=True).is_visible()  # the README
    shoot(page, "dataset", database)

    page.get_by_role("link", name="data/").click()
    page.get_by_role("link", name="counts.csv").click()
    assert page.get_by_role("cell", name="owl").is_visible()
    shoot(page, "preview-csv", database)

    # An older version, picked: no owl yet.
    page.get_by_label("Version").select_option("2")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**version=2")
    assert page.get_by_role("cell", name="robin").is_visible()
    assert page.get_by_role("cell", name="owl").count() == 0

    page.goto(f"{birds.url}/-/blob/img/dot.png")
    image = page.get_by_role("img", name="dot.png")
    assert image.evaluate("node => node.complete && node.naturalWidth") == 1  # it loaded
    page.goto(f"{birds.url}/-/blob/README.md")
    assert page.get_by_role("heading", name="Birds", exact=True).is_visible()

    page.get_by_role("link", name="Records").click()
    page.get_by_role("link", name="r1").click()
    assert page.get_by_text('"robin"').is_visible()
    shoot(page, "record", database)


def test_a_stranger_sees_not_found(page: Page, birds: Birds, problems: list[str]) -> None:
    answer = page.goto(birds.url)
    assert answer is not None and answer.status == 404
    assert page.get_by_role("heading", name="Not found").is_visible()
    problems.remove(
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    )


def test_a_diff_and_a_token(page: Page, alice: User, birds: Birds, database_url: str) -> None:
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    sign_in(page, alice)
    page.goto(f"{birds.url}/-/versions")
    page.get_by_role("link", name="changes").nth(1).click()  # version 3: the edited CSV
    changed = page.get_by_role("table", name="Changed lines of data/counts.csv")
    assert changed.get_by_role("row").filter(has_text="robin,4").is_visible()
    assert changed.get_by_role("row").filter(has_text="owl,1").is_visible()
    shoot(page, "diff", database)

    page.get_by_role("link", name="Tokens").click()
    page.get_by_label("Name").fill("ci")
    page.get_by_role("button", name="Make token").click()
    secret = page.get_by_label("The new token").input_value()
    assert secret
    page.goto("/ui/-/tokens")
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke ci").click()
    page.wait_for_url("**/ui/-/tokens")
    assert page.get_by_role("button", name="Revoke ci").count() == 0


def test_made_public_it_is_seen_signed_out(
    page: Page, browser: Browser, server: LiveServer, alice: User, birds: Birds
) -> None:
    sign_in(page, alice)
    page.goto(f"{birds.url}/-/settings")
    page.get_by_label("Public: anyone, signed in or not").check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/-/settings")
    stranger = browser.new_context(base_url=server.url)
    try:
        seen = stranger.new_page()
        answer = seen.goto(birds.url)
        assert answer is not None and answer.status == 200
        assert seen.get_by_role("link", name="data/").is_visible()
        assert seen.get_by_role("link", name="Settings").count() == 0
    finally:
        stranger.close()


def test_new_events_appear_without_reload(
    page: Page, alice: User, birds: Birds, database_url: str
) -> None:
    database = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    sign_in(page, alice)
    page.goto(birds.url)
    page.get_by_role("link", name="Events").click()
    page.wait_for_url("**/-/events")
    listed = page.get_by_role("list", name="Events, newest first").get_by_role("listitem")
    expect(listed).to_have_count(5)  # the creation and four commits
    page.evaluate("window.stillThisPage = true")  # gone if the page reloads

    message = "<img src=x onerror=alert(1)> counted"
    made = alice.client.put(
        f"/datasets/{birds.owner}/{birds.name}/files/late.txt",
        content=b"late",
        params={"message": message},
    )
    assert made.status_code in (200, 201), made.text
    expect(listed).to_have_count(6)  # waits for the event, no reload
    newest = listed.first
    expect(newest).to_contain_text(message)  # as text: no image made
    expect(newest.get_by_role("img")).to_have_count(0)
    expect(newest.get_by_role("link", name="v5")).to_have_attribute(
        "href", f"{birds.url}?version=5"
    )
    expect(page.get_by_role("status")).to_have_text("Live: new events appear at the top.")
    assert page.evaluate("window.stillThisPage") is True
    shoot(page, "events", database)
