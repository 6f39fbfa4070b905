"""``/api/v1/datasets/{id}/contents/...`` and ``.../inventory/...`` over HTTP, against
tarballs uploaded as Pbench's agent sends them: the listing format Pbench's functional
``test_contents`` checks (and its symlink entries), files and the whole tarball as its
``test_inventory`` checks them, and what a browser may do with a member's bytes."""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.dialects.pbench.conftest import Pbench
from tests.support import unique

METADATA_LOG = b"[pbench]\nname = run\nscript = fio\n\n[run]\ncontroller = host.example\n"
RESULT_JSON = b'{"iops": 1234}\n'
NOTES = b"notes on the run\n"
PAGE = b"<html><body><script>alert(document.cookie)</script></body></html>\n"
SAMPLE = b"sample 1 result\n"
CSV = b"rate,iops\n1,2\n"
# Incompressible, so that the tarball and this member are too large to be kept inline
# in the database: both go out of the blob store.
RANDOM = os.urandom(8000)
ODD = "iter:rate=1,x"  # a directory name as Pbench's iterations have them


def build(name: str, members: dict[str, bytes | str | None]) -> bytes:
    """A ``<name>.tar.xz``: each member a file (bytes), a symlink (its target) or an empty
    directory (None), under the top directory ``<name>/``."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:xz") as tar:
        top = tarfile.TarInfo(name)
        top.type = tarfile.DIRTYPE
        top.mode = 0o755
        tar.addfile(top)
        for path, content in members.items():
            info = tarfile.TarInfo(f"{name}/{path}")
            info.mtime = 1_700_000_000
            if content is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


RUN: dict[str, bytes | str | None] = {
    "metadata.log": METADATA_LOG,
    "result.json": RESULT_JSON,
    "notes.txt": NOTES,
    "report.html": PAGE,
    "1-default/sample1/result.txt": SAMPLE,
    "1-default/sample1/random.bin": RANDOM,
    f"1-default/{ODD}/data.csv": CSV,
    "1-default/up": "../notes.txt",
    "empty": None,
    "latest": "1-default",
    "reference.json": "result.json",
    "dangling": "missing.txt",
    "chain": "latest/sample1/result.txt",
}


@dataclass
class Uploaded:
    resource_id: str
    name: str
    tarball: bytes
    owner: httpx.Client

    def base(self, pbench: Pbench) -> str:
        return f"{pbench.url}/api/v1/datasets/{self.resource_id}"


def upload(client: httpx.Client, members: dict[str, bytes | str | None], access: str) -> Uploaded:
    name = unique("pbench-fio_config_2023.06.29T00.14.50-")
    data = build(name, members)
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    answer = client.put(
        f"/upload/{name}.tar.xz",
        content=data,
        params={"access": access},
        headers={"Content-MD5": md5, "Content-Type": "application/octet-stream"},
    )
    assert answer.status_code == 201, answer.text
    return Uploaded(answer.json()["resource_id"], name, data, client)


@pytest.fixture(scope="module")
def owner(pbench: Pbench) -> Iterator[httpx.Client]:
    with pbench.user() as client:
        yield client


@pytest.fixture(scope="module")
def run(owner: httpx.Client) -> Uploaded:
    return upload(owner, RUN, "public")


def _file(base: str, path: str, content: bytes) -> dict[str, object]:
    name = path.rpartition("/")[2]
    return {"name": name, "type": "FILE", "size": len(content), "uri": f"{base}/inventory/{path}"}


def test_the_top_directory_is_listed_in_pbench_s_format(pbench: Pbench, run: Uploaded) -> None:
    base = run.base(pbench)
    answer = run.owner.get(f"/datasets/{run.resource_id}/contents/")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "name": "",
        "type": "DIRECTORY",
        "uri": str(answer.url),
        "directories": [
            {"name": "1-default", "type": "DIRECTORY", "uri": f"{base}/contents/1-default"},
            {"name": "empty", "type": "DIRECTORY", "uri": f"{base}/contents/empty"},
            {
                "name": "latest",
                "type": "SYMLINK",
                "link": "1-default",
                "link_type": "DIRECTORY",
                "uri": f"{base}/contents/1-default",
            },
        ],
        "files": [
            {
                "name": "chain",
                "type": "SYMLINK",
                "link": "1-default/sample1/result.txt",
                "link_type": "FILE",
                "uri": f"{base}/inventory/1-default/sample1/result.txt",
            },
            {
                "name": "dangling",
                "type": "SYMLINK",
                "link": "missing.txt",
                "link_type": "BROKEN",
                "uri": f"{base}/inventory/dangling",
            },
            {
                "name": "metadata.log",
                "type": "FILE",
                "size": len(METADATA_LOG),
                "uri": f"{base}/inventory/metadata.log",
            },
            {
                "name": "notes.txt",
                "type": "FILE",
                "size": len(NOTES),
                "uri": f"{base}/inventory/notes.txt",
            },
            {
                "name": "reference.json",
                "type": "SYMLINK",
                "link": "result.json",
                "link_type": "FILE",
                "uri": f"{base}/inventory/result.json",
            },
            {
                "name": "report.html",
                "type": "FILE",
                "size": len(PAGE),
                "uri": f"{base}/inventory/report.html",
            },
            {
                "name": "result.json",
                "type": "FILE",
                "size": len(RESULT_JSON),
                "uri": f"{base}/inventory/result.json",
            },
        ],
    }


def test_the_top_directory_answers_without_a_trailing_slash_and_to_anyone(
    pbench: Pbench, run: Uploaded
) -> None:
    with pbench.anonymous() as anonymous:
        bare = anonymous.get(f"/datasets/{run.resource_id}/contents")
    assert bare.status_code == 200, bare.text
    assert bare.json()["uri"] == f"{run.base(pbench)}/contents/"
    assert [f["name"] for f in bare.json()["files"]][2] == "metadata.log"


def test_a_subdirectory_lists_with_raw_character_uris(pbench: Pbench, run: Uploaded) -> None:
    base = run.base(pbench)
    for asked in ("1-default", "1-default/"):
        answer = run.owner.get(f"/datasets/{run.resource_id}/contents/{asked}")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {
            "name": "1-default",
            "type": "DIRECTORY",
            "uri": f"{base}/contents/1-default",
            "directories": [
                {"name": ODD, "type": "DIRECTORY", "uri": f"{base}/contents/1-default/{ODD}"},
                {
                    "name": "sample1",
                    "type": "DIRECTORY",
                    "uri": f"{base}/contents/1-default/sample1",
                },
            ],
            "files": [
                {
                    "name": "up",
                    "type": "SYMLINK",
                    "link": "notes.txt",
                    "link_type": "FILE",
                    "uri": f"{base}/inventory/notes.txt",
                }
            ],
        }
    odd = run.owner.get(f"/datasets/{run.resource_id}/contents/1-default/{ODD}").json()
    assert odd["name"] == ODD and odd["uri"] == f"{base}/contents/1-default/{ODD}"
    assert odd["files"] == [
        {
            "name": "data.csv",
            "type": "FILE",
            "size": len(CSV),
            "uri": f"{base}/inventory/1-default/{ODD}/data.csv",
        }
    ]


def test_an_empty_directory_and_one_reached_through_a_link(pbench: Pbench, run: Uploaded) -> None:
    base = run.base(pbench)
    empty = run.owner.get(f"/datasets/{run.resource_id}/contents/empty").json()
    assert empty == {
        "name": "empty",
        "type": "DIRECTORY",
        "uri": f"{base}/contents/empty",
        "directories": [],
        "files": [],
    }
    through = run.owner.get(f"/datasets/{run.resource_id}/contents/latest/sample1").json()
    assert through["uri"] == f"{base}/contents/latest/sample1"
    assert [(f["name"], f["size"]) for f in through["files"]] == [
        ("random.bin", len(RANDOM)),
        ("result.txt", len(SAMPLE)),
    ]
    assert through["files"][1]["uri"] == f"{base}/inventory/latest/sample1/result.txt"
    via = run.owner.get(f"/datasets/{run.resource_id}/contents/latest").json()
    assert via["type"] == "SYMLINK"  # a link asked for alone is the link, not its folder
    up = run.owner.get(f"/datasets/{run.resource_id}/contents/latest/up").json()
    assert (up["link"], up["link_type"]) == ("notes.txt", "FILE")


def test_a_file_or_a_link_asked_for_alone(pbench: Pbench, run: Uploaded) -> None:
    base = run.base(pbench)

    def alone(path: str) -> object:
        answer = run.owner.get(f"/datasets/{run.resource_id}/contents/{path}")
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert alone("metadata.log") == {
        "name": "metadata.log",
        "type": "FILE",
        "size": len(METADATA_LOG),
        "uri": f"{base}/inventory/metadata.log",
    }
    assert alone("1-default/sample1/result.txt") == {
        "name": "result.txt",
        "type": "FILE",
        "size": len(SAMPLE),
        "uri": f"{base}/inventory/1-default/sample1/result.txt",
    }
    assert alone("reference.json") == {
        "name": "reference.json",
        "type": "SYMLINK",
        "link": "result.json",
        "link_type": "FILE",
        "size": len(RESULT_JSON),
        "uri": f"{base}/inventory/result.json",
    }
    assert alone("latest") == {
        "name": "latest",
        "type": "SYMLINK",
        "link": "1-default",
        "link_type": "DIRECTORY",
        "uri": f"{base}/contents/1-default",
    }
    assert alone("dangling") == {
        "name": "dangling",
        "type": "SYMLINK",
        "link": "missing.txt",
        "link_type": "BROKEN",
        "uri": f"{base}/inventory/dangling",
    }


@pytest.mark.parametrize(
    ("path", "sent"),
    [
        ("nope", "nope"),
        ("1-default/nope", "1-default/nope"),
        ("metadata.log/x", "metadata.log/x"),
        ("dangling/x", "dangling/x"),
        ("empty/.dataloft-folder", "empty/.dataloft-folder"),
        # Escaped, or the client would take the dots out itself.
        ("1-default/../../metadata.log", "1-default/%2E%2E/%2E%2E/metadata.log"),
        ("a\x00b", "a%00b"),
    ],
)
def test_a_path_the_tarball_does_not_hold_is_a_404(run: Uploaded, path: str, sent: str) -> None:
    for api in ("contents", "inventory"):
        answer = run.owner.get(f"/datasets/{run.resource_id}/{api}/{sent}")
        assert answer.status_code == 404, (api, path, answer.text)
        assert answer.json() == {"message": f"Unable to extract {path} from {run.name}.tar.xz"}


def test_an_unknown_dataset_is_a_404(owner: httpx.Client) -> None:
    for api in ("contents/", "inventory/", "inventory/metadata.log"):
        answer = owner.get(f"/datasets/{'0' * 32}/{api}")
        assert answer.status_code == 404
        assert answer.json() == {"message": f"Dataset '{'0' * 32}' not found"}


def test_a_private_dataset_is_refused_in_pbench_s_words(pbench: Pbench) -> None:
    name = unique("pb")
    with pbench.user(name) as mine:
        private = upload(mine, {"metadata.log": METADATA_LOG}, "private")
        assert mine.get(f"/datasets/{private.resource_id}/contents/").status_code == 200
        assert mine.get(f"/datasets/{private.resource_id}/inventory").content == private.tarball
    what = f"READ a resource owned by {name} with private access"
    paths = ("contents/", "contents/metadata.log", "inventory/metadata.log", "inventory")
    with pbench.anonymous() as anonymous:
        for path in paths:
            answer = anonymous.get(f"/datasets/{private.resource_id}/{path}")
            assert answer.status_code == 401, answer.text
            assert answer.json() == {
                "message": f"Unauthenticated client is not authorized to {what}"
            }
    with pbench.user() as other:
        for path in paths:
            answer = other.get(f"/datasets/{private.resource_id}/{path}")
            assert answer.status_code == 403, answer.text
            assert answer.json()["message"].endswith(f"is not authorized to {what}")


def test_a_member_file_is_sent_inline_typed_from_its_name(run: Uploaded) -> None:
    """What Pbench's ``test_inventory`` checks of ``metadata.log``, and Werkzeug's types
    for the other suffixes."""
    expected = [
        ("metadata.log", METADATA_LOG, "application/octet-stream"),
        ("result.json", RESULT_JSON, "application/json"),
        ("notes.txt", NOTES, "text/plain"),
        (f"1-default/{ODD}/data.csv", CSV, "text/csv"),
        ("1-default/sample1/random.bin", RANDOM, "application/octet-stream"),
    ]
    for path, content, media_type in expected:
        answer = run.owner.get(f"/datasets/{run.resource_id}/inventory/{path}")
        assert answer.status_code == 200, answer.text
        assert answer.content == content
        assert answer.headers["content-type"] == media_type
        name = path.rpartition("/")[2]
        assert answer.headers["content-disposition"] == f"inline; filename={name}"
        assert answer.headers["content-security-policy"] == "sandbox"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["etag"] == f'"{hashlib.sha256(content).hexdigest()}"'


def test_an_html_member_never_renders_as_a_page_of_this_origin(run: Uploaded) -> None:
    answer = run.owner.get(f"/datasets/{run.resource_id}/inventory/report.html")
    assert answer.status_code == 200 and answer.content == PAGE
    assert answer.headers["content-type"] == "text/html"
    assert answer.headers["content-security-policy"] == "sandbox"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-disposition"].startswith("attachment;")
    assert "report.html" in answer.headers["content-disposition"]


def test_links_are_followed_to_the_file_and_named_as_asked(run: Uploaded) -> None:
    for path, content in [
        ("reference.json", RESULT_JSON),
        ("chain", SAMPLE),
        ("1-default/up", NOTES),
        ("latest/sample1/result.txt", SAMPLE),
        ("latest/up", NOTES),
    ]:
        answer = run.owner.get(f"/datasets/{run.resource_id}/inventory/{path}")
        assert answer.status_code == 200, (path, answer.text)
        assert answer.content == content
        name = path.rpartition("/")[2]
        assert answer.headers["content-disposition"] == f"inline; filename={name}"


def test_a_link_that_leads_nowhere_is_not_a_regular_file(run: Uploaded) -> None:
    answer = run.owner.get(f"/datasets/{run.resource_id}/inventory/dangling")
    assert answer.status_code == 400
    assert answer.json() == {"message": "The specified path does not refer to a regular file"}


def test_a_directory_is_a_redirect_to_its_contents(pbench: Pbench, run: Uploaded) -> None:
    base = run.base(pbench)
    for path in ("1-default", "latest", f"1-default/{ODD}", "empty"):
        answer = run.owner.get(f"/datasets/{run.resource_id}/inventory/{path}")
        assert answer.status_code == 301, (path, answer.text)
        assert answer.headers["location"] == f"{base}/contents/{path}"
    followed = run.owner.get(
        f"/datasets/{run.resource_id}/inventory/1-default", follow_redirects=True
    )
    assert followed.status_code == 200 and followed.json()["name"] == "1-default"


@pytest.mark.parametrize("path", ["inventory", "inventory/"])
def test_the_whole_tarball_is_sent_as_it_was_uploaded(run: Uploaded, path: str) -> None:
    answer = run.owner.get(f"/datasets/{run.resource_id}/{path}")
    assert answer.status_code == 200, answer.text
    assert answer.content == run.tarball
    assert answer.headers["content-type"] == "application/octet-stream"
    # The name holds no character Werkzeug would quote; one with ':' is quoted.
    assert answer.headers["content-disposition"] == f"attachment; filename={run.name}.tar.xz"
    assert answer.headers["etag"] == f'"{hashlib.sha256(run.tarball).hexdigest()}"'


def test_ranges_etags_and_head_on_inventory(run: Uploaded) -> None:
    member = f"/datasets/{run.resource_id}/inventory/1-default/sample1/random.bin"
    part = run.owner.get(member, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == RANDOM[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(RANDOM)}"
    small = f"/datasets/{run.resource_id}/inventory/metadata.log"
    tail = run.owner.get(small, headers={"Range": "bytes=-6"})
    assert (tail.status_code, tail.content) == (206, METADATA_LOG[-6:])
    whole = f"/datasets/{run.resource_id}/inventory"
    start = run.owner.get(whole, headers={"Range": "bytes=0-5"})
    assert (start.status_code, start.content) == (206, run.tarball[:6])
    etag = run.owner.get(small).headers["etag"]
    assert run.owner.get(small, headers={"If-None-Match": etag}).status_code == 304
    head = run.owner.head(member)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(RANDOM))


def test_a_name_werkzeug_would_quote_is_quoted(owner: httpx.Client) -> None:
    odd = upload(owner, {"metadata.log": METADATA_LOG, "a b;c.txt": NOTES}, "private")
    answer = owner.get(f"/datasets/{odd.resource_id}/inventory/a b;c.txt")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-disposition"] == 'inline; filename="a b;c.txt"'
