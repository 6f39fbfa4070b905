"""``PUT /api/v1/upload/{filename}`` as ``PbenchServerClient.upload`` sends it and Pbench's
functional tests (``TestPut``) check it: the 201 body and its notes, the ``Location``,
the 200 for a tarball already here, the refusals in Pbench Server's order and words, the
``metadata`` parameter, a tarball without ``metadata.log``, and hostile tarballs refused
with nothing left behind (reference ``pbench.md`` §3.8, §4)."""

from __future__ import annotations

import contextlib
import lzma
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.dialects.pbench.conftest import Pbench
from tests.dialects.pbench.tarballs import (
    md5_hex,
    metadata_log,
    metalog_of,
    pbench_tarball,
    plain_tarball,
    tarball_of,
    upload,
    xz_bomb,
)
from tests.support import unique

RETENTION_DAYS = 730  # Pbench's default-dataset-retention-days, and its clients' check


@pytest.fixture(scope="module")
def username() -> str:
    return unique("up")


@pytest.fixture(scope="module")
def tester(pbench: Pbench, username: str) -> Iterator[httpx.Client]:
    with pbench.user(username) as client:
        yield client


def run_name(benchmark: str = "fio") -> str:
    """A name like the agent's, different in every test."""
    return f"{unique(benchmark + '_rw_')}_2018.02.01T22.40.57"


def expiration(answer: httpx.Response) -> str:
    """The expiration note's date: the day the answer was given, plus the retention."""
    day = parsedate_to_datetime(answer.headers["date"]).astimezone(UTC)
    return f"{day + timedelta(days=RETENTION_DAYS):%Y-%m-%d}"


def created(answer: httpx.Response, name: str, md5: str, *notes: str) -> dict[str, Any]:
    return {
        "message": "File successfully uploaded",
        "name": name,
        "resource_id": md5,
        "notes": list(notes),
    }


def inventory(pbench: Pbench, md5: str) -> str:
    return f"{pbench.url}/api/v1/datasets/{md5}/inventory/"


def metadata(client: httpx.Client, md5: str, *keys: str) -> dict[str, Any]:
    answer = client.get(f"/datasets/{md5}/metadata", params={"metadata": list(keys)})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def listed(client: httpx.Client, name: str) -> list[str]:
    """The resource ids of the caller's datasets named ``name``."""
    answer = client.get("/datasets", params={"name": name, "mine": "true"})
    assert answer.status_code == 200, answer.text
    return [result["resource_id"] for result in answer.json()["results"]]


def test_a_pbench_tarball_is_created_with_pbench_notes_and_its_inventory_location(
    pbench: Pbench, tester: httpx.Client, username: str
) -> None:
    name = run_name("uperf")
    text = metadata_log(name, script="uperf", controller="ctl.example.com")
    data = pbench_tarball(name, metalog=text)
    md5 = md5_hex(data)
    answer = upload(tester, data, f"{name}.tar.xz")
    assert answer.status_code == 201, answer.text
    assert answer.json() == created(
        answer,
        name,
        md5,
        "Identified benchmark workload 'uperf'.",
        f"Expected expiration date is {expiration(answer)}.",
    )
    assert answer.headers["location"] == inventory(pbench, md5)
    found = metadata(
        tester,
        md5,
        "dataset.name",
        "dataset.owner",
        "dataset.access",
        "dataset.metalog",
        "server.benchmark",
        "server.tarball-path",
        "server.deletion",
        "server.archiveonly",
        "server.origin",
        "dataset.operations",
    )
    assert found["dataset.metalog"] == metalog_of(text)
    assert found["dataset.metalog"]["run"]["controller"] == "ctl.example.com"
    assert (found["dataset.name"], found["dataset.owner"]) == (name, username)
    assert found["dataset.access"] == "private"  # Pbench's default
    assert found["server.benchmark"] == "uperf"
    assert found["server.tarball-path"].endswith(f"/{md5}/{name}.tar.xz")
    assert found["server.deletion"] == expiration(answer)
    # Absent unless set, as in Pbench.
    assert (found["server.archiveonly"], found["server.origin"]) == (None, None)
    operations = found["dataset.operations"]
    assert operations["UPLOAD"] == {"state": "OK", "message": None}
    assert "INDEX" in operations


