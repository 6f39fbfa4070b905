"""The web UI's pages over HTTP, on both databases: what they show, to whom, and that
nothing anyone stored can run in them."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

from dataloft.web.datasets import FOLDER_PAGE
from dataloft.web.diff import LINE_DIFF_LINES
from tests.conftest import User
from tests.web.conftest import Birds, Visitor, put

Visit = Callable[..., Visitor]


def test_the_root_leads_to_the_home_page(visit: Visit) -> None:
    visitor = visit()
    answer = visitor.get("/")
    assert (answer.status_code, answer.headers["location"]) == (307, "/ui/")
    home = visitor.get("/ui/")
    assert home.status_code == 200
    assert "Sign in" in home.text and "Public datasets" in home.text


def test_every_page_says_what_it_may_load(visit: Visit, birds: Birds, alice: User) -> None:
    page = visit(alice).get(birds.url)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "object-src 'none'" in policy
    assert "frame-ancestors 'self'" in policy and "base-uri 'none'" in policy
    assert page.headers["cache-control"] == "private, no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"


def test_signing_in_and_out(visit: Visit, alice: User) -> None:
    visitor = visit()
    wrong = visitor.post(
        "/ui/-/signin",
        {"csrf": visitor.csrf("/ui/-/signin"), "username": alice.username, "password": "nope"},
    )
    assert wrong.status_code == 401 and "dataloft_session" not in wrong.cookies
    assert 'role="alert"' in wrong.text  # the form again, saying what went wrong

    signed = visitor.sign_in(alice)
    assert (signed.status_code, signed.headers["location"]) == (303, "/ui/")
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    home = visitor.get("/ui/")
    assert "Your datasets" in home.text and alice.username in home.text

    out = visitor.post("/ui/-/signout", {"csrf": visitor.csrf()})
    assert out.status_code == 303
    assert "Your datasets" not in visitor.get("/ui/").text


def test_forms_need_their_token(visit: Visit, alice: User) -> None:
    visitor = visit(alice)
    assert visitor.post("/ui/-/signout", {"next": "/ui/"}).status_code == 403  # no token
    assert visitor.post("/ui/-/signout", {"csrf": "forged"}).status_code == 403
    assert "Your datasets" in visitor.get("/ui/").text  # still signed in
    # Signing in needs the token its form set in a cookie: another site cannot sign a
    # browser in to an account of its choosing.
    stranger = visit()
    fields = {"csrf": "guess", "username": alice.username, "password": alice.password}
    assert stranger.post("/ui/-/signin", fields).status_code == 403
    # And the pipeline refuses a form another site makes the browser post, token or not.
    crossed = visitor.client.post(
        "/ui/-/signout",
        data={"csrf": visitor.csrf()},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert crossed.status_code == 403


def test_a_private_dataset_is_not_found_for_others(
    visit: Visit, birds: Birds, alice: User, bob: User
) -> None:
    assert visit(alice).get(birds.url).status_code == 200
    for visitor in (visit(), visit(bob)):
        for path in ("", "/-/tree/data", "/-/blob/README.md", "/-/raw/README.md", "/-/versions"):
            answer = visitor.get(birds.url + path)
            assert answer.status_code == 404, path
            assert "Not found" in answer.text
    nothing = visit(bob).get(f"/ui/{alice.username}/no-such-dataset")
    assert nothing.status_code == 404  # the same page as a dataset that does not exist


def test_a_public_dataset_is_seen_signed_out(visit: Visit, birds: Birds, alice: User) -> None:
    made = alice.client.patch(
        f"/datasets/{birds.owner}/{birds.name}", json={"visibility": "public"}
    )
    assert made.status_code == 200, made.text
    visitor = visit()
    assert birds.name in visitor.get("/ui/").text
    assert visitor.get(birds.url).status_code == 200


def test_the_dataset_page(visit: Visit, birds: Birds, alice: User) -> None:
    page = visit(alice).get(birds.url).text
    assert "<strong>counts</strong>" in page  # the description, as Markdown
    assert "Counted in <em>May</em>" in page  # the README, rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the description's tag as text
    assert "<script" not in page
    assert f'href="/ui/{birds.owner}/{birds.name}/-/tree/data"' in page
    assert "v4 (head)" in page  # the picker: three files and a record, four versions
    assert '<td class="type">text/markdown</td>' in page  # the README's media type
    folder = visit(alice).get(f"{birds.url}/-/tree/data").text
    assert '<td class="type">text/csv</td>' in folder


def test_a_folder_a_page_at_a_time(visit: Visit, birds: Birds, alice: User) -> None:
    dataset = f"{birds.owner}/{birds.name}"
    files = {f"many/f{n:03d}.txt": b"x" for n in range(FOLDER_PAGE + 5)}
    made = alice.client.post(
        f"/datasets/{dataset}/commits",
        json={
            "changes": [
                {"op": "put_file", "path": p, "sha256": _blob(alice, d)} for p, d in files.items()
            ]
        },
    )
    assert made.status_code in (200, 201), made.text
    visitor = visit(alice)
    first = visitor.get(birds.url + "/-/tree/many").text
    last, beyond = f"f{FOLDER_PAGE - 1:03d}.txt", f"f{FOLDER_PAGE:03d}.txt"
    assert first.count('class="file"') == FOLDER_PAGE and last in first and beyond not in first
    after = first.split('rel="next" href="?after=')[1].split('"')[0]
    rest = visitor.get(birds.url + "/-/tree/many?after=" + after.replace("&amp;", "&")).text
    assert rest.count('class="file"') == 5 and f"f{FOLDER_PAGE + 4:03d}.txt" in rest

    # A full page weighs under 100 KB with everything it loads (its styles; this page
    # runs no script), so a slow laptop on a slow link gets it quickly.
    loads = re.findall(r'(?:href|src)="(/ui/-/static/[^"]+)"', first)
    assert loads and all(load.endswith(".css") for load in loads)
    weight = len(first.encode()) + sum(len(visitor.get(load).content) for load in loads)
    assert weight < 100_000, weight


def _blob(user: User, data: bytes) -> str:
    import hashlib

    digest = hashlib.sha256(data).hexdigest()
    assert user.client.put(f"/blobs/{digest}", content=data).status_code in (200, 201)
    return digest


def test_an_older_version_is_one_pick_away(visit: Visit, birds: Birds, alice: User) -> None:
    visitor = visit(alice)
    now = visitor.get(birds.url + "/-/blob/data/counts.csv").text
    assert "owl" in now
    before = visitor.get(birds.url + "/-/blob/data/counts.csv?version=2").text
    assert "owl" not in before and "robin" in before and "Showing version 2 of 4" in before
    tagged = alice.client.put(f"/datasets/{birds.owner}/{birds.name}/tags/may", json={"version": 2})
    assert tagged.status_code in (200, 201), tagged.text
    by_tag = visitor.get(birds.url + "/-/blob/data/counts.csv?version=may").text
    assert "owl" not in by_tag and "may (v2)" in by_tag


def text_of(html: str) -> str:
    """What a page says, without its tags (entities decoded)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_previews(visit: Visit, birds: Birds, alice: User) -> None:
    dataset = f"{birds.owner}/{birds.name}"
    put(alice, dataset, "code/f.py", b"def f(x):\n    return x  # <b>\n")
    put(
        alice, dataset, "meta.json", b'{"a": [1, {"b": null}], "c": "<img src=x onerror=alert(1)>"}'
    )
    put(alice, dataset, "page.html", b"<html><script>alert(document.cookie)</script></html>")
    put(
        alice,
        dataset,
        "pic.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    )
    visitor = visit(alice)

    def preview(path: str) -> str:
        page = visitor.get(f"{birds.url}/-/blob/{path}").text
        assert "<script" not in page and "<img src=x" not in page, path  # nothing runs
        return page.split('<section class="preview"', 1)[1].split("</section>", 1)[0]

    csv = preview("data/counts.csv")
    assert '<th scope="col">species</th>' in csv and "<td>owl</td>" in csv
    code = preview("code/f.py")
    assert '<span class="k">def</span>' in code  # highlighted as Python
    assert "return x  # <b>" in text_of(code)
    meta = text_of(preview("meta.json"))
    assert '  "a": [\n    1,\n    {\n      "b": null' in meta  # laid out
    assert '"c": "<img src=x onerror=alert(1)>"' in meta  # as text
    assert "<script>alert(document.cookie)</script>" in text_of(preview("page.html"))  # source
    svg = preview("pic.svg")
    assert f'<img src="/ui/{birds.owner}/{birds.name}/-/raw/pic.svg?version=' in svg
    readme = preview("README.md")
    assert "<h1>Birds</h1>" in readme
    record = visitor.get(birds.url + "/-/record/r1").text
    assert "<dt>name</dt>" in record and '"robin"' in text_of(record)


def test_user_bytes_never_run_in_the_ui(visit: Visit, birds: Birds, alice: User) -> None:
    dataset = f"{birds.owner}/{birds.name}"
    put(alice, dataset, "page.html", b"<script>alert(document.cookie)</script>", "text/html")
    put(alice, dataset, "pic.svg", b"<svg><script>alert(1)</script></svg>", "image/svg+xml")
    visitor = visit(alice)
    for path in ("page.html", "pic.svg"):
        raw = visitor.get(birds.url + "/-/raw/" + path)
        assert raw.status_code == 200
        assert raw.headers["content-security-policy"] == "sandbox"
        assert raw.headers["content-disposition"].startswith("attachment")
        assert raw.headers["x-content-type-options"] == "nosniff"
    ranged = visitor.get(birds.url + "/-/raw/data/counts.csv", headers={"Range": "bytes=0-6"})
    assert (ranged.status_code, ranged.content) == (206, b"species")


def test_stored_names_and_values_are_text(visit: Visit, alice: User) -> None:
    evil = '<img src=x onerror="alert(1)">'
    name = "x-" + str(abs(hash(evil)))[:6]
    made = alice.client.post("/datasets", json={"name": name, "description": evil, "tags": [evil]})
    assert made.status_code == 201, made.text
    dataset = f"{alice.username}/{name}"
    put(alice, dataset, evil.replace("/", "_") + ".txt", b"x")
    stored = alice.client.put(f"/datasets/{dataset}/records/r", json={evil: evil})
    assert stored.status_code in (200, 201), stored.text
    visitor = visit(alice)
    for path in ("", "/-/records", "/-/record/r"):
        page = visitor.get(f"/ui/{dataset}{path}").text
        assert "<img src=x" not in page and 'onerror="alert' not in page, path
    assert "&lt;img src=x onerror=" in visitor.get(f"/ui/{dataset}").text


def test_a_diff_shows_the_changed_lines(visit: Visit, birds: Birds, alice: User) -> None:
    visitor = visit(alice)
    page = visitor.get(birds.url + "/-/diff?from=2&to=3")
    assert page.status_code == 200
    changes = text_of(page.text.split('<ul class="diff">', 1)[1].split("</ul>", 1)[0])
    assert "changed file" in changes and "data/counts.csv" in changes
    assert "removed:robin,3" in changes and "added:robin,4" in changes
    assert "added:owl,1" in changes and "wren,5" in changes  # context, unchanged
    # Backwards, and by tag; the defaults compare the head with its parent.
    tagged = alice.client.put(f"/datasets/{birds.owner}/{birds.name}/tags/may", json={"version": 2})
    assert tagged.status_code in (200, 201), tagged.text
    back = text_of(visitor.get(birds.url + "/-/diff?from=3&to=may").text)
    assert "removed:owl,1" in back
    head = text_of(visitor.get(birds.url + "/-/diff").text)
    assert "Changes from v3 to v4" in head and "r1" in head  # the record came last


def test_tokens_made_shown_once_and_revoked(visit: Visit, alice: User, server: object) -> None:
    visitor = visit(alice)
    page = visitor.get("/ui/-/tokens")
    assert page.status_code == 200 and "web session" in page.text  # this very session
    made = visitor.post(
        "/ui/-/tokens", {"csrf": visitor.csrf("/ui/-/tokens"), "name": "laptop", "expires": "30"}
    )
    assert made.status_code == 201
    secret = re.search(r'id="secret" class="secret" value="([^"]+)"', made.text)
    assert secret is not None
    token = secret.group(1)
    me = visitor.client.get("/loft/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["user"]["username"] == alice.username
    listed = visitor.get("/ui/-/tokens").text
    assert "laptop" in listed and token not in listed  # shown once, never again
    revoke_laptop = r'tokens/(\d+)/revoke"[^<]*<input[^>]*>\s*<button[^>]*"Revoke laptop"'
    token_id = re.search(revoke_laptop, listed)
    assert token_id is not None
    revoked = visitor.post(f"/ui/-/tokens/{token_id.group(1)}/revoke", {"csrf": visitor.csrf()})
    assert revoked.status_code == 303
    gone = visitor.client.get("/loft/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert gone.status_code == 401
    assert visit().get("/ui/-/tokens").headers["location"].startswith("/ui/-/signin")


def test_settings_for_those_who_may(visit: Visit, birds: Birds, alice: User, bob: User) -> None:
    owner = visit(alice)
    assert "Settings</a>" in owner.get(birds.url).text
    settings = birds.url + "/-/settings"
    fields = {
        "csrf": owner.csrf(settings),
        "action": "about",
        "description": "# New\n\nwords",
        "tags": "birds, may ,",
        "visibility": "public",
    }
    assert owner.post(settings, fields).status_code == 303
    seen = visit().get(birds.url)  # public now: seen signed out
    assert seen.status_code == 200 and "<h1>New</h1>" in seen.text
    assert "<li>birds</li><li>may</li>" in seen.text.replace("\n", "")
    assert "Settings</a>" not in seen.text  # no settings for a reader
    assert visit(bob).get(settings).status_code == 403  # bob may read it, not change it

    renamed = owner.post(
        settings, {"csrf": owner.csrf(settings), "action": "rename", "name": birds.name + "-2"}
    )
    assert renamed.headers["location"] == f"/ui/{birds.owner}/{birds.name}-2/-/settings"
    wrong = owner.post(
        renamed.headers["location"], {"csrf": owner.csrf(), "action": "delete", "confirm": "x"}
    )
    assert wrong.status_code == 400
    gone = owner.post(
        renamed.headers["location"],
        {"csrf": owner.csrf(), "action": "delete", "confirm": birds.name + "-2"},
    )
    assert gone.status_code == 303
    assert owner.get(f"/ui/{birds.owner}/{birds.name}-2").status_code == 404


def test_long_files_are_not_compared_line_by_line(visit: Visit, birds: Birds, alice: User) -> None:
    dataset = f"{birds.owner}/{birds.name}"
    lines = LINE_DIFF_LINES + 1
    put(alice, dataset, "long.txt", "".join(f"line {n}\n" for n in range(lines)).encode())
    put(alice, dataset, "long.txt", "".join(f"line {n + 1}\n" for n in range(lines)).encode())
    page = visit(alice).get(birds.url + "/-/diff").text
    assert "long.txt" in page and "Changed lines of long.txt" not in page


def test_the_sign_in_forms_cookie_is_secure_over_https(visit: Visit) -> None:
    plain = visit().get("/ui/-/signin").headers["set-cookie"].lower()
    assert "dataloft_signin_csrf=" in plain and "secure" not in plain
    proxied = visit().get("/ui/-/signin", headers={"X-Forwarded-Proto": "https"})
    assert "; secure" in proxied.headers["set-cookie"].lower()


def test_markdown_payloads_render_inert(visit: Visit, birds: Birds, alice: User) -> None:
    readme = (
        b"# Notes\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
        b"[click](javascript:alert(3)) [data](data:text/html;base64,PHNjcmlwdD4=) "
        b"![pic](javascript:alert(4)) <javascript:alert(5)> [ok](https://example.org/)\n\n"
        b'<a href="javascript:alert(6)">raw</a>\n'
    )
    put(alice, f"{birds.owner}/{birds.name}", "README.md", readme)
    visitor = visit(alice)
    for rendered in (
        visitor.get(birds.url).text,
        visitor.get(f"{birds.url}/-/blob/README.md").text,
    ):
        assert "<script>alert" not in rendered and "<img src=x" not in rendered
        assert 'href="javascript:' not in rendered and 'src="javascript:' not in rendered
        assert 'href="data:text' not in rendered  # (the page's own icon is "data:,")
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered  # shown, as text
        assert '<a href="https://example.org/" rel="nofollow noopener">ok</a>' in rendered
