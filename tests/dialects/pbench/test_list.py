"""``GET /api/v1/datasets`` (and the seed's ``/datasets/list`` and ``/datasets/daterange``)
as ``PbenchServerClient.get_list`` and Pbench's functional tests (``TestList``) use it:
visibility, ``mine`` with an API key, ``filter`` terms (OR, AND, contains, typed), sorts
with PostgreSQL's NULL order, ``offset``/``limit`` with Pbench's envelope, ``metadata``
selection, ``keysummary`` and ``daterange``, and the refusals (reference ``pbench.md``
§3.2, §4, §5).

These tests assert exact sets of datasets, so they run on a server of their own, filled
once (``corpus``) the way Pbench's functional suite fills a fresh server: ``tester``
uploads runs, alternately private and public (the public ones expiring soon, with
``server.origin`` and a ``user.*`` key), plus an archive-only one and a second run of an
existing name; ``testadmin`` uploads a public tarball without ``metadata.log``; a third
user keeps a private run nobody else sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from dateutil import parser as date_parser

from dataloft.config import Settings
from tests.dialects.pbench.conftest import ADMIN_NAME, Pbench
from tests.dialects.pbench.tarballs import (
    md5_hex,
    metadata_log,
    metalog_of,
    pbench_tarball,
    plain_tarball,
    upload,
)
from tests.support import own_server

SOON_DAYS = 10  # the functional suite's SHORT_EXPIRATION_DAYS


@dataclass(frozen=True)
class Run:
    """One uploaded tarball and what the tests expect of it."""

    name: str
    owner: str
    access: str
    script: str = "fio"
    date: str = "2018-02-01T22:40:57"
    raw_size: int | None = None
    start_run: str | None = None
    archive_only: bool = False
    pbench: bool = True  # False: no metadata.log
    salt: str = ""
    data: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.pbench:
            extra = {"salt.txt": self.salt.encode()} if self.salt else {}
            data = pbench_tarball(self.name, metalog=self.metalog_text, extra=extra)
        else:
            data = plain_tarball(self.name)
        object.__setattr__(self, "data", data)

    @property
    def metalog_text(self) -> str:
        return metadata_log(
            self.name,
            script=self.script,
            date=self.date,
            raw_size=self.raw_size,
            start_run=self.start_run,
        )

    @property
    def metalog(self) -> dict[str, Any]:
        if not self.pbench:
            return {"pbench": {"name": self.name, "script": "unknown"}}
        return metalog_of(self.metalog_text)

    @property
    def md5(self) -> str:
        return md5_hex(self.data)

    @property
    def soon(self) -> bool:
        """Uploaded with metadata, as the functional suite does for its public runs."""
        return self.owner == "tester" and self.access == "public"


RUNS = (
    Run("fio_rw_2018.02.01T22.40.57", "tester", "private", "fio", "2018-02-01T22:40:57",
        1000, "2018-02-01T22:40:57.000001"),
    Run("linpack_2019.03.05T10.00.00", "tester", "public", "linpack", "2019-03-05T10:00:00",
        5000, "2019-03-05T10:00:00"),
    Run("uperf_2019.07.07T07.07.07", "tester", "private", "uperf", "2019-07-07T07:07:07",
        300, "07/07/2019 07:07:07"),  # the latest start, and first as text only when typed
    Run("fio_seq_2018.11.11T11.11.11", "tester", "public", "fio", "2018-11-11T11:11:11",
        None, "2018-11-11T11:11:11"),
    Run("pbench-user-benchmark_2020.01.01T00.00.00", "tester", "private",
        "pbench-user-benchmark", "2020-01-01T00:00:00", 20000, None),
    Run("fio_mock_2020.01.19T00.18.06", "tester", "private", "fio", "2020-01-19T00:18:06",
        700, "2019-01-19T00:18:06", archive_only=True),
    # Same name as the first, another MD5 (PR #3426).
    Run("fio_rw_2018.02.01T22.40.57", "tester", "private", "fio", "2018-02-01T22:40:58",
        900, "2018-02-01T22:40:58", salt="second"),
    Run("nometadata", ADMIN_NAME, "public", pbench=False),
    Run("other_2021.01.01T00.00.00", "other", "private", "fio", "2021-01-01T00:00:00",
        50, "2021-01-01T00:00:00"),
)  # fmt: skip


@dataclass
class Corpus:
    pbench: Pbench
    tester: httpx.Client
    admin: httpx.Client
    anonymous: httpx.Client

    def seen_by(self, who: str) -> list[Run]:
        """The runs user ``who`` may see, by Pbench's visibility rules (anyone who owns
        nothing, e.g. "anonymous", sees the public ones)."""
        if who == ADMIN_NAME:
            return list(RUNS)
        return [r for r in RUNS if r.access == "public" or r.owner == who]


@pytest.fixture(scope="module")
def corpus(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    directory = tmp_path_factory.mktemp("pbench-list")
    with own_server(settings, directory, min_password_length=6, admin_users=(ADMIN_NAME,)) as (
        live,
        loft,
    ):
        loft.bootstrap_admin()
        pbench = Pbench(live, loft)
        clients = {name: pbench.user(name) for name in ("tester", ADMIN_NAME, "other")}
        soon = datetime.now(UTC) + timedelta(days=SOON_DAYS)
        for run in RUNS:
            metadata = []
            if run.soon:
                metadata = [
                    "server.origin:test,user.pbench.access:public,server.archiveonly:n:bool",
                    f"server.deletion:'{soon:%Y-%m-%d %H:%M%z}'",
                ]
                if run.script == "linpack":
                    metadata.append("global.dashboard.seen:true:bool")
            if run.archive_only:
                metadata = ["server.archiveonly:y"]
            answer = upload(
                clients[run.owner], run.data, f"{run.name}.tar.xz", access=run.access,
                metadata=metadata,
            )  # fmt: skip
            assert answer.status_code == 201, answer.text
        with pbench.anonymous() as anonymous:
            yield Corpus(pbench, clients["tester"], clients[ADMIN_NAME], anonymous)
        for client in clients.values():
            client.close()


def listing(client: httpx.Client, path: str = "/datasets", **params: Any) -> dict[str, Any]:
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def ids(client: httpx.Client, **params: Any) -> list[str]:
    """The resource ids a list gives, in its order (all on one page)."""
    return [r["resource_id"] for r in listing(client, **params)["results"]]


def md5s(runs: list[Run]) -> list[str]:
    return sorted(run.md5 for run in runs)


def refusal(client: httpx.Client, status: int, message: str, **params: Any) -> None:
    answer = client.get("/datasets", params=params)
    assert (answer.status_code, answer.json()) == (status, {"message": message})


# --- visibility -------------------------------------------------------------------------------


def test_anonymous_callers_see_the_public_datasets_only(corpus: Corpus) -> None:
    body = listing(corpus.anonymous, metadata="dataset.access")
    assert [r["resource_id"] for r in body["results"]] == md5s(corpus.seen_by("anonymous"))
    assert {r["metadata"]["dataset.access"] for r in body["results"]} == {"public"}
    assert body["total"] == 3 and body["next_url"] == ""


def test_a_user_sees_their_own_and_the_public_datasets_and_an_admin_sees_all(
    corpus: Corpus,
) -> None:
    assert ids(corpus.tester) == md5s(corpus.seen_by("tester"))
    assert ids(corpus.admin) == md5s(list(RUNS))
    # owner=<another user>: their public datasets only; access narrows as Pbench does.
    assert ids(corpus.tester, owner=ADMIN_NAME) == md5s([r for r in RUNS if r.owner == ADMIN_NAME])
    assert ids(corpus.tester, owner="other") == []
    mine_private = [r for r in RUNS if r.owner == "tester" and r.access == "private"]
    assert ids(corpus.tester, access="private") == md5s(mine_private)
    assert ids(corpus.tester, access="PUBLIC") == md5s([r for r in RUNS if r.access == "public"])
    all_private = [r for r in RUNS if r.access == "private"]
    assert ids(corpus.admin, access="private") == md5s(all_private)
    assert ids(corpus.admin, owner="other") == md5s([r for r in RUNS if r.owner == "other"])


def test_mine_with_an_api_key_is_exactly_the_callers_datasets_sorted_by_resource_id(
    corpus: Corpus,
) -> None:
    made = corpus.tester.post("/key/")
    assert made.status_code == 201, made.text
    headers = {"Authorization": f"Bearer {made.json()['key']}"}
    answer = httpx.get(
        corpus.pbench.url + "/api/v1/datasets",
        params={"mine": "true", "limit": "100"},
        headers=headers,
    )
    assert answer.status_code == 200, answer.text
    mine = sorted((r for r in RUNS if r.owner == "tester"), key=lambda r: r.md5)
    expected = [{"resource_id": r.md5, "name": r.name, "metadata": {}} for r in mine]
    assert answer.json()["results"] == expected
    # mine=false: the others' datasets the caller may see; a bare ?mine is true.
    assert ids(corpus.tester, mine="false") == md5s([r for r in RUNS if r.owner == ADMIN_NAME])
    bare = corpus.tester.get("/datasets?mine")
    assert [r["resource_id"] for r in bare.json()["results"]] == md5s(
        [r for r in RUNS if r.owner == "tester"]
    )


# --- filters ------------------------------------------------------------------------------------


def test_a_run_of_caret_terms_is_one_or_group(corpus: Corpus) -> None:
    body = listing(
        corpus.tester,
        metadata="dataset.metalog.pbench.name",
        owner="tester",
        filter=["^dataset.metalog.pbench.script:fio", "^dataset.metalog.pbench.script:linpack"],
    )
    expected = [r for r in RUNS if r.owner == "tester" and r.script in ("fio", "linpack")]
    assert [r["resource_id"] for r in body["results"]] == md5s(expected)
    assert {r["metadata"]["dataset.metalog.pbench.name"] for r in body["results"]} == {
        r.name for r in expected
    }


def test_plain_terms_and_together_with_contains(corpus: Corpus) -> None:
    found = ids(
        corpus.tester,
        owner="tester",
        filter=["dataset.metalog.pbench.date:~2018", "dataset.access:public"],
    )
    assert found == md5s(
        [r for r in RUNS if r.owner == "tester" and "2018" in r.date and r.access == "public"]
    )
    # Comma-separated terms are terms too.
    assert found == ids(
        corpus.tester,
        owner="tester",
        filter="dataset.metalog.pbench.date:~2018,dataset.access:public",
    )


def test_and_with_an_or_group(corpus: Corpus) -> None:
    found = ids(
        corpus.tester,
        owner="tester",
        filter=[
            "dataset.access:public",
            "^dataset.metalog.pbench.date:~2018",
            "^dataset.metalog.pbench.date:~2019",
        ],
    )
    expected = [
        r
        for r in RUNS
        if r.owner == "tester" and r.access == "public" and r.date[:4] in ("2018", "2019")
    ]
    assert found == md5s(expected) and len(expected) == 2


def test_typed_filters_compare_dates_and_integers_as_such(corpus: Corpus) -> None:
    soonish = datetime.now(UTC) + timedelta(days=SOON_DAYS * 2)
    body = listing(
        corpus.tester,
        metadata="server.deletion",
        owner="tester",
        # US notation: a plain text comparison would not find these.
        filter=f"server.deletion:<'{soonish:%m/%d/%Y %H:%M%z}':date",
    )
    assert [r["resource_id"] for r in body["results"]] == md5s([r for r in RUNS if r.soon])
    big = [r for r in corpus.seen_by("tester") if r.raw_size is not None and r.raw_size > 900]
    assert ids(corpus.tester, filter="dataset.metalog.run.raw_size:>900:int") == md5s(big)
    # As text, "5000" > "900" but "20000" < "900".
    as_text = [r for r in corpus.seen_by("tester") if r.raw_size and str(r.raw_size) > "900"]
    assert ids(corpus.tester, filter="dataset.metalog.run.raw_size:>900") == md5s(as_text)
    assert ids(corpus.tester, filter="server.archiveonly:true:bool") == md5s(
        [r for r in RUNS if r.archive_only or not r.pbench]
    )


def test_the_owner_is_filtered_by_username_and_sorted_by_it(corpus: Corpus) -> None:
    body = listing(corpus.tester, metadata="dataset.owner", filter="dataset.owner:tester")
    assert {r["metadata"]["dataset.owner"] for r in body["results"]} == {"tester"}
    assert [r["resource_id"] for r in body["results"]] == md5s(
        [r for r in RUNS if r.owner == "tester"]
    )
    body = listing(
        corpus.tester,
        metadata="dataset.owner",
        filter="dataset.owner:~test",
        sort="dataset.owner:desc",
    )
    owners = [r["metadata"]["dataset.owner"] for r in body["results"]]
    # Descending: "tester" before "testadmin"; ties in resource id order.
    assert owners == ["tester"] * 7 + [ADMIN_NAME]
    assert [r["resource_id"] for r in body["results"]] == md5s(
        [r for r in RUNS if r.owner == "tester"]
    ) + md5s([r for r in RUNS if r.owner == ADMIN_NAME])


# --- sorts --------------------------------------------------------------------------------------


def test_an_int_sort_descending_puts_nulls_first(corpus: Corpus) -> None:
    body = listing(
        corpus.tester,
        metadata="dataset.metalog.run.raw_size",
        sort="dataset.metalog.run.raw_size:desc:int",
    )
    seen = corpus.seen_by("tester")
    nulls = md5s([r for r in seen if r.raw_size is None])
    sized = sorted((r for r in seen if r.raw_size is not None), key=lambda r: -(r.raw_size or 0))
    assert [r["resource_id"] for r in body["results"]] == nulls + [r.md5 for r in sized]
    sizes = [r["metadata"]["dataset.metalog.run.raw_size"] for r in body["results"]]
    assert sizes == [None] * len(nulls) + [str(r.raw_size) for r in sized]
    ascending = ids(corpus.tester, sort="dataset.metalog.run.raw_size:asc:int")
    assert ascending == [r.md5 for r in reversed(sized)] + nulls


def test_a_date_sort_descending_puts_nulls_first_and_reads_any_date_format(
    corpus: Corpus,
) -> None:
    found = ids(corpus.tester, sort="dataset.metalog.run.start_run:desc:date")
    seen = corpus.seen_by("tester")
    nulls = md5s([r for r in seen if r.start_run is None])
    dated = [r for r in seen if r.start_run is not None]
    by_date = sorted(dated, key=lambda r: date_parser.parse(r.start_run or ""), reverse=True)
    assert found == nulls + [r.md5 for r in by_date]
    assert found[len(nulls)] == next(r.md5 for r in RUNS if r.script == "uperf")
    # As text, "07/07/2019" is the smallest start.
    as_text = ids(corpus.tester, sort="dataset.metalog.run.start_run:desc")
    assert as_text[-1] == next(r.md5 for r in RUNS if r.script == "uperf")


def test_several_sorts_apply_in_order(corpus: Corpus) -> None:
    found = ids(corpus.tester, sort=["dataset.access:asc", "dataset.name:desc"])
    seen = corpus.seen_by("tester")
    by_name = sorted(seen, key=lambda r: r.md5)
    by_name.sort(key=lambda r: r.name, reverse=True)
    by_name.sort(key=lambda r: r.access)
    assert found == [r.md5 for r in by_name]


# --- pages --------------------------------------------------------------------------------------


def test_pages_follow_next_url_to_the_end_with_the_raw_parameters_echoed(corpus: Corpus) -> None:
    whole = listing(corpus.tester, metadata="dataset.access,server.deletion")
    assert whole["parameters"] == {"metadata": ["dataset.access,server.deletion"]}
    assert whole["next_url"] == "" and whole["total"] == len(corpus.seen_by("tester"))
    pages = []
    answer = corpus.tester.get(
        "/datasets", params={"metadata": "dataset.access,server.deletion", "limit": "3"}
    )
    while True:
        assert answer.status_code == 200, answer.text
        page = answer.json()
        pages.append(page)
        if not page["next_url"]:
            break
        answer = corpus.tester.get(page["next_url"])
    total = whole["total"]
    assert [len(p["results"]) for p in pages] == [3, 3, total - 6]
    assert [r for p in pages for r in p["results"]] == whole["results"]
    assert {p["total"] for p in pages} == {total}
    # The parameters as given, the offset set to the next page's (the total at the end).
    assert [p["parameters"] for p in pages] == [
        {"metadata": ["dataset.access,server.deletion"], "limit": "3", "offset": str(offset)}
        for offset in (3, 6, total)
    ]
    for page, offset in zip(pages, (3, 6), strict=False):
        url = urlsplit(page["next_url"])
        assert f"{url.scheme}://{url.netloc}{url.path}" == corpus.pbench.url + "/api/v1/datasets"
        assert parse_qs(url.query) == {
            "metadata": ["dataset.access,server.deletion"],
            "limit": ["3"],
            "offset": [str(offset)],
        }


def test_an_offset_alone_skips_and_lists_parameters_repeat_as_given(corpus: Corpus) -> None:
    all_ids = ids(corpus.tester)
    body = listing(corpus.tester, offset="2", metadata=["dataset.name", "dataset.access"])
    assert [r["resource_id"] for r in body["results"]] == all_ids[2:]
    assert body["parameters"] == {"offset": "2", "metadata": ["dataset.name", "dataset.access"]}
    assert body["next_url"] == ""
    one = listing(corpus.tester, offset="2", limit="1", filter=["dataset.access:private"])
    private = md5s([r for r in corpus.seen_by("tester") if r.access == "private"])
    assert [r["resource_id"] for r in one["results"]] == private[2:3]
    assert one["total"] == len(private)
    assert parse_qs(urlsplit(one["next_url"]).query)["filter"] == ["dataset.access:private"]


# --- what each result holds, the key summary and the date range ---------------------------------


def test_metadata_selects_values_and_absent_keys_are_null(corpus: Corpus) -> None:
    keys = [
        "dataset.access",
        "dataset.name",
        "server.origin",
        "user.pbench.access",
        "global.dashboard.seen",
        "global.nothing.here",
        "dataset.metalog.run.raw_size",
        "dataset.resource_id",  # not a metadata key in Pbench: null
    ]
    body = listing(corpus.tester, metadata=",".join(keys))
    by_id = {r.md5: r for r in RUNS}
    for result in body["results"]:
        run = by_id[result["resource_id"]]
        assert result["name"] == run.name
        assert result["metadata"] == {
            "dataset.access": run.access,
            "dataset.name": run.name,
            "server.origin": "test" if run.soon else None,
            "user.pbench.access": "public" if run.soon else None,
            "global.dashboard.seen": True if run.script == "linpack" else None,
            "global.nothing.here": None,
            "dataset.metalog.run.raw_size": None if run.raw_size is None else str(run.raw_size),
            "dataset.resource_id": None,
        }
    # user.* is the caller's own: anonymous callers get null.
    anonymous = listing(corpus.anonymous, metadata="user.pbench.access,server.origin")
    assert {r["metadata"]["user.pbench.access"] for r in anonymous["results"]} == {None}


def nulls(tree: dict[str, Any], into: dict[str, Any]) -> None:
    """``tree``'s keys merged into ``into``, with null leaves (a key summary)."""
    for key, value in tree.items():
        if isinstance(value, dict):
            nulls(value, into.setdefault(key, {}))
        else:
            into.setdefault(key, None)


