"""The web UI's account pages over HTTP, on both databases: teams and their members and
projects, the site admins' list of users, a dataset's project and owner, and the trash.
Each page is shown to those the core lets see it and refused to others; each form does
nothing without its token; whatever anyone stored is text."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import update

from dataloft.core.loft import Loft
from dataloft.core.pagination import encode_cursor
from dataloft.db.models import Project, Team, User
from dataloft.web import users as users_page
from dataloft.web.render import segment
from tests.conftest import User as Account
from tests.support import unique
from tests.web.conftest import Visitor

Visit = Callable[..., Visitor]
PAYLOAD = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
# For names, which are path segments of the UI's URLs: no "/" in it.
NAME_PAYLOAD = "<img src=x onerror=alert(1)>"
NAME_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def made(answer: httpx.Response, status: int = 201) -> None:
    assert answer.status_code == status, answer.text


def make_team(user: Account, *members: tuple[Account, str]) -> str:
    """A team of ``user``'s (its admin), with ``members`` at their levels, by the API."""
    name = unique("team")
    made(user.client.post("/teams", json={"name": name}))
    for member, level in members:
        put = user.client.put(f"/teams/{name}/members/{member.username}", json={"level": level})
        made(put, 200)
    return name


def make_dataset(user: Account) -> str:
    """An empty private dataset of ``user``'s; its ``owner/name``."""
    name = unique("ds")
    made(user.client.post("/datasets", json={"name": name}))
    return f"{user.username}/{name}"


def post_both_ways(visitor: Visitor, path: str, fields: dict[str, str]) -> httpx.Response:
    """Post ``fields`` without the csrf token (refused, 403), then with it: the answer."""
    # A form of no other field still posts a body (as a browser does): an empty token.
    refused = visitor.post(path, fields or {"csrf": ""})
    assert refused.status_code == 403, (path, refused.text)
    assert "this form is stale" in refused.text
    return visitor.post(path, {**fields, "csrf": visitor.csrf()})


def member_levels(page: str) -> dict[str, str]:
    """A team page's members and the level each holds, as the page says."""
    found = re.findall(
        r'<td><a href="/ui/([^"]+)">[^<]*</a></td>\s*<td>.*?(?:selected>|\n\s*)([RXWA]):',
        page,
        re.S,
    )
    return dict(found)


# --- teams ------------------------------------------------------------------------------------


def test_the_teams_page_lists_yours_and_makes_one(visit: Visit, alice: Account) -> None:
    assert visit().get("/ui/-/teams").headers["location"] == "/ui/-/signin?next=/ui/-/teams"
    visitor = visit(alice)
    assert 'href="/ui/-/teams">Teams</a>' in visitor.get("/ui/").text  # in the nav
    assert "You belong to no team yet." in visitor.get("/ui/-/teams").text
    name = unique("crew")
    answer = post_both_ways(visitor, "/ui/-/teams", {"name": name, "description": "we count"})
    made(answer, 303)
    assert answer.headers["location"] == f"/ui/-/teams/{name}"
    listed = visitor.get("/ui/-/teams").text
    assert f'href="/ui/-/teams/{name}">{name}</a>' in listed and "A: admin" in listed
    page = visitor.get(f"/ui/-/teams/{name}").text
    assert member_levels(page) == {alice.username: "A"} and "we count" in page
    taken = visitor.post("/ui/-/teams", {"csrf": visitor.csrf(), "name": name.upper()})
    assert taken.status_code == 409 and "already taken" in taken.text