def test_an_archive_only_upload_says_indexing_is_disabled_and_is_not_indexed(
    pbench: Pbench, tester: httpx.Client
) -> None:
    name = run_name()
    data = pbench_tarball(name)
    md5 = md5_hex(data)
    answer = upload(tester, data, f"{name}.tar.xz", metadata=["server.archiveonly:y"])
    assert answer.status_code == 201, answer.text
    assert answer.json() == created(
        answer,
        name,
        md5,
        "Identified benchmark workload 'fio'.",
        f"Expected expiration date is {expiration(answer)}.",
        "Indexing is disabled by 'archive only' setting.",
    )
    assert answer.headers["location"] == inventory(pbench, md5)
    found = metadata(
        tester, md5, "dataset.metalog.pbench.script", "server.archiveonly", "dataset.operations"
    )
    assert found["dataset.metalog.pbench.script"] == "fio"
    assert found["server.archiveonly"] is True
    assert found["dataset.operations"]["UPLOAD"]["state"] == "OK"
    assert "INDEX" not in found["dataset.operations"]


def test_a_tarball_without_metadata_log_is_archived_with_a_fabricated_metalog(
    pbench: Pbench,
) -> None:
    name = unique("nometadata")
    data = plain_tarball(name)
    md5 = md5_hex(data)
    with pbench.user() as someone:
        answer = upload(someone, data, f"{name}.tar.xz", access="public")
        assert answer.status_code == 201, answer.text
        assert answer.json() == created(
            answer,
            name,
            md5,
            f"Results archive is missing '{name}/metadata.log'.",
            "Identified benchmark workload 'unknown'.",
            f"Expected expiration date is {expiration(answer)}.",
            "Indexing is disabled by 'archive only' setting.",
        )
        assert answer.headers["location"] == inventory(pbench, md5)
    with pbench.anonymous() as anonymous:  # public: anyone reads it
        found = metadata(
            anonymous,
            md5,
            "dataset.metalog",
            "server.benchmark",
            "server.archiveonly",
            "dataset.operations",
            "dataset.access",
        )
    assert found["dataset.metalog"] == {"pbench": {"name": name, "script": "unknown"}}
    assert found["server.benchmark"] == "unknown"
    assert found["server.archiveonly"] is True
    assert found["dataset.access"] == "public"
    assert found["dataset.operations"]["UPLOAD"]["state"] == "OK"
    assert "INDEX" not in found["dataset.operations"]


def test_the_upload_metadata_parameter_is_stored_in_its_namespaces(
    pbench: Pbench, tester: httpx.Client
) -> None:
    name = run_name()
    data = pbench_tarball(name)
    md5 = md5_hex(data)
    soon = datetime.now(UTC) + timedelta(days=10)
    answer = upload(
        tester,
        data,
        f"{name}.tar.xz",
        access="public",
        metadata=[
            "server.origin:test,user.pbench.access:public,server.archiveonly:n:bool",
            f"server.deletion:'{soon:%Y-%m-%d %H:%M%z}'",
            "global.dashboard.seen:true:bool,global.run:'{\"a\": [1, 2]}':json",
            "global.count:3:int,global.ratio:0.5:float",
        ],
    )
    assert answer.status_code == 201, answer.text
    # The note gives the default retention whatever the client set, as Pbench's does.
    assert answer.json()["notes"] == [
        "Identified benchmark workload 'fio'.",
        f"Expected expiration date is {expiration(answer)}.",
    ]
    keys = (
        "server.origin",
        "server.archiveonly",
        "server.deletion",
        "global",
        "user.pbench.access",
        "user",
        "dataset.access",
        "dataset.operations",
    )
    found = metadata(tester, md5, *keys)
    assert found["server.origin"] == "test"
    assert found["server.archiveonly"] is False
    # Stored as the day after the moment given (Pbench's rule).
    assert found["server.deletion"] == f"{soon + timedelta(days=1):%Y-%m-%d}"
    assert found["global"] == {
        "dashboard": {"seen": True},
        "run": {"a": [1, 2]},
        "count": 3,
        "ratio": 0.5,
    }
    assert found["user.pbench.access"] == "public"
    assert found["user"] == {"pbench": {"access": "public"}}
    assert found["dataset.access"] == "public"
    assert "INDEX" in found["dataset.operations"]  # archiveonly false: indexed
    # user.* is the uploader's own: another user, and an anonymous one, see null.
    with pbench.user() as other:
        theirs = metadata(other, md5, "user.pbench.access", "server.origin")
    assert theirs == {"user.pbench.access": None, "server.origin": "test"}
    with pbench.anonymous() as anonymous:
        assert metadata(anonymous, md5, "user", "global.count") == {
            "user": None,
            "global.count": 3,
        }