def summary_of(runs: list[Run], *, user: bool) -> dict[str, Any]:
    metalog: dict[str, Any] = {}
    for run in runs:
        nulls(run.metalog, metalog)
    columns = ["access", "id", "name", "owner", "owner_id", "resource_id", "uploaded"]
    keys: dict[str, Any] = {"dataset": dict.fromkeys(columns) | {"metalog": metalog}}
    keys["global"] = {"dashboard": {"seen": None}}
    keys["server"] = dict.fromkeys(
        ["archiveonly", "benchmark", "deletion", "origin", "tarball-path", "unpacked-size"]
    )
    if user:
        keys["user"] = {"pbench": {"access": None}}
    return {"keys": keys}


def test_keysummary_is_the_tree_of_every_key_of_the_selected_datasets(corpus: Corpus) -> None:
    summary = listing(corpus.tester, keysummary="true")
    assert summary == summary_of(corpus.seen_by("tester"), user=True)
    anonymous = listing(corpus.anonymous, keysummary="true")
    assert anonymous == summary_of(corpus.seen_by("anonymous"), user=False)
    assert listing(corpus.tester, keysummary="true", name="no-such-run") == {"keys": {}}


def test_daterange_is_the_first_and_last_upload(corpus: Corpus) -> None:
    uploads = [
        r["metadata"]["dataset.uploaded"]
        for r in listing(corpus.tester, metadata="dataset.uploaded")["results"]
    ]
    moments = sorted(datetime.fromisoformat(u) for u in uploads)
    expected = {"from": moments[0].isoformat(), "to": moments[-1].isoformat()}
    assert expected["from"].endswith("+00:00")
    assert listing(corpus.tester, daterange="true") == expected
    assert listing(corpus.tester, path="/datasets/daterange") == expected
    assert listing(corpus.tester, daterange="true", name="no-such-run") == {}
    both = listing(corpus.tester, daterange="true", keysummary="true")
    assert both == expected | summary_of(corpus.seen_by("tester"), user=True)


