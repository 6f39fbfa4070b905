"""The web UI in a real browser: Debian's chromium, driven by Playwright, against the
session's live server on both databases. Screenshots of the pages at a desktop's and a
phone's width go to ``test-artifacts/web/`` (kept by CI)."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from tests.conftest import User
from tests.support import LiveServer, unique
from tests.web.browsing import database_of, shoot, sign_in
from tests.web.conftest import Birds, put

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2ee6b5c0000000049454e44ae426082"
)


def test_browsing_a_dataset(page: Page, alice: User, birds: Birds, database_url: str) -> None:
    database = database_of(database_url)
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
    database = database_of(database_url)
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


def test_a_team_a_project_and_the_trash(
    page: Page, alice: User, bob: User, database_url: str
) -> None:
    database = database_of(database_url)
    sign_in(page, alice)
    page.get_by_role("link", name="Teams").click()
    team = unique("crew")
    page.get_by_label("Name").fill(team)
    page.get_by_role("button", name="Make team").click()
    page.wait_for_url(f"**/ui/-/teams/{team}")
    page.get_by_label("Username").fill(bob.username)
    page.get_by_label("Level", exact=True).select_option("W")
    page.get_by_role("button", name="Add member").click()
    assert page.get_by_label(f"Level of {bob.username}", exact=True).input_value() == "W"
    page.get_by_label("Name", exact=True).fill("spring")
    page.get_by_role("button", name="Make project").click()
    expect(page.get_by_role("cell", name="spring", exact=True)).to_be_visible()
    shoot(page, "team", database)

    name = unique("ds")
    made = alice.client.post("/datasets", json={"name": name})
    assert made.status_code == 201, made.text
    page.goto(f"/ui/{alice.username}/{name}/-/settings")
    page.get_by_label("Team project").select_option(f"{team}/spring")
    page.get_by_role("button", name="Move").click()
    expect(page.get_by_text(f"project {team}/spring")).to_be_visible()
    shoot(page, "settings", database)

    page.get_by_label(f"Type {name} to confirm").fill(name)
    page.get_by_role("button", name="Delete this dataset").click()
    page.wait_for_url(f"**/ui/{alice.username}")
    shoot(page, "trash", database)
    page.get_by_role("button", name=f"Restore {name}").click()
    page.wait_for_url(f"**/ui/{alice.username}/{name}")


def test_the_users_page(page: Page, admin: User, database_url: str) -> None:
    database = database_of(database_url)
    sign_in(page, admin)
    page.get_by_role("link", name="Users").click()
    page.wait_for_url("**/ui/-/users")
    assert page.get_by_role("button", name="Unmake admin admin").is_visible()
    shoot(page, "users", database)


def test_new_events_appear_without_reload(
    page: Page, alice: User, birds: Birds, database_url: str
) -> None:
    database = database_of(database_url)
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
