"""A Pigeon Optics event stream keeps checking its caller: a session ended by logging out
elsewhere, or a password changed after a Basic login, ends an open stream with a
``close`` event instead of feeding it forever (the test settings re-check every 0.5 s)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import httpx

from tests.conftest import User
from tests.dialects.pigeon.conftest import Dataset, RawClient, basic, create_dataset, put_record
from tests.support import unique

SESSION = "dataloft_session"
NOTICE_SECONDS = 10.0


@contextlib.contextmanager
def events(client: httpx.Client, ds: Dataset, **extra: Any) -> Iterator[Iterator[str]]:
    timeout = httpx.Timeout(NOTICE_SECONDS, read=NOTICE_SECONDS)
    with client.stream("GET", f"{ds.url}/event-stream", timeout=timeout, **extra) as response:
        assert response.status_code == 200, response.read()
        yield response.iter_lines()


def next_event(lines: Iterator[str]) -> tuple[str, dict[str, Any]]:
    name, data = "message", None
    for line in lines:
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data = json.loads(line[5:])
        elif line == "" and data is not None:
            return name, data
    raise AssertionError("the stream ended")


def closed(lines: Iterator[str]) -> str:
    name, data = next_event(lines)
    assert name == "close", (name, data)
    assert list(lines) == []
    reason: str = data["reason"]
    return reason


def test_logging_out_ends_the_sessions_open_stream(raw: RawClient, alice: User) -> None:
    name, password = unique("carol"), "password-" + unique()
    login = raw().post("/auth", data={"name": name, "password": password, "register": "1"})
    assert login.status_code == 303, login.text
    cookie = login.cookies[SESSION]
    browser = raw()
    browser.headers["Cookie"] = f"{SESSION}={cookie}"
    created = browser.put("/datasets/create", json={"name": unique("ds")})
    assert created.status_code == 303, created.text
    ds = Dataset(name, created.headers["location"].split(":", 1)[1].strip("/"))
    with events(browser, ds) as lines:
        assert next_event(lines)[1]["version"] == 0
        other_tab = raw()
        other_tab.headers["Cookie"] = f"{SESSION}={cookie}"
        assert other_tab.post("/auth/logout").status_code == 303
        assert "revoked" in closed(lines)


def test_a_password_change_ends_a_basic_stream(raw: RawClient, alice: User) -> None:
    po = raw()
    ds = create_dataset(po, alice)
    with events(po, ds, auth=basic(alice)) as lines:
        assert next_event(lines)[1]["version"] == 0
        put_record(po, alice, ds, "a", 1)
        assert next_event(lines)[1]["version"] == 1
        changed = alice.client.patch(
            f"/users/{alice.username}", json={"password": "password-" + unique()}
        )
        assert changed.status_code == 200, changed.text
        assert "password" in closed(lines)


def test_making_the_dataset_private_ends_a_strangers_stream(
    raw: RawClient, alice: User, bob: User
) -> None:
    po = raw()
    ds = create_dataset(po, alice)
    with events(po, ds, auth=basic(bob)) as lines:
        assert next_event(lines)[1]["version"] == 0
        hidden = alice.client.patch(ds.native, json={"visibility": "private"})
        assert hidden.status_code == 200, hidden.text
        assert "not found" in closed(lines)