def test_a_name_with_colons_commas_and_equals_is_kept_as_given(
    pbench: Pbench, tester: httpx.Client
) -> None:
    name = unique("uperf_rhel8_1024B:tcp=stream,4_") + "_2023.03.23T20:26:03"
    data = pbench_tarball(name, script="uperf")
    md5 = md5_hex(data)
    answer = upload(tester, data, quote(f"{name}.tar.xz", safe=""))
    assert answer.status_code == 201, answer.text
    assert answer.json()["name"] == name
    assert answer.headers["location"] == inventory(pbench, md5)
    found = metadata(tester, md5, "dataset.name", "server.tarball-path")
    assert found["dataset.name"] == name
    assert found["server.tarball-path"].endswith(f"/{md5}/{name}.tar.xz")
    assert listed(tester, name) == [md5]


def test_the_same_tarball_again_is_200_already_exists_whoever_sends_it(
    pbench: Pbench, tester: httpx.Client
) -> None:
    name = run_name()
    data = pbench_tarball(name)
    md5 = md5_hex(data)
    assert upload(tester, data, f"{name}.tar.xz").status_code == 201
    exists = {"message": "Dataset already exists", "name": name, "resource_id": md5}
    again = upload(tester, data, f"{name}.tar.xz")
    assert (again.status_code, again.json()) == (200, exists)
    assert again.headers["location"] == inventory(pbench, md5)
    with pbench.user() as other:
        theirs = upload(other, data, f"{name}.tar.xz", access="public")
        assert (theirs.status_code, theirs.json()) == (200, exists)
        assert theirs.headers["location"] == inventory(pbench, md5)
        assert listed(other, name) == []  # still the first sender's, and private
    # As Pbench Server answers: the name of the file just sent.
    renamed = upload(tester, data, "another_name.tar.xz")
    assert (renamed.status_code, renamed.json()["name"]) == (200, "another_name")
    assert listed(tester, name) == [md5]


def test_the_same_name_with_another_md5_is_a_second_dataset(tester: httpx.Client) -> None:
    name = run_name()
    first = pbench_tarball(name)
    second = pbench_tarball(name, extra={"second.txt": b"another run, same second\n"})
    for data in (first, second):
        answer = upload(tester, data, f"{name}.tar.xz")
        assert answer.status_code == 201, answer.text
        assert answer.json()["name"] == name
    assert listed(tester, name) == sorted([md5_hex(first), md5_hex(second)])


def test_a_wrong_md5_is_refused_naming_both_and_nothing_is_kept(
    pbench: Pbench, tester: httpx.Client
) -> None:
    name = run_name()
    data = pbench_tarball(name)
    md5 = md5_hex(data)
    for claimed in (md5_hex(b"other bytes"), "this isn't the md5 you're looking for"):
        answer = upload(tester, data, f"{name}.tar.xz", md5=claimed)
        assert answer.status_code == 400
        assert answer.json() == {"message": f"MD5 checksum {md5} does not match expected {claimed}"}
        assert tester.get(f"/datasets/{claimed}/metadata").status_code == 404
    assert listed(tester, name) == []
    assert upload(tester, data, f"{name}.tar.xz").status_code == 201


def test_content_md5_must_be_given_and_not_empty(tester: httpx.Client) -> None:
    name = run_name()
    data = pbench_tarball(name)
    missing = tester.put(f"/upload/{name}.tar.xz", content=data)
    assert (missing.status_code, missing.json()) == (
        400,
        {"message": "Missing required 'Content-MD5' header"},
    )
    empty = upload(tester, data, f"{name}.tar.xz", md5="")
    assert (empty.status_code, empty.json()) == (
        400,
        {"message": "Missing required 'Content-MD5' header value"},
    )
    assert listed(tester, name) == []


def test_the_file_name_must_be_a_tar_xz_without_a_path(tester: httpx.Client) -> None:
    data = pbench_tarball(run_name())
    for filename in ("notme", "run.tar.gz", "run.tar.xz.md5"):
        answer = upload(tester, data, filename)
        assert (answer.status_code, answer.json()) == (
            400,
            {"message": "File extension not supported, must be .tar.xz"},
        )
    # A path (a backslash survives the URL; an encoded '/' is a path to the router).
    with_path = upload(tester, data, "dir%5Crun.tar.xz")
    assert (with_path.status_code, with_path.json()) == (
        400,
        {"message": "Filename must not contain a path"},
    )
    assert upload(tester, data, "dir%2Frun.tar.xz").status_code == 404  # as Flask routes it


