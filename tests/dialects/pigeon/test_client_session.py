"""A whole Pigeon Optics client session, replayed over raw HTTP the way the original's
clients talk: register and log in, create a dataset, write records in bulk and one by
one, attach a video (refused, then resent as multipart with ``cid:``), read it back with
``Range``, export with ``?at=`` stubs and as a zip with attachments, while an event-stream
listener, disconnected halfway and resumed with ``Last-Event-ID``, sees every version in
order exactly once. The native API sees the same dataset, versions and blobs."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import zipfile

import httpx

from tests.dialects.pigeon.conftest import Dataset, RawClient
from tests.dialects.pigeon.test_event_stream import Event, listen
from tests.support import unique


class Listener(threading.Thread):
    """An event-stream client in the background, reading until it has seen ``until``."""

    def __init__(self, client: httpx.Client, ds: Dataset, until: int, resume: str | None) -> None:
        super().__init__(daemon=True)
        self.client, self.ds, self.until, self.resume = client, ds, until, resume
        self.events: list[Event] = []
        self.ready = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            with listen(self.client, self.ds, last_event_id=self.resume) as events:
                if self.resume is None:
                    self.events.append(events.next())  # the state when it connected
                self.ready.set()
                while not self.events or self.events[-1].data["version"] < self.until:
                    self.events.append(events.next())
        except BaseException as failure:  # reported by the test thread
            self.failure = failure
            self.ready.set()

    def finish(self) -> list[Event]:
        self.join(timeout=30)
        assert not self.is_alive(), "the listener did not see every version"
        if self.failure is not None:
            raise self.failure
        return self.events


def test_a_whole_client_session(raw: RawClient) -> None:
    name, password = unique("carol"), "password-" + unique()
    browser = raw(None)
    registered = browser.post(
        "/auth", data={"name": name, "password": password, "register": "1", "return": "/x"}
    )
    assert registered.status_code == 303
    assert registered.headers["location"] == "/x"
    assert registered.cookies  # a session for the browser

    api = raw()  # an API client: Basic on every request
    api.auth = (name, password)
    created = api.put("/datasets/create", json={"name": "signs", "memo": "Auslan signs"})
    assert created.status_code == 303
    ds = Dataset(name, "signs")
    ds_url = ds.url
    assert created.headers["location"] == ds_url + "/"

    first_half = Listener(raw(), ds, until=4, resume=None)
    first_half.start()
    assert first_half.ready.wait(10)

    # Bulk writes: a merge, then an overwrite, in two body shapes.
    merge = api.post(
        ds_url + "/records/", json={"hello": {"gloss": "HELLO"}, "bye": {"gloss": "BYE"}}
    )
    assert merge.status_code == 204, merge.text
    overwrite = api.put(
        ds_url + "/records/",
        json=[["hello", {"gloss": "HELLO"}], ["thanks", {"gloss": "THANK-YOU"}]],
    )
    assert overwrite.status_code == 204, overwrite.text
    index = api.get(ds_url + "/records/")
    assert index.headers["x-version"] == "2"
    assert set(index.json()) == {"hello", "thanks"}
    assert index.json()["hello"]["version"] == 1  # same value rewritten: unchanged

    # Single-record writes.
    assert api.put(ds_url + "/records/yes", json={"gloss": "YES"}).status_code == 204
    assert api.delete(ds_url + "/records/thanks").status_code == 204
    assert api.get(ds_url + "/records/thanks").status_code == 404
    events_before_disconnect = first_half.finish()

    # Attach a video: the server asks for it, the client resends as multipart.
    video = b"\x00\x00\x00\x18ftypmp42" + os.urandom(300_000)
    digest = hashlib.sha256(video).hexdigest()
    link = f"hash://sha256/{digest}?type=video%2Fmp4"
    refused = api.put(ds_url + "/records/hello", json={"gloss": "HELLO", "video": link})
    assert refused.status_code == 400
    assert refused.json() == {"error": "Missing Attachments", "stack": False}
    wanted = json.loads("[" + refused.headers["x-pigeon-optics-resend-with-attachments"] + "]")
    assert wanted == [link]
    body = json.dumps({"gloss": "HELLO", "video": "cid:hello.mp4"}).encode()
    resent = api.put(
        ds_url + "/records/hello",
        files=[
            ("body", ("body.json", body, "application/json")),
            ("attachment", ("hello.mp4", video, "video/mp4")),
        ],
    )
    assert resent.status_code == 204, resent.text
    assert api.get(ds_url + "/records/hello").json() == {"gloss": "HELLO", "video": link}
    reader = raw(None)
    ranged = reader.get(f"/attachments/{digest}?type=video%2Fmp4", headers={"Range": "bytes=4-11"})
    assert ranged.status_code == 206
    assert ranged.content == b"ftypmp42"
    assert ranged.headers["content-type"] == "video/mp4"

    # Exports: stubs for what the client has (it synced at version 3), and a zip.
    flat = api.get(ds_url + "/export/flat-file.json", params={"at": 4})
    entries = {entry["id"]: entry for entry in flat.json()}
    assert set(entries) == {"hello", "yes"}
    assert entries["hello"]["data"]["video"] == link
    assert "data" not in entries["yes"]
    archive = zipfile.ZipFile(
        io.BytesIO(api.get(ds_url + "/export/archive.json.zip?attachments=true").content)
    )
    assert archive.read(f"attachments/{digest}") == video
    assert json.loads(archive.read("records/hello.json"))["video"] == link

    # The listener comes back and gets what it missed, then one more live write.
    last_id = events_before_disconnect[-1].id
    second_half = Listener(raw(), ds, until=6, resume=last_id)
    second_half.start()
    assert second_half.ready.wait(10)
    assert api.put(ds_url + "/records/no", json={"gloss": "NO"}).status_code == 204
    events = events_before_disconnect + second_half.finish()
    assert [event.data["version"] for event in events] == [0, 1, 2, 3, 4, 5, 6]
    ids = [int(event.id or 0) for event in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert events[-1].data["records"] == {"hello": 5, "no": 6, "yes": 3}

    # The native API sees the same dataset, history and bytes, with the same password.
    login = raw().post("/loft/v1/auth/token", json={"username": name, "password": password})
    assert login.status_code in (200, 201), login.text
    token = login.json()["token"]
    native = raw()
    native.headers["Authorization"] = f"Bearer {token}"
    versions = native.get(f"/loft/v1{ds.native}/versions").json()["items"]
    assert [v["number"] for v in versions] == [6, 5, 4, 3, 2, 1, 0]
    hello = native.get(f"/loft/v1{ds.native}/records/hello")
    assert hello.json() == {"gloss": "HELLO", "video": link}
    assert native.head(f"/loft/v1/blobs/{digest}").status_code == 200