def test_start_and_end_bound_the_upload_time_inclusively(corpus: Corpus) -> None:
    span = listing(corpus.tester, daterange="true")
    everything = md5s(corpus.seen_by("tester"))
    assert ids(corpus.tester, start=span["from"], end=span["to"]) == everything
    first = ids(corpus.tester, end=span["from"])
    last = ids(corpus.tester, start=span["to"])
    assert len(first) == 1 and len(last) == 1 and first != last
    assert ids(corpus.tester, start="2100-01-01") == []
    assert ids(corpus.tester, end="1/2/2001") == []  # dateutil's reading, US order


def test_the_seed_spelling_datasets_list_is_the_same_list(corpus: Corpus) -> None:
    params = {"metadata": "dataset.name", "limit": "2", "offset": "1"}
    legacy = listing(corpus.tester, path="/datasets/list", **params)
    current = listing(corpus.tester, **params)
    assert legacy["results"] == current["results"]
    assert legacy["total"] == current["total"]
    assert urlsplit(legacy["next_url"]).path == "/api/v1/datasets/list"


# --- refusals -----------------------------------------------------------------------------------


def test_owner_and_mine_refusals(corpus: Corpus) -> None:
    refusal(
        corpus.tester,
        400,
        "'owner' and 'mine' filters cannot be used together",
        owner="tester",
        mine="true",
    )
    refusal(corpus.anonymous, 401, "'mine' filter requires authentication", mine="true")
    refusal(
        corpus.tester, 404, "Value 'nobody' (str) cannot be parsed as a username", owner="nobody"
    )
    refusal(
        corpus.anonymous, 401, "Requestor is unable to verify username 'nobody'", owner="nobody"
    )
    refusal(
        corpus.anonymous, 401, "Requestor is unable to verify username 'tester'", owner="tester"
    )
    refusal(
        corpus.tester,
        403,
        f"User tester is not authorized to READ a resource owned by {ADMIN_NAME} with private "
        "access",
        owner=ADMIN_NAME,
        access="private",
    )
    anonymous_private = corpus.anonymous.get("/datasets", params={"access": "private"})
    assert anonymous_private.status_code == 401
    assert anonymous_private.json()["message"].startswith(
        "Unauthenticated client is not authorized to READ a resource owned by "
    )
    # Their own private datasets, and an admin's view of anyone's, are allowed.
    assert corpus.tester.get("/datasets?owner=tester&access=private").status_code == 200
    assert ids(corpus.admin, owner="tester", access="private") == md5s(
        [r for r in RUNS if r.owner == "tester" and r.access == "private"]
    )