def test_an_anonymous_upload_is_401_verifying_user_id_failed(pbench: Pbench) -> None:
    data = pbench_tarball(run_name())
    with pbench.anonymous() as anonymous:
        answer = upload(anonymous, data, "run.tar.xz")
        assert (answer.status_code, answer.json()) == (
            401,
            {"message": "Verifying user_id failed"},
        )
        # A token that will not do is no token.
        anonymous.headers["Authorization"] = "Bearer not-a-key"
        assert upload(anonymous, data, "run.tar.xz").status_code == 401


def test_the_query_names_only_access_and_metadata(tester: httpx.Client) -> None:
    name = run_name()
    data = pbench_tarball(name)
    headers = {"Content-MD5": md5_hex(data)}
    unknown = tester.put(
        f"/upload/{name}.tar.xz", content=data, headers=headers, params={"b": "1", "a": "2"}
    )
    assert (unknown.status_code, unknown.json()) == (
        400,
        {"message": "Unknown URL query keys: a,b"},
    )
    bad_access = upload(tester, data, f"{name}.tar.xz", access="friends")
    assert (bad_access.status_code, bad_access.json()) == (
        400,
        {
            "message": "Unrecognized access keyword ['friends'] for parameter access; "
            "allowed keywords are ['private', 'public']"
        },
    )
    # The access keyword is not case sensitive.
    upper = upload(tester, data, f"{name}.tar.xz", access="PUBLIC")
    assert upper.status_code == 201, upper.text
    assert metadata(tester, md5_hex(data), "dataset.access") == {"dataset.access": "public"}


def test_metadata_errors_are_reported_together_and_nothing_is_kept(tester: httpx.Client) -> None:
    name = run_name()
    data = pbench_tarball(name)
    answer = upload(
        tester,
        data,
        f"{name}.tar.xz",
        metadata=[
            "server.archiveonly:abc:bool,dataset.access:x",
            "server.archiveonly:abc,server.origin:1:int",
            "global.n:x:int,global.j:'{bad':json,global.t:v:colour",
            "global.k,global.e:",
        ],
    )
    assert answer.status_code == 400
    assert answer.json() == {
        "message": "at least one specified metadata key is invalid",
        "errors": [
            "Value 'abc' (str) cannot be parsed as a boolean",
            "Metadata key 'dataset.access' is not supported",
            "Metadata key 'server.archiveonly' value 'abc' for dataset must be a boolean",
            "Metadata key 'server.origin' value 1 for dataset must be a string",
            "Value 'x' (str) cannot be parsed as a int",
            "Value '{bad' (str) cannot be parsed as a JSON string",
            "The metadata type 'colour' must be one of bool,float,int,json,str",
            "Missing ':' terminator after 'global.k'",
            "Metadata 'global.e:' must have the form 'k:v[:type]'",
        ],
    }
    # A quote left open stops the parse: one plain message.
    unterminated = upload(tester, data, f"{name}.tar.xz", metadata=["global.x:'open"])
    assert (unterminated.status_code, unterminated.json()) == (
        400,
        {"message": 'Unterminated quote at "global.x:[\']open"'},
    )
    assert listed(tester, name) == []


def test_a_deletion_date_beyond_the_lifetime_is_refused(tester: httpx.Client) -> None:
    name = run_name()
    data = pbench_tarball(name)
    too_late = "2199-01-01"
    answer = upload(tester, data, f"{name}.tar.xz", metadata=[f"server.deletion:{too_late}"])
    assert answer.status_code == 400
    body = answer.json()
    assert body["message"] == "at least one specified metadata key is invalid"
    (error,) = body["errors"]
    # The server's dataset-lifetime (3650 days by default) from now.
    assert re.fullmatch(
        r"Metadata key 'server.deletion' value '2199-01-01' for dataset must be a "
        r"date/time before \d{4}-\d{2}-\d{2}",
        error,
    ), error
    bad_date = upload(tester, data, f"{name}.tar.xz", metadata=["server.deletion:someday"])
    assert bad_date.json()["errors"] == [
        "Metadata key 'server.deletion' value 'someday' for dataset must be a date/time"
    ]
    assert listed(tester, name) == []


