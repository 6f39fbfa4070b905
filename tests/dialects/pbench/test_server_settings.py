"""``/api/v1/server/settings``: read by anyone, changed by admins in Pbench's three forms,
all or nothing; the server-state gate that a disabled or read-only server puts before
every API but endpoints, settings and audit."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.dialects.pbench.conftest import ADMIN_NAME, Pbench

DEFAULTS = {
    "dataset-lifetime": "3650",
    "server-banner": None,
    "server-state": {"status": "enabled"},
    "server-indexing": True,
}


@pytest.fixture
def admin(pbench: Pbench) -> Iterator[httpx.Client]:
    with pbench.user(ADMIN_NAME) as client:
        yield client
        # Back to the defaults, for the tests that follow on this server.
        reset = client.put("/server/settings", json=DEFAULTS | {"server-banner": {"message": ""}})
        assert reset.status_code == 200, reset.text


def test_anyone_reads_the_settings_with_their_defaults(pbench: Pbench) -> None:
    with pbench.anonymous() as anonymous:
        assert anonymous.get("/server/settings").json().keys() == DEFAULTS.keys()
        assert anonymous.get("/server/settings/server-state").json() == {
            "server-state": {"status": "enabled"}
        }
        unknown = anonymous.get("/server/settings/nope")
        assert unknown.status_code == 400
        assert unknown.json()["message"] == (
            "Unrecognized keyword ['nope'] for parameter key; allowed keywords are "
            "['dataset-lifetime', 'server-banner', 'server-indexing', 'server-state']"
        )


def test_admins_change_settings_in_each_of_the_three_forms(
    pbench: Pbench, admin: httpx.Client
) -> None:
    by_query = admin.put("/server/settings/dataset-lifetime", params={"value": "4 days"})
    assert (by_query.status_code, by_query.json()) == (200, {"dataset-lifetime": "4"})
    by_body = admin.put("/server/settings/server-banner", json={"value": {"message": "hi"}})
    assert by_body.json() == {"server-banner": {"message": "hi"}}
    whole = admin.put("/server/settings", json={"server-indexing": False, "dataset-lifetime": 9})
    assert whole.json() == {"server-indexing": False, "dataset-lifetime": "9"}
    with pbench.anonymous() as anonymous:
        seen = anonymous.get("/server/settings").json()
    assert seen["dataset-lifetime"] == "9" and seen["server-banner"] == {"message": "hi"}


def test_a_bad_value_changes_nothing(pbench: Pbench, admin: httpx.Client) -> None:
    refused = admin.put(
        "/server/settings", json={"server-indexing": False, "server-state": {"status": "off"}}
    )
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "Unsupported value for server setting key 'server-state' ({'status': 'off'})"
    )
    assert admin.get("/server/settings/server-indexing").json() == {"server-indexing": True}
    needs_message = admin.put(
        "/server/settings/server-state", json={"value": {"status": "disabled"}}
    )
    assert needs_message.status_code == 400
    unknown = admin.put("/server/settings", json={"colour": "blue"})
    assert unknown.status_code == 400 and "Unrecognized server settings ['colour']" in unknown.text
    twice = admin.put("/server/settings/dataset-lifetime?value=3", json={"value": 4})
    assert twice.status_code == 400 and twice.json()["message"].startswith("Redundant parameters")
    empty = admin.put("/server/settings/dataset-lifetime")
    assert empty.json()["message"] == "No value found for server settings key 'dataset-lifetime'"


def test_only_admins_change_settings(pbench: Pbench) -> None:
    with pbench.anonymous() as anonymous:
        refused = anonymous.put("/server/settings/server-indexing", json={"value": False})
        assert refused.status_code == 401
        assert refused.json()["message"] == (
            "Unauthenticated client is not authorized to UPDATE a server administrative resource"
        )
    with pbench.user() as user:
        forbidden = user.put("/server/settings/server-indexing", json={"value": False})
        assert forbidden.status_code == 403
        assert "is not authorized to UPDATE a server administrative resource" in forbidden.text


def test_a_disabled_server_answers_503_with_its_state_but_keeps_the_always_enabled_apis(
    pbench: Pbench, admin: httpx.Client
) -> None:
    state = {"status": "Disabled", "message": "down for maintenance"}
    assert admin.put("/server/settings/server-state", json={"value": state}).status_code == 200
    stored = {"status": "disabled", "message": "down for maintenance"}
    with pbench.user() as user:
        refused = user.get("/key")
        assert (refused.status_code, refused.json()) == (503, stored)
        assert user.get("/endpoints").status_code == 200
        assert user.get("/server/settings").json()["server-state"] == stored
    readonly = {"status": "readonly", "message": "reads only"}
    admin.put("/server/settings/server-state", json={"value": readonly})
    with pbench.user() as user:
        assert user.get("/key").status_code == 200
        assert user.post("/key/").status_code == 503
