"""The server's errors arrive as the classes of the exception tree, with the server's code
and message; network failures as TransportErrors."""

from __future__ import annotations

import pytest

import dataloft_client
from dataloft_client import (
    APIError,
    Client,
    Conflict,
    ConnectError,
    DataloftError,
    Forbidden,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    TransportError,
    Unauthenticated,
)
from dataloft_client._exceptions import STATUS_ERRORS
from tests.conftest import User
from tests.support import LiveServer, free_port, unique


def test_error_answers_raise_their_classes_with_the_servers_words(
    server: LiveServer, sdk: Client, repo: str, bob: User
) -> None:
    with pytest.raises(NotFound) as missing:
        sdk.get_dataset(f"{repo}-nothing")
    assert (missing.value.status, missing.value.code) == (404, "not_found")
    assert missing.value.response is not None
    assert missing.value.message == missing.value.response.json()["error"]["message"]

    sdk.update_dataset(repo, visibility="public")
    with Client(server.url, bob.token) as other, pytest.raises(Forbidden) as forbidden:
        other.put_record(repo, "r", 1)
    assert forbidden.value.code == "forbidden" and forbidden.value.message

    sdk.put_record(repo, "r", 1)
    with pytest.raises(PreconditionFailed) as stale:
        sdk.put_record(repo, "r", 2, parent=0)
    assert stale.value.message == f"dataset {repo} is at version 1, not 0"
    assert str(stale.value) == f"412 precondition_failed: dataset {repo} is at version 1, not 0"

    with pytest.raises(Conflict) as taken:
        sdk.create_dataset(repo.split("/")[1])
    assert taken.value.status == 409 and "already" in taken.value.message

    sdk.upload_file(repo, "f", b"12345")
    with pytest.raises(RangeNotSatisfiable):
        sdk.read_file(repo, "f", start=10)

    with Client(server.url, "dl_not-a-token") as stranger, pytest.raises(Unauthenticated):
        stranger.whoami()
    with Client(server.url, "") as anonymous, pytest.raises(Unauthenticated):
        anonymous.create_dataset(unique())


def test_every_mapped_class_is_an_api_error_and_the_tree_is_exported() -> None:
    for status, kind in STATUS_ERRORS.items():
        assert issubclass(kind, APIError), status
        assert kind.__name__ in dataloft_client.__all__
    assert issubclass(dataloft_client.TimeoutError, TimeoutError)
    assert issubclass(dataloft_client.TimeoutError, TransportError)
    assert issubclass(TransportError, DataloftError) and issubclass(APIError, DataloftError)


def test_a_server_that_is_not_there_is_a_connect_error_after_the_retries() -> None:
    waits: list[float] = []
    port = free_port()  # nothing listens here
    client = Client(f"http://127.0.0.1:{port}", retries=3, sleep=waits.append)
    with client, pytest.raises(ConnectError) as caught:
        client.get_dataset("a/b")
    assert f"127.0.0.1:{port}" in caught.value.message
    assert len(waits) == 3
    # Exponential with jitter: each wait within [half, all] of base * 2**attempt.
    for attempt, wait in enumerate(waits):
        assert 0.25 * 2**attempt <= wait <= 0.5 * 2**attempt