# --- hostile tarballs: a clear 4xx, and nothing half-stored -----------------------------------


def refused_and_gone(
    pbench: Pbench, client: httpx.Client, username: str, data: bytes, name: str, status: int = 400
) -> str:
    """Upload ``data`` as ``<name>.tar.xz``: it must be refused with ``status``, twice alike
    (the first refusal left no dataset for the second to find), with nothing to list or
    read, through Pbench or the native API. Returns the refusal's message."""
    md5 = md5_hex(data)
    answer = upload(client, data, f"{name}.tar.xz")
    assert answer.status_code == status, answer.text
    message: str = answer.json()["message"]
    again = upload(client, data, f"{name}.tar.xz")
    assert (again.status_code, again.json()) == (answer.status_code, answer.json())
    assert listed(client, name) == []
    gone = client.get(f"/datasets/{md5}/metadata")
    assert (gone.status_code, gone.json()) == (404, {"message": f"Dataset '{md5}' not found"})
    native = httpx.get(
        f"{pbench.url}/loft/v1/datasets/{username}/{name}", headers=pbench.native_admin()
    )
    assert native.status_code == 404, native.text
    return message


@pytest.mark.parametrize(
    ("members", "status", "expected"),
    [
        pytest.param(
            {"../x": b"climbs out\n"},
            400,
            "tar member '../x' is refused: path '../x' has an empty, '.' or '..' segment",
            id="dot-dot",
        ),
        pytest.param(
            {"{name}/../../x": b"climbs out\n"},
            400,
            "tar member '{name}/../../x' is refused: "
            "path '{name}/../../x' has an empty, '.' or '..' segment",
            id="dot-dot-inside",
        ),
        pytest.param(
            {"/etc/cron.d/x": b"* * * * * root true\n"},
            400,
            "tar member '/etc/cron.d/x' is refused: its name is absolute",
            id="absolute",
        ),
    ],
)
def test_a_member_named_out_of_the_archive_is_refused(
    pbench: Pbench,
    tester: httpx.Client,
    username: str,
    members: dict[str, bytes],
    status: int,
    expected: str,
) -> None:
    name = run_name()
    files = {f"{name}/metadata.log": metadata_log(name).encode()}
    files |= {path.format(name=name): data for path, data in members.items()}
    message = refused_and_gone(pbench, tester, username, tarball_of(files), name, status)
    assert message == expected.format(name=name)
    good = pbench_tarball(name)
    assert upload(tester, good, f"{name}.tar.xz").status_code == 201


@pytest.mark.parametrize("target", ["../../etc/passwd", "/etc/passwd", "a/../../../x"])
def test_a_symlink_out_of_the_archive_is_refused(
    pbench: Pbench, tester: httpx.Client, username: str, target: str
) -> None:
    name = run_name()
    data = tarball_of(
        {f"{name}/metadata.log": metadata_log(name).encode()},
        symlinks={f"{name}/escape": target},
    )
    message = refused_and_gone(pbench, tester, username, data, name)
    assert message == f"symlink '{name}/escape' points outside the archive"
    good = pbench_tarball(name, extra={"salt": unique().encode()})
    assert upload(tester, good, f"{name}.tar.xz").status_code == 201


def test_a_body_that_is_no_tarball_is_refused(
    pbench: Pbench, tester: httpx.Client, username: str
) -> None:
    name = run_name()
    message = refused_and_gone(pbench, tester, username, b"just some text\n" * 100, name)
    assert message == (
        "the upload is not a tar archive: nor is it an xz, gzip or bzip2 compressed one"
    )
    xz_text = lzma.compress(b"just some text\n" * 100)
    message = refused_and_gone(pbench, tester, username, xz_text, name)
    assert message == (
        "the upload is not a tar archive: its xz content does not begin with a tar header"
    )


