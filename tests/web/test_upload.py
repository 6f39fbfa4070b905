"""Uploading from the web UI, on both databases: a new dataset made through its form; a
folder and a big file dropped in a real browser, the big one cut off by going offline
and resumed, all of it ONE commit; and the uploads' and the commit's rules over HTTP
(the session's token in a header, tus's own rules, whose uploads are whose)."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import httpx
from playwright.sync_api import Page, Route
from playwright.sync_api import Request as BrowserRequest

from dataloft.web.uploads import CHUNK_BYTES
from tests.conftest import User
from tests.support import unique
from tests.web.browsing import database_of, shoot, sign_in
from tests.web.conftest import Birds, Visitor

Visit = Callable[..., Visitor]
TUS = {"Tus-Resumable": "1.0.0"}
BIG = 50_000_000
OFFLINE = "Failed to load resource: net::ERR_INTERNET_DISCONNECTED"


def drop_on(page: Page, selector: str, paths: list[Path]) -> None:
    """Drop files and folders on an element as the browser's own drag and drop does (the
    DevTools protocol's drag events carry real paths, folders included)."""
    box = page.locator(selector).bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}
    session = page.context.new_cdp_session(page)
    for kind in ("dragEnter", "dragOver", "drop"):
        session.send("Input.dispatchDragEvent", {"type": kind, "x": x, "y": y, "data": data})
    session.detach()