def test_query_refusals(corpus: Corpus) -> None:
    tester = corpus.tester
    refusal(tester, 400, "Unknown URL query keys: colour,size", colour="red", size="1")
    answer = tester.get("/datasets?limit=1&limit=2")
    assert (answer.status_code, answer.json()) == (
        400,
        {"message": "Repeated URL query key 'limit'"},
    )
    refusal(tester, 400, "Value 'maybe' (str) cannot be parsed as a boolean", mine="maybe")
    refusal(tester, 400, "Value 'ten' (str) cannot be parsed as a int", limit="ten")
    refusal(
        tester,
        400,
        "Unrecognized access keyword ['friends'] for parameter access; "
        "allowed keywords are ['private', 'public']",
        access="friends",
    )
    refusal(
        tester,
        400,
        "Unrecognized list value ['foo.x'] given for parameter metadata; "
        "expected ['dataset', 'global', 'server', 'user']",
        metadata="dataset.name,foo.x",
    )
    refusal(
        tester, 400, "Value 'someday' (str) cannot be parsed as a date/time string", start="someday"
    )


@pytest.mark.parametrize(
    ("term", "status", "message"),
    [
        ("nope.x:1", 400, "Metadata key 'nope.x' is not supported"),
        ("dataset.name", 400, "Missing ':' terminator after 'dataset.name'"),
        ("dataset.name:", 400, "Metadata 'dataset.name:' must have the form 'k:v[:type]'"),
        (
            "dataset.name:x:colour",
            400,
            "The metadata type 'colour' must be one of bool,date,int,str",
        ),
        (
            "dataset.name:1:int",
            400,
            "Filter of type 'int' is not compatible with key 'dataset.name'",
        ),
        ("dataset.name:'abc", 400, "Unterminated quote at \"dataset.name:[']abc\""),
        ("server.deletion:soon:date", 400,
         "Value 'soon' (str) cannot be parsed as a date/time string"),
        ("global.n:x:int", 400, "Value 'x' (str) cannot be parsed as a int"),
    ],
)  # fmt: skip
def test_bad_filters_are_refused_in_pbench_words(
    corpus: Corpus, term: str, status: int, message: str
) -> None:
    refusal(corpus.tester, status, message, filter=term)


def test_a_user_filter_needs_a_caller(corpus: Corpus) -> None:
    refusal(
        corpus.anonymous,
        401,
        "Metadata key user.pbench.access cannot be used by an unauthenticated client",
        filter="user.pbench.access:public",
    )
    assert ids(corpus.tester, filter="user.pbench.access:public") == md5s(
        [r for r in RUNS if r.soon]
    )


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        ("dataset.name:up", "The sort order 'up' for key 'dataset.name' must be 'asc' or 'desc'"),
        ("dataset.name:asc:colour", "The sort type must be one of bool,date,int,str"),
        ("nope", "Metadata key 'nope' is not supported"),
    ],
)
def test_bad_sorts_are_refused_in_pbench_words(corpus: Corpus, sort: str, message: str) -> None:
    refusal(corpus.tester, 400, message, sort=sort)