def test_a_truncated_tarball_is_refused(
    pbench: Pbench, tester: httpx.Client, username: str
) -> None:
    name = run_name()
    whole = pbench_tarball(name, extra={"big.bin": bytes(range(256)) * 4000})
    message = refused_and_gone(pbench, tester, username, whole[: len(whole) // 2], name)
    assert message.startswith("the tarball is truncated: "), message
    assert upload(tester, whole, f"{name}.tar.xz").status_code == 201


def test_an_xz_bomb_is_refused_as_too_large_early(
    pbench: Pbench, tester: httpx.Client, username: str
) -> None:
    name = "bomb"
    data = xz_bomb(name)  # 200 MiB of zeros in about 30 kB
    message = refused_and_gone(pbench, tester, username, data, name, 413)
    found = re.fullmatch(
        r"the tarball expands from (\d+) to over (\d+) bytes: past 16777216 bytes it may "
        r"expand at most 200 times",
        message,
    )
    assert found is not None, message
    # Refused as the bytes came out, long before all 200 MiB of them had.
    assert int(found[2]) < 32 * 1024 * 1024
    # The bomb's name is free for a real result.
    good = pbench_tarball(name, extra={"salt": unique().encode()})
    assert upload(tester, good, f"{name}.tar.xz").status_code == 201


def test_a_metadata_log_that_is_no_ini_file_is_refused(
    pbench: Pbench, tester: httpx.Client, username: str
) -> None:
    name = run_name()
    data = pbench_tarball(name, metalog="this is not\nan ini file\n")
    message = refused_and_gone(pbench, tester, username, data, name)
    assert message.startswith("metadata.log cannot be parsed: "), message


def test_a_body_without_a_length_is_refused(tester: httpx.Client) -> None:
    name = run_name()
    data = pbench_tarball(name)

    def chunks() -> Iterator[bytes]:
        yield data  # a generator: httpx sends it chunked, without Content-Length

    answer = tester.put(
        f"/upload/{name}.tar.xz", content=chunks(), headers={"Content-MD5": md5_hex(data)}
    )
    assert (answer.status_code, answer.json()) == (
        411,
        {"message": "Missing or invalid 'Content-Length' header"},
    )
    assert listed(tester, name) == []


def _raw_put(pbench: Pbench, token: str, filename: str, body: bytes, length: int) -> bytes:
    """A PUT whose Content-Length is not the body's length, sent on a raw socket; the
    first bytes of the answer (empty if the server answered nothing before closing)."""
    url = httpx.URL(pbench.url)
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        head = (
            f"PUT /api/v1/upload/{filename} HTTP/1.1\r\nHost: {url.host}\r\n"
            f"Authorization: Bearer {token}\r\nContent-MD5: {md5_hex(body)}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                answer += chunk
    return answer


def test_a_wrong_content_length_stores_nothing(pbench: Pbench, tester: httpx.Client) -> None:
    name = run_name()
    data = pbench_tarball(name)
    token = tester.headers["authorization"].split(" ", 1)[1]
    # Longer than the body: the body ends early, the upload is dropped.
    short = _raw_put(pbench, token, f"{name}.tar.xz", data, len(data) + 1000)
    assert not short.startswith(b"HTTP/1.1 2"), short[:200]
    # Shorter: what the length covers is the body, a truncated tarball whose MD5 is not
    # the one announced (a 400), and the bytes after it are no request, on which the HTTP
    # server drops the connection, answer or not.
    cut = _raw_put(pbench, token, f"{name}.tar.xz", data, len(data) // 2)
    assert cut == b"" or cut.startswith(b"HTTP/1.1 400"), cut[:200]
    assert listed(tester, name) == []
    assert upload(tester, data, f"{name}.tar.xz").status_code == 201


def test_knowing_an_md5_does_not_tell_whether_a_tarball_is_here(
    pbench: Pbench, tester: httpx.Client
) -> None:
    """The possession rule: "already exists" answers only the bytes themselves. Another
    body announced with the MD5 of a private dataset's tarball gets the answer it would
    get if no dataset held that MD5."""
    name = run_name()
    data = pbench_tarball(name)
    assert upload(tester, data, f"{name}.tar.xz").status_code == 201
    other_bytes = pbench_tarball(run_name())
    with pbench.user() as other:
        guess = upload(other, other_bytes, f"{name}.tar.xz", md5=md5_hex(data))
        unknown = upload(other, other_bytes, f"{name}.tar.xz", md5="0" * 32)
        assert guess.status_code == unknown.status_code == 400
        assert guess.json()["message"].startswith("MD5 checksum ")
        assert guess.json()["message"].replace(md5_hex(data), "X") == unknown.json()[
            "message"
        ].replace("0" * 32, "X")
        garbage = upload(other, b"not a tarball", f"{name}.tar.xz", md5=md5_hex(data))
        assert garbage.json() == upload(other, b"not a tarball", f"{name}.tar.xz").json()