def test_a_folder_and_a_big_file_dropped_become_one_commit(
    page: Page, alice: User, tmp_path: Path, database_url: str, problems: list[str]
) -> None:
    folder = tmp_path / "photos"
    (folder / "may").mkdir(parents=True)
    for n in range(20):
        (folder / "may" / f"bird-{n:02}.txt").write_text(f"bird {n}\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(BIG))

    sign_in(page, alice)
    page.get_by_role("link", name="New dataset").click()
    name = unique("drop")
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create dataset").click()
    page.wait_for_url(f"**/ui/{alice.username}/{name}/-/upload")

    # The big file's second chunk never arrives: the network goes away under it. (The
    # small files go whole with the requests that create their uploads: every PATCH is
    # the big file's.)
    offsets: list[int] = []

    def cut_off(route: Route, request: BrowserRequest) -> None:
        if request.method == "PATCH":
            offsets.append(int(request.headers["upload-offset"]))
            if len(offsets) == 2:
                page.context.set_offline(True)
                route.abort("internetdisconnected")
                return
        route.continue_()

    page.route("**/ui/-/uploads/*", cut_off)
    drop_on(page, "#drop", [folder, big])
    page.wait_for_selector("tr[data-state=waiting]")
    assert page.get_by_role("status").filter(has_text="20 of 21 files arrived").is_visible()
    shoot(page, "upload", database_of(database_url))

    page.context.set_offline(False)
    page.get_by_label("Message of the new version (optional)").fill("Twenty birds and a big one")
    page.get_by_role("button", name="Commit the files").click()
    page.wait_for_url(f"**/ui/{alice.username}/{name}?version=1", timeout=60_000)
    assert page.get_by_role("link", name="photos/").is_visible()
    problems.remove(OFFLINE)  # the cut-off chunk, and nothing else

    # It went on from the byte the server had: the chunk after the cut is the cut one
    # again, and then the rest, each once.
    whole = list(range(0, BIG, CHUNK_BYTES))
    assert offsets == [0, CHUNK_BYTES, *whole[1:]], offsets
    history = alice.client.get(f"/datasets/{alice.username}/{name}/versions").json()["items"]
    assert [(v["number"], v["message"], v["added"]) for v in history] == [
        (1, "Twenty birds and a big one", 21),
        (0, "created", 0),
    ]
    stored = alice.client.get(f"/datasets/{alice.username}/{name}/files/big.bin")
    assert hashlib.sha256(stored.content).digest() == hashlib.sha256(big.read_bytes()).digest()
    bird = alice.client.get(f"/datasets/{alice.username}/{name}/files/photos/may/bird-07.txt")
    assert bird.text == "bird 7\n"


def _session_token(visitor: Visitor, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', visitor.get(path).text)
    assert found is not None
    return found.group(1)


def _create(
    visitor: Visitor, token: str | None, body: bytes = b"", **headers: str
) -> httpx.Response:
    sent = {**TUS, "Upload-Length": str(len(body)), **headers}
    if body:
        sent["Content-Type"] = "application/offset+octet-stream"
    if token is not None:
        sent["X-CSRF-Token"] = token
    return visitor.client.post("/ui/-/uploads/", content=body, headers=sent)


def test_uploads_need_the_sessions_token(visit: Visit, birds: Birds, alice: User) -> None:
    visitor = visit(alice)
    token = _session_token(visitor, f"{birds.url}/-/upload")
    assert _create(visitor, None, b"abc").status_code == 403
    assert _create(visitor, "forged", b"abc").status_code == 403

    made = _create(visitor, token, b"abc")
    assert made.status_code == 201, made.text
    location = made.headers["location"]
    assert re.fullmatch(r"/ui/-/uploads/[0-9a-f]{32}", location)
    assert made.headers["loft-blob-sha256"] == hashlib.sha256(b"abc").hexdigest()
    assert visitor.client.head(location, headers=TUS).headers["upload-offset"] == "3"
    # Changing it needs the token too; reading where it stands does not.
    assert visitor.client.delete(location, headers=TUS).status_code == 403
    assert (
        visitor.client.delete(location, headers={**TUS, "X-CSRF-Token": token}).status_code == 204
    )
    assert visitor.client.head(location, headers=TUS).status_code == 404


def test_the_uploads_speak_tus(visit: Visit, birds: Birds, alice: User, bob: User) -> None:
    visitor = visit(alice)
    token = _session_token(visitor, f"{birds.url}/-/upload")
    refused = visitor.client.post(
        "/ui/-/uploads/", headers={"Upload-Length": "3", "X-CSRF-Token": token}
    )
    assert refused.status_code == 412 and refused.headers["tus-version"] == "1.0.0"
    assert "Tus-Resumable" in refused.text  # the UI's own error page says why

    started = visitor.client.post(
        "/ui/-/uploads/", headers={**TUS, "Upload-Length": "6", "X-CSRF-Token": token}
    )
    assert started.status_code == 201
    location = started.headers["location"]
    patch = {**TUS, "Content-Type": "application/offset+octet-stream", "X-CSRF-Token": token}
    wrong = visitor.client.patch(location, content=b"def", headers={**patch, "Upload-Offset": "3"})
    assert wrong.status_code == 409  # the offset is 0
    first = visitor.client.patch(location, content=b"abc", headers={**patch, "Upload-Offset": "0"})
    assert (first.status_code, first.headers["upload-offset"]) == (204, "3")

    # Someone else's upload is no one else's: bob cannot see or touch it, even with his
    # own session's token.
    other = visit(bob)
    theirs = _session_token(other, "/ui/-/tokens")
    assert other.client.head(location, headers=TUS).status_code == 404
    stolen = other.client.patch(
        location, content=b"xyz", headers={**patch, "X-CSRF-Token": theirs, "Upload-Offset": "3"}
    )
    assert stolen.status_code == 404
    assert visitor.client.head(location, headers=TUS).headers["upload-offset"] == "3"
    # No one signed out uploads (there is no session whose token to send).
    assert _create(visit(), "", b"abc").status_code == 403
    nowhere = visitor.client.patch(
        "/ui/-/uploads/not-an-upload", content=b"x", headers={**patch, "Upload-Offset": "0"}
    )
    assert nowhere.status_code == 404


def _commit(visitor: Visitor, url: str, token: str, body: object) -> httpx.Response:
    headers = {"X-CSRF-Token": token, "Content-Type": "application/json"}
    return visitor.client.post(f"{url}/-/upload", json=body, headers=headers)


def test_the_commit_names_what_was_uploaded(
    visit: Visit, birds: Birds, alice: User, bob: User
) -> None:
    visitor = visit(alice)
    token = _session_token(visitor, f"{birds.url}/-/upload")
    digest = _create(visitor, token, b"new bytes").headers["loft-blob-sha256"]
    change = {"op": "put_file", "path": "new/one.txt", "sha256": digest}
    body = {"message": "one more", "changes": [change]}

    assert visitor.client.post(f"{birds.url}/-/upload", json=body).status_code == 403
    assert _commit(visitor, birds.url, token, {"changes": "nope"}).status_code == 400
    # Bytes the caller never uploaded (and cannot read anywhere) cannot be named.
    unknown = {**change, "sha256": "0" * 64}
    never = _commit(visitor, birds.url, token, {"changes": [unknown]})
    assert never.status_code == 400, never.text

    made = _commit(visitor, birds.url, token, body)
    assert made.status_code == 201, made.text
    assert made.json() == {"version": 5, "url": f"{birds.url}?version=5"}
    assert alice.client.get(f"/datasets/{birds.owner}/{birds.name}/files/new/one.txt").text == (
        "new bytes"
    )

    # bob may not read the dataset: it does not exist for him, page and commit alike.
    other = visit(bob)
    theirs = _session_token(other, "/ui/-/tokens")
    assert other.get(f"{birds.url}/-/upload").status_code == 404
    assert _commit(other, birds.url, theirs, body).status_code == 404
    # Made public, he may read it, not write it.
    alice.client.patch(f"/datasets/{birds.owner}/{birds.name}", json={"visibility": "public"})
    assert other.get(f"{birds.url}/-/upload").status_code == 403
    assert _commit(other, birds.url, theirs, body).status_code == 403


def test_a_new_dataset_through_its_form(visit: Visit, alice: User) -> None:
    visitor = visit(alice)
    token = visitor.csrf("/ui/-/new")
    name = unique("fresh")
    assert visitor.post("/ui/-/new", {"name": name}).status_code == 403  # no token
    made = visitor.post("/ui/-/new", {"csrf": token, "name": name, "visibility": "public"})
    assert (made.status_code, made.headers["location"]) == (
        303,
        f"/ui/{alice.username}/{name}/-/upload",
    )
    assert visit().get(f"/ui/{alice.username}/{name}").status_code == 200  # public
    again = visitor.post("/ui/-/new", {"csrf": token, "name": name})
    assert again.status_code == 400 and 'role="alert"' in again.text
    bad = visitor.post("/ui/-/new", {"csrf": token, "name": "<script>x</script>"})
    assert bad.status_code == 400 and "<script>x" not in bad.text
    assert visit().get("/ui/-/new").headers["location"] == "/ui/-/signin?next=/ui/-/new"


def test_a_version_downloads_as_an_archive(visit: Visit, birds: Birds, alice: User) -> None:
    visitor = visit(alice)
    answer = visitor.get(f"{birds.url}/-/archive.zip?version=2")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        members = {n.partition("/")[2]: archive.read(n) for n in archive.namelist()}
    assert members["data/counts.csv"] == b"species,count\nrobin,3\nwren,5\n"
    assert visitor.get(f"{birds.url}/-/archive.rar").status_code == 404
    assert visit().get(f"{birds.url}/-/archive.zip").status_code == 404  # private


def test_chosen_files_one_removed_go_into_a_folder(
    page: Page, alice: User, birds: Birds, tmp_path: Path
) -> None:
    keep, drop = tmp_path / "keep.txt", tmp_path / "drop.txt"
    keep.write_text("kept\n")
    drop.write_text("dropped\n")
    sign_in(page, alice)
    page.goto(f"{birds.url}/-/tree/data")
    page.get_by_role("link", name="Upload files").click()
    assert page.get_by_label("Into the folder").input_value() == "data"  # where we came from
    page.get_by_label("Files").set_input_files([keep, drop])
    page.wait_for_selector("tr[data-state=done] >> nth=1")
    page.get_by_role("button", name="Remove drop.txt").click()
    page.get_by_label("Into the folder").fill("data/new")  # decided before the commit
    page.get_by_role("button", name="Commit the files").click()
    page.wait_for_url(f"**{birds.url}?version=5")
    dataset = f"/datasets/{birds.owner}/{birds.name}"
    assert alice.client.get(f"{dataset}/files/data/new/keep.txt").text == "kept\n"
    assert alice.client.get(f"{dataset}/files/data/new/drop.txt").status_code == 404
    assert alice.client.get(f"{dataset}/versions/5").json()["added"] == 1
