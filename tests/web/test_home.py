"""The home page, on both databases: your datasets, your teams', the public ones last
updated first (a keyset page at a time), and a search that finds names, descriptions,
owners and tags."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import httpx

from tests.conftest import User
from tests.support import unique
from tests.web.conftest import Visitor, put

Visit = Callable[..., Visitor]
LINK = re.compile(r'<a href="/ui/([^/"]+)/([^/"]+)"><span class="owner">')
MORE = re.compile(r'<a rel="next" href="([^"]+)">More</a>')


def made(answer: httpx.Response, status: int = 201) -> None:
    assert answer.status_code == status, answer.text


def section(page: str, key: str) -> str:
    """The part of the home page that is one of its lists."""
    return page.split(f'aria-labelledby="{key}"', 1)[1].split("</section>", 1)[0]


def listed(page: str) -> list[str]:
    return [f"{owner}/{name}" for owner, name in LINK.findall(page)]


def test_public_datasets_last_updated_first(visit: Visit, alice: User) -> None:
    names = [unique("pub") for _ in range(3)]
    for name in names:
        made(alice.client.post("/datasets", json={"name": name, "visibility": "public"}))
    put(alice, f"{alice.username}/{names[0]}", "a.txt", b"later")  # the first, updated last

    # Signed out, page after page of the public list (other tests' datasets among them).
    visitor = visit()
    seen: list[str] = []
    url: str | None = "/ui/"
    while url is not None:
        page = visitor.get(url).text
        seen += listed(section(page, "public"))
        more = MORE.search(section(page, "public"))
        url = "/ui/" + unescape(more.group(1)) if more else None
    assert len(seen) == len(set(seen))  # no page repeats another's
    mine = [seen.index(f"{alice.username}/{n}") for n in names]
    assert mine[0] < mine[2] < mine[1]  # updated last, then made last, then before it


def test_your_datasets_and_your_teams(
    visit: Visit, alice: User, bob: User, make_user: Callable[..., User]
) -> None:
    team = unique("team")
    made(bob.client.post("/teams", json={"name": team}))
    made(bob.client.put(f"/teams/{team}/members/{alice.username}", json={"level": "W"}), 200)
    made(bob.client.post(f"/teams/{team}/projects", json={"name": "field"}))
    shared = unique("shared")
    made(bob.client.post("/datasets", json={"name": shared, "project": f"{team}/field"}))
    own = unique("own")
    made(alice.client.post("/datasets", json={"name": own, "project": f"{team}/field"}))

    page = visit(alice).get("/ui/").text
    assert f"{alice.username}/{own}" in listed(section(page, "yours"))
    teams = listed(section(page, "teams"))
    assert f"{bob.username}/{shared}" in teams  # bob's, in alice's team's project
    assert f"{alice.username}/{own}" not in teams  # her own are hers, above
    paged = visit(alice).get("/ui/?show=teams").text
    assert 'aria-labelledby="yours"' not in paged and f"{bob.username}/{shared}" in paged
    # bob, the team's admin, sees alice's there; someone in no team sees no such list;
    # signed out, only the public one.
    assert f"{alice.username}/{own}" in listed(section(visit(bob).get("/ui/").text, "teams"))
    loner = visit(make_user("loner")).get("/ui/").text
    assert 'aria-labelledby="yours"' in loner and 'aria-labelledby="teams"' not in loner
    assert 'aria-labelledby="yours"' not in visit().get("/ui/").text


def test_search_by_name_owner_and_tag(visit: Visit, alice: User, bob: User) -> None:
    tag = unique("heron")
    name = unique("wading")
    body = {"name": name, "visibility": "public", "tags": [tag]}
    made(alice.client.post("/datasets", json=body))
    stranger = visit()
    for q in (tag, name, alice.username):
        found = listed(section(stranger.get("/ui/", params={"q": q}).text, "found"))
        assert f"{alice.username}/{name}" in found, q
    private = unique("hidden")
    made(alice.client.post("/datasets", json={"name": private, "tags": [tag]}))
    assert f"{alice.username}/{private}" not in stranger.get("/ui/", params={"q": tag}).text
    assert f"{alice.username}/{private}" not in visit(bob).get("/ui/", params={"q": tag}).text
    assert f"{alice.username}/{private}" in visit(alice).get("/ui/", params={"q": tag}).text
    bad = visit().get("/ui/", params={"show": "public", "after": "not-a-cursor"})
    assert bad.status_code == 400
