"""The Events tab over HTTP, on both databases: the page lists a dataset's events newest
first, a page at a time; its stream sends the events made after it connects and resumes
after ``Last-Event-ID``; both are "not found" to those who may not read the dataset, and
the stream ends when its reader loses the right. (In a browser: ``test_browser.py``.)"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from html import unescape

import httpx
import pytest

from dataloft.web import events
from tests.conftest import User
from tests.sse import SSEReader
from tests.web.conftest import Birds, Visitor

Visit = Callable[..., Visitor]
SEQ = re.compile(r'<li data-seq="(\d+)">')
STREAM = re.compile(r'data-stream="([^"]+)"')
OLDER = re.compile(r'<a rel="next" href="\?before=(\d+)">Older</a>')
TIMEOUT = httpx.Timeout(10, read=10)  # a stream that sends nothing fails the test, not hangs


def page_url(birds: Birds) -> str:
    return f"{birds.url}/-/events"


def stream_url(birds: Birds) -> str:
    return f"{birds.url}/-/events/stream"


def commit(alice: User, birds: Birds, path: str, message: str) -> None:
    answer = alice.client.put(
        f"/datasets/{birds.owner}/{birds.name}/files/{path}",
        content=b"more",
        params={"message": message},
    )
    assert answer.status_code in (200, 201), answer.text


def rows(html: str) -> list[str]:
    """The rows of the list of events (not the row template the script fills in)."""
    listed = html.split('<ol class="events"', 1)[1].split("</ol>", 1)[0]
    return listed.split("<li ")[1:]


def seqs(html: str) -> list[int]:
    return [int(found) for found in SEQ.findall("".join("<li " + row for row in rows(html)))]


@contextlib.contextmanager
def following(
    visitor: Visitor, url: str, headers: dict[str, str] | None = None
) -> Iterator[SSEReader]:
    with visitor.client.stream("GET", url, headers=headers, timeout=TIMEOUT) as response:
        yield SSEReader(response)


def test_the_tab_lists_the_datasets_events_newest_first(
    visit: Visit, birds: Birds, alice: User
) -> None:
    commit(alice, birds, "notes.txt", "<b>counted</b> again & again")
    answer = visit(alice).get(page_url(birds))
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert 'aria-current="page">Events</a>' in html
    numbers = seqs(html)
    assert numbers == sorted(numbers, reverse=True) and len(numbers) == 6  # create, 5 commits
    newest = rows(html)[0]
    assert ">commit</span>" in newest and f'href="{birds.url}?version=5">v5</a>' in newest
    assert alice.username in newest
    # The message is text: escaped, never markup.
    assert "&lt;b&gt;counted&lt;/b&gt; again &amp; again · +1 ~0 \u22120" in newest
    assert "<b>counted" not in html
    assert ">dataset.create</span>" in rows(html)[-1]
    # The page follows new events after the newest it shows, with the script of this origin.
    assert STREAM.findall(html) == [f"{stream_url(birds)}?after={numbers[0]}"]
    assert '<script src="/ui/-/static/events.js" defer></script>' in html
    script = visit().get("/ui/-/static/events.js")
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "textContent" in script.text and "innerHTML" not in script.text
    # Every tab of the dataset offers the Events tab.
    assert f'href="{page_url(birds)}"' in visit(alice).get(birds.url).text


def test_strangers_get_not_found_on_the_page_and_the_stream(
    visit: Visit, birds: Birds, alice: User, bob: User
) -> None:
    for visitor in (visit(), visit(bob)):
        for url in (page_url(birds), stream_url(birds), stream_url(birds) + "?after=0"):
            answer = visitor.get(url, timeout=TIMEOUT)
            assert answer.status_code == 404, (url, answer.text)
            assert "Not found" in answer.text
    missing = f"/ui/{alice.username}/no-such-dataset/-/events"
    for url in (missing, missing + "/stream"):
        assert visit(alice).get(url, timeout=TIMEOUT).status_code == 404


def test_the_stream_sends_an_event_made_after_it_connected(
    visit: Visit, birds: Birds, alice: User
) -> None:
    with following(visit(alice), stream_url(birds)) as reader:
        commit(alice, birds, "late.txt", "after connecting")
        [message] = reader.events(1)
    row = message.json()
    assert message.event is None  # a plain message: the page's onmessage takes every kind
    assert message.id == str(row["seq"])
    assert (row["kind"], row["version"], row["who"]) == ("commit", 5, alice.username)
    assert row["url"] == f"{birds.url}?version=5"
    assert row["summary"] == "after connecting · +1 ~0 \u22120"
    assert row["when"].endswith(" UTC") and row["created"].startswith(row["when"][:10])


def test_the_stream_says_it_may_not_be_cached(visit: Visit, birds: Birds, alice: User) -> None:
    visitor = visit(alice)
    with visitor.client.stream("GET", stream_url(birds), timeout=TIMEOUT) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "private, no-cache"
    # A HEAD is answered with the headers, at once: not a stream that never ends.
    head = visitor.client.head(stream_url(birds), timeout=TIMEOUT)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/event-stream")


def test_the_stream_resumes_after_the_last_event_id(
    visit: Visit, birds: Birds, alice: User
) -> None:
    visitor = visit(alice)
    numbers = seqs(visitor.get(page_url(birds)).text)
    created, commits = numbers[-1], sorted(numbers[:-1])
    with following(visitor, stream_url(birds), {"Last-Event-ID": str(created)}) as reader:
        resumed = reader.events(len(commits))
    assert [int(m.id or 0) for m in resumed] == commits
    assert [m.json()["version"] for m in resumed] == [1, 2, 3, 4]
    # ?after= (what the page asks for) does the same; Last-Event-ID, sent by a browser that
    # reconnects, wins over it.
    url = f"{stream_url(birds)}?after={created}"
    with following(visitor, url, {"Last-Event-ID": str(commits[-2])}) as reader:
        commit(alice, birds, "resumed.txt", "resumed")
        assert [m.json()["version"] for m in reader.events(2)] == [4, 5]


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/-/events?before=soon", {}),
        ("/-/events?before=-1", {}),
        ("/-/events?before=99999999999999999999999", {}),
        ("/-/events/stream?after=x", {}),
        ("/-/events/stream?after=99999999999999999999999", {}),
        ("/-/events/stream", {"Last-Event-ID": "yesterday"}),
        ("/-/events/stream", {"Last-Event-ID": "99999999999999999999999"}),
    ],
)
def test_bad_numbers_are_a_clean_400(
    visit: Visit, birds: Birds, alice: User, path: str, headers: dict[str, str]
) -> None:
    answer = visit(alice).get(birds.url + path, headers=headers, timeout=TIMEOUT)
    assert answer.status_code == 400, answer.text
    assert "That did not work" in answer.text


def test_older_events_a_page_at_a_time(
    visit: Visit, birds: Birds, alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events, "EVENTS_PAGE", 2)
    visitor = visit(alice)
    first = visitor.get(page_url(birds)).text
    seen, html, pages = seqs(first), first, 1
    assert STREAM.search(first) is not None  # the first page follows new events
    while (older := OLDER.search(html)) is not None:
        html = visitor.get(f"{page_url(birds)}?before={older.group(1)}").text
        assert STREAM.search(html) is None  # an older page does not
        seen += seqs(html)
        pages += 1
    assert pages == 3 and len(seen) == 5  # the creation and four commits, each once
    assert seen == sorted(set(seen), reverse=True)


def test_the_stream_ends_when_its_reader_loses_the_right(
    visit: Visit, birds: Birds, alice: User, bob: User
) -> None:
    dataset = f"/datasets/{birds.owner}/{birds.name}"
    assert alice.client.patch(dataset, json={"visibility": "public"}).status_code == 200
    with following(visit(bob), stream_url(birds)) as reader:
        made = alice.client.patch(dataset, json={"visibility": "private"})
        assert made.status_code == 200, made.text
        [message] = reader.events(1)
        assert message.event == "close" and "not found" in message.json()["reason"]
        assert list(reader.lines) == []  # and the response ends


def test_the_page_shows_what_each_kind_of_event_did(
    visit: Visit, birds: Birds, alice: User
) -> None:
    dataset = f"/datasets/{birds.owner}/{birds.name}"
    tagged = alice.client.put(f"{dataset}/tags/v1.0", json={"version": 2})
    assert tagged.status_code in (200, 201), tagged.text
    changed = alice.client.patch(dataset, json={"description": "<i>new</i>"})
    assert changed.status_code == 200, changed.text
    text = unescape(visit(alice).get(page_url(birds)).text)
    assert "changed description" in text
    assert "tag v1.0 at v2" in text
    assert "created (private)" in text