def test_a_team_is_not_found_for_those_outside_it(
    visit: Visit, alice: Account, bob: Account, admin: Account
) -> None:
    team = make_team(alice)
    page = f"/ui/-/teams/{team}"
    assert visit(alice).get(page).status_code == 200
    stranger = visit(bob)
    answer = stranger.get(page)
    assert answer.status_code == 404 and "Not found" in answer.text
    assert stranger.get("/ui/-/teams/no-such-team").status_code == 404  # the same page
    assert (
        stranger.post(
            f"{page}/members", {"csrf": stranger.csrf(), "username": bob.username, "level": "A"}
        ).status_code
        == 404
    )
    assert visit().get(page).headers["location"] == f"/ui/-/signin?next={page}"
    site = visit(admin).get(page)  # site admins see every team, and manage it
    assert site.status_code == 200 and "Add member" in site.text
    assert team in visit(admin).get("/ui/-/teams").text


def test_team_admins_manage_members(visit: Visit, alice: Account, bob: Account) -> None:
    team = make_team(alice)
    page, visitor = f"/ui/-/teams/{team}", visit(alice)
    add = {"username": bob.username, "level": "W"}
    made(post_both_ways(visitor, f"{page}/members", add), 303)
    assert member_levels(visitor.get(page).text) == {alice.username: "A", bob.username: "W"}
    made(post_both_ways(visitor, f"{page}/members", {**add, "level": "R"}), 303)
    assert member_levels(visitor.get(page).text)[bob.username] == "R"
    made(post_both_ways(visitor, f"{page}/members/{bob.username}/remove", {}), 303)
    assert member_levels(visitor.get(page).text) == {alice.username: "A"}

    token = visitor.csrf()
    unknown = visitor.post(f"{page}/members", {"csrf": token, "username": "nobody-x", "level": "R"})
    assert unknown.status_code == 404 and "not found" in unknown.text
    bad = visitor.post(f"{page}/members", {"csrf": token, "username": bob.username, "level": "Z"})
    assert bad.status_code == 400 and "level must be one of" in bad.text
    last = visitor.post(f"{page}/members/{alice.username}/remove", {"csrf": token})
    assert last.status_code == 409 and "last admin" in last.text


def test_members_see_their_team_and_may_leave_it(
    visit: Visit, alice: Account, bob: Account
) -> None:
    team = make_team(alice, (bob, "R"))
    page, member = f"/ui/-/teams/{team}", visit(bob)
    shown = member.get(page).text
    assert member_levels(shown) == {alice.username: "A", bob.username: "R"}
    assert "Add member" not in shown and "Make a project" not in shown  # not theirs to do
    assert "Leave the team" in shown and f'aria-label="Remove {alice.username}"' not in shown
    refused = member.post(
        f"{page}/members", {"csrf": member.csrf(), "username": bob.username, "level": "A"}
    )
    assert refused.status_code == 403 and "needs level A" in refused.text
    left = post_both_ways(member, f"{page}/members/{bob.username}/remove", {})
    made(left, 303)
    assert left.headers["location"] == "/ui/-/teams"
    assert member.get(page).status_code == 404


def test_writers_make_projects(visit: Visit, alice: Account, bob: Account) -> None:
    team = make_team(alice, (bob, "W"))
    page, writer = f"/ui/-/teams/{team}", visit(bob)
    assert "Make a project" in writer.get(page).text and "Add member" not in writer.get(page).text
    fields = {"name": "counts", "description": "spring"}
    made(post_both_ways(writer, f"{page}/projects", fields), 303)
    shown = visit(alice).get(page).text
    assert "<td>counts</td><td>spring</td>" in shown
    again = writer.post(f"{page}/projects", {**fields, "csrf": writer.csrf()})
    assert again.status_code == 409
    made(alice.client.put(f"/teams/{team}/members/{bob.username}", json={"level": "X"}), 200)
    refused = writer.post(f"{page}/projects", {"csrf": writer.csrf(), "name": "more"})
    assert refused.status_code == 403


def test_an_owner_page_leads_to_its_team(visit: Visit, alice: Account, bob: Account) -> None:
    team = make_team(alice)
    link = f'href="/ui/-/teams/{team}"'
    assert link in visit(alice).get(f"/ui/{team}").text
    assert link not in visit(bob).get(f"/ui/{team}").text  # not a team bob may see
    assert link not in visit().get(f"/ui/{team}").text


