"""What the browser tests share besides their fixtures (``conftest.py``): where Debian's
chromium is, signing in through the form, and screenshots checked by axe-core."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from tests.conftest import User

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
WIDTHS = {"desktop": 1280, "phone": 390}


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("the browser tests need Debian's chromium: apt-get install chromium")
    return found


def database_of(database_url: str) -> str:
    """The database a test runs on, as screenshots' names say it."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


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