# --- users ------------------------------------------------------------------------------------


def usernames(page: str) -> list[str]:
    return re.findall(r'<tr>\s*<td><a href="/ui/[^"]+">([^<]+)</a></td>', page)


def test_users_are_for_site_admins(
    visit: Visit, alice: Account, admin: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert visit().get("/ui/-/users").headers["location"] == "/ui/-/signin?next=/ui/-/users"
    refused = visit(alice).get("/ui/-/users")
    assert refused.status_code == 403 and "only admins list users" in refused.text
    assert 'href="/ui/-/users"' not in visit(alice).get("/ui/").text  # no such link for them

    monkeypatch.setattr(users_page, "PAGE_SIZE", 2)
    site = visit(admin)
    assert 'href="/ui/-/users">Users</a>' in site.get("/ui/").text
    first = site.get("/ui/-/users").text
    more = re.search(r'rel="next" href="\?after=([^"]+)"', first)
    assert more is not None and len(usernames(first)) == 2
    second = site.get(f"/ui/-/users?after={more.group(1)}").text
    assert len(usernames(second)) == 2 and not set(usernames(first)) & set(usernames(second))
    assert 'href="/ui/-/users">First page</a>' in second
    bad = site.get("/ui/-/users?after=%00garbage")
    assert bad.status_code == 400 and "invalid cursor" in bad.text


def test_site_admins_change_accounts(
    visit: Visit, alice: Account, bob: Account, admin: Account
) -> None:
    site = visit(admin)
    path = f"/ui/-/users/{bob.username}"
    after = encode_cursor(bob.username[:-1])  # a page that starts with bob
    listing = f"/ui/-/users?after={after}"

    def row() -> str:
        page = site.get(listing).text
        assert usernames(page)[0] == bob.username
        return page.split("</tr>", 2)[1]

    assert 'aria-label="Make admin ' in row() and 'aria-label="Deactivate ' in row()
    answer = post_both_ways(site, path, {"action": "make-admin", "after": after})
    made(answer, 303)
    assert answer.headers["location"] == listing
    assert bob.client.get("/users").status_code == 200  # an admin now
    assert 'aria-label="Unmake admin ' in row()
    made(post_both_ways(site, path, {"action": "unmake-admin"}), 303)
    made(post_both_ways(site, path, {"action": "deactivate"}), 303)
    assert "deactivated" in row() and bob.client.get("/me").status_code == 401
    made(post_both_ways(site, path, {"action": "reactivate"}), 303)
    assert "deactivated" not in row()

    token = site.csrf()
    assert site.post(path, {"csrf": token, "action": "delete"}).status_code == 400
    assert (
        site.post("/ui/-/users/nobody-x", {"csrf": token, "action": "deactivate"}).status_code
        == 404
    )
    member = visit(alice)
    refused = member.post(path, {"csrf": member.csrf(), "action": "deactivate"})
    assert refused.status_code == 403 and bob.client.get("/me").status_code == 200


# --- stored payloads -------------------------------------------------------------------------


def behind_the_core(loft: Loft, table: type[Team | Project], row_id: int, name: str) -> None:
    """Rename a row as no dialect today can: a name stored before today's rules, or by a
    dialect of tomorrow, is still only text in a page."""
    with loft.db.write() as session:
        session.execute(update(table).where(table.id == row_id).values(name=name))


def test_stored_names_and_descriptions_are_text(
    visit: Visit, loft: Loft, alice: Account, bob: Account, admin: Account
) -> None:
    made(bob.client.patch(f"/users/{bob.username}", json={"full_name": PAYLOAD}), 200)
    team = alice.client.post("/teams", json={"name": unique("t"), "description": PAYLOAD})
    made(team)
    name = team.json()["name"]
    made(alice.client.put(f"/teams/{name}/members/{bob.username}", json={"level": "R"}), 200)
    project = alice.client.post(
        f"/teams/{name}/projects", json={"name": "p", "description": PAYLOAD}
    )
    made(project)
    evil = {what: f"x{unique()}{NAME_PAYLOAD}" for what in ("team", "project", "user")}
    behind_the_core(loft, Team, team.json()["id"], evil["team"])
    behind_the_core(loft, Project, project.json()["id"], evil["project"])
    bob_id = bob.client.get("/me").json()["user"]["id"]
    with loft.db.write() as session:
        session.execute(update(User).where(User.id == bob_id).values(username=evil["user"]))

    visitor = visit(alice)
    after = encode_cursor(evil["user"][:-1])  # the page of users that starts with bob
    pages = {
        "teams": visitor.get("/ui/-/teams").text,
        "team": visitor.get(f"/ui/-/teams/{segment(evil['team'])}").text,
        "users": visit(admin).get(f"/ui/-/users?after={after}").text,
        "refused": visitor.post("/ui/-/teams", {"csrf": visitor.csrf(), "name": PAYLOAD}).text,
    }
    for what, page in pages.items():
        assert "<script" not in page and "<img" not in page, what
        assert ESCAPED in page, what
    for what in ("team", "project", "user"):  # each name, as text
        assert evil[what].replace(NAME_PAYLOAD, NAME_ESCAPED) in pages["team"], what
    assert evil["user"].replace(NAME_PAYLOAD, NAME_ESCAPED) in pages["users"]


# --- a dataset's project, owner and trash -----------------------------------------------------


def test_a_dataset_moves_into_a_team_project(visit: Visit, alice: Account, bob: Account) -> None:
    team = make_team(bob, (alice, "W"))
    made(bob.client.post(f"/teams/{team}/projects", json={"name": "spring"}))
    dataset = make_dataset(alice)
    settings, owner = f"/ui/{dataset}/-/settings", visit(alice)
    assert f'<option value="{team}/spring">' in owner.get(settings).text
    assert visit(bob).get(f"/ui/{dataset}").status_code == 404  # alice's alone so far

    made(post_both_ways(owner, settings, {"action": "project", "project": f"{team}/spring"}), 303)
    assert f"project {team}/spring" in owner.get(f"/ui/{dataset}").text
    assert visit(bob).get(f"/ui/{dataset}").status_code == 200  # the team's admin: theirs now
    assert visit(bob).get(settings).status_code == 200

    made(owner.post(settings, {"csrf": owner.csrf(), "action": "project", "project": ""}), 303)
    assert visit(bob).get(f"/ui/{dataset}").status_code == 404
    elsewhere = make_team(bob)  # a team alice is not in
    made(bob.client.post(f"/teams/{elsewhere}/projects", json={"name": "p"}))
    refused = owner.post(
        settings, {"csrf": owner.csrf(), "action": "project", "project": f"{elsewhere}/p"}
    )
    assert refused.status_code == 404
    malformed = owner.post(settings, {"csrf": owner.csrf(), "action": "project", "project": "x"})
    assert malformed.status_code == 400 and "team/project" in malformed.text


def test_site_admins_give_a_dataset_away(
    visit: Visit, alice: Account, bob: Account, admin: Account
) -> None:
    dataset = make_dataset(alice)
    name = dataset.split("/")[1]
    settings, owner = f"/ui/{dataset}/-/settings", visit(alice)
    assert "Give to another user" not in owner.get(settings).text
    fields = {"action": "transfer", "owner": bob.username}
    refused = owner.post(settings, {**fields, "csrf": owner.csrf()})
    assert refused.status_code == 403 and "only site admins" in refused.text

    site = visit(admin)
    assert "Give to another user" in site.get(settings).text
    given = post_both_ways(site, settings, fields)
    made(given, 303)
    assert given.headers["location"] == f"/ui/{bob.username}/{name}/-/settings"
    assert visit(bob).get(f"/ui/{bob.username}/{name}").status_code == 200
    assert owner.get(f"/ui/{dataset}").status_code == 404
    nobody = site.post(
        f"/ui/{bob.username}/{name}/-/settings",
        {"csrf": site.csrf(), "action": "transfer", "owner": "nobody-x"},
    )
    assert nobody.status_code == 404


def test_a_deleted_dataset_is_restored_from_the_trash(
    visit: Visit, alice: Account, bob: Account, admin: Account
) -> None:
    dataset = make_dataset(alice)
    name = dataset.split("/")[1]
    owner, mine = visit(alice), f"/ui/{alice.username}"
    assert 'id="trash"' not in owner.get(mine).text  # nothing deleted yet
    gone = owner.post(
        f"/ui/{dataset}/-/settings", {"csrf": owner.csrf(), "action": "delete", "confirm": name}
    )
    made(gone, 303)
    trash = owner.get(mine).text.split('id="trash"', 1)[1]
    assert name in trash and re.search(r'<time datetime="\d{4}-\d\d-\d\dT', trash)
    uid = re.search(r'name="uid" value="([0-9a-f]{32})"', trash)
    assert uid is not None
    assert 'id="trash"' not in visit(bob).get(mine).text  # not bob's to restore
    assert 'id="trash"' in visit(admin).get(mine).text  # a site admin's
    restore = f"/ui/{dataset}/-/restore"
    stranger = visit(bob)
    assert stranger.post(restore, {"csrf": stranger.csrf(), "uid": uid.group(1)}).status_code == 404

    back = post_both_ways(owner, restore, {"uid": uid.group(1)})
    made(back, 303)
    assert back.headers["location"] == f"/ui/{dataset}"
    assert owner.get(f"/ui/{dataset}").status_code == 200
    assert 'id="trash"' not in owner.get(mine).text
    again = owner.post(restore, {"csrf": owner.csrf(), "uid": uid.group(1)})
    assert again.status_code == 404  # nothing of that name in the trash now

    made(alice.client.delete(f"/datasets/{dataset}"), 204)
    made(alice.client.post("/datasets", json={"name": name}))  # the name, taken meanwhile
    taken = owner.post(restore, {"csrf": owner.csrf(), "uid": uid.group(1)})
    assert taken.status_code == 409 and "already exists" in taken.text


def test_bad_input_is_a_clean_refusal(visit: Visit, alice: Account) -> None:
    team = make_team(alice)
    dataset = make_dataset(alice)
    visitor = visit(alice)
    token = visitor.csrf()
    answers = {
        "team path": visitor.get("/ui/-/teams/a%00b").status_code,
        "member path": visitor.post(
            f"/ui/-/teams/{team}/members/a%00b/remove", {"csrf": token}
        ).status_code,
        "member field": visitor.post(
            f"/ui/-/teams/{team}/members", {"csrf": token, "username": "a\x00b", "level": "R"}
        ).status_code,
        "long team": visitor.post("/ui/-/teams", {"csrf": token, "name": "t" * 5000}).status_code,
        "team field": visitor.post("/ui/-/teams", {"csrf": token, "name": "a\x00b"}).status_code,
        "project field": visitor.post(
            f"/ui/{dataset}/-/settings",
            {"csrf": token, "action": "project", "project": f"{team}/\x00"},
        ).status_code,
        "restore uid": visitor.post(
            f"/ui/{dataset}/-/restore", {"csrf": token, "uid": "\x00"}
        ).status_code,
        "restore path": visitor.post("/ui/a%00b/c/-/restore", {"csrf": token}).status_code,
        "not a form": visitor.client.post(
            f"/ui/-/teams/{team}/projects",
            content=b"{}",
            headers={"Content-Type": "application/json", "Origin": str(visitor.client.base_url)},
        ).status_code,
        "trash cursor": visitor.get(f"/ui/{alice.username}?trash_after=nope").status_code,
    }
    assert all(400 <= code < 500 for code in answers.values()), answers
