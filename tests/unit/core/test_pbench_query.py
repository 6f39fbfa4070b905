"""dataloft.core.pbench_query: Pbench's dataset list filters, sorts, key summary and date
range, over hand-built views. Expected results are written out by hand; the sort table
repeats the expectations of Pbench's own unit tests (test_datasets_list.py)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dataloft.core.errors import Invalid, Unauthenticated
from dataloft.core.pbench_query import (
    MISSING,
    DatasetView,
    date_range,
    key_summary,
    parse_filters,
    parse_sorts,
    sort_views,
    split_list_param,
)

UPLOADED = datetime(2023, 3, 23, 20, 26, 3, 500000, tzinfo=UTC)


def view(name: str = "ds", **changes: Any) -> DatasetView:
    """A view named ``name`` whose resource ID sorts like its name."""
    fields: dict[str, Any] = {
        "resource_id": name.encode().hex().ljust(32, "0")[:32],
        "name": name,
        "owner": "tester",
        "owner_id": 3,
        "id": 1,
        "access": "private",
        "uploaded": UPLOADED,
        "metalog": {},
        "server": {},
        "global_": {},
        "user": None,
        "operations": {},
    }
    return DatasetView(**(fields | changes))


def names(views: list[DatasetView]) -> list[str]:
    return [v.name for v in views]


def selected(terms: list[str], views: list[DatasetView], *, auth: bool = True) -> list[str]:
    return names(parse_filters(terms, authenticated=auth).select(views))


def with_global(**values: Any) -> list[DatasetView]:
    """One view per value, named after it, holding it as ``global.v``."""
    return [view(name, global_={"v": value}) for name, value in values.items()]


# --- parsing -----------------------------------------------------------------------------


def test_list_params_split_on_every_comma_even_inside_quotes() -> None:
    assert split_list_param(["a:1,^b:2", "c:'x,y'", ""]) == ["a:1", "^b:2", "c:'x", "y'", ""]


@pytest.mark.parametrize(
    ("term", "message"),
    [
        ("global.x=3", "Missing ':' terminator after 'global.x=3'"),
        ("'global.x'", "Missing ':' terminator after \"'global.x'\""),
        ("^", "Missing ':' terminator after ''"),
        ("dataset.x':v", 'Unterminated quote at "dataset.x[\']:v"'),
        ("'dataset.name:foo", 'Unterminated quote at "[\']dataset.name:foo"'),
        ("dataset.name:'foo", 'Unterminated quote at "dataset.name:[\']foo"'),
        # A quote of the other kind opens a nested quote; the outer one stays open.
        ('global.v:"a\'b"', "Unterminated quote at " + repr('global.v:"a\'b["]')),
        ("x.y:1", "Metadata key 'x.y' is not supported"),
        ("global..y:1", "Metadata key 'global..y' is not supported"),
        ("global.:1", "Metadata key 'global.' is not supported"),
        (":1", "Metadata key '' is not supported"),
        ("dataset.notright:10", "Metadata key 'dataset.notright' is not supported"),
        ("dataset:x", "Metadata key 'dataset' is not supported"),
        (
            "dataset.operations.upload:x",
            "Metadata key 'dataset.operations.upload' is not supported",
        ),
        (
            "server.deletion:<2023-05-01:time",
            "The metadata type 'time' must be one of bool,date,int,str",
        ),
        (
            "server.deletion:2023-05-01:date:",
            "The metadata type 'date:' must be one of bool,date,int,str",
        ),
        # The type is checked before the value's presence.
        ("dataset.name::foo", "The metadata type 'foo' must be one of bool,date,int,str"),
        ("dataset.name:", "Metadata 'dataset.name:' must have the form 'k:v[:type]'"),
        ("^dataset.name:=", "Metadata '^dataset.name:=' must have the form 'k:v[:type]'"),
        ("dataset.name::int", "Metadata 'dataset.name::int' must have the form 'k:v[:type]'"),
        ("dataset.name:'':str", "Metadata \"dataset.name:'':str\" must have the form 'k:v[:type]'"),
        ("global.n:abc:int", "Value 'abc' (str) cannot be parsed as a int"),
        ("global.n:1.5:int", "Value '1.5' (str) cannot be parsed as a int"),
        ("global.b:maybe:bool", "Value 'maybe' (str) cannot be parsed as a boolean"),
        ("global.d:soon:date", "Value 'soon' (str) cannot be parsed as a date/time string"),
        ("dataset.name:t:bool", "Filter of type 'bool' is not compatible with key 'dataset.name'"),
        ("dataset.NAME:1:int", "Filter of type 'int' is not compatible with key 'dataset.name'"),
        (
            "dataset.uploaded:>2:int",
            "Filter of type 'int' is not compatible with key 'dataset.uploaded'",
        ),
        (
            "dataset.id:2023-01-01:date",
            "Filter of type 'date' is not compatible with key 'dataset.id'",
        ),
        ("dataset.owner:1:int", "Filter of type 'int' is not compatible with key 'dataset.owner'"),
        ("global.n:~1:int", "Filter operator '~' is not compatible with type 'int'"),
        ("dataset.uploaded:~2023:date", "Filter operator '~' is not compatible with type 'date'"),
        # An unquoted ':' ends the value: the rest is read as the type.
        (
            "global.v:=2024-01-02T12:00:00:date",
            "The metadata type '00:00:date' must be one of bool,date,int,str",
        ),
    ],
)
def test_bad_filter_terms_are_refused_with_pbench_texts(term: str, message: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_filters([term], authenticated=True)
    assert refused.value.message == message


def test_the_first_bad_term_is_the_one_reported() -> None:
    with pytest.raises(Invalid) as refused:
        parse_filters(["dataset.name:x", "x.y:1", "dataset.name:"], authenticated=True)
    assert refused.value.message == "Metadata key 'x.y' is not supported"


def test_user_keys_need_an_authenticated_caller() -> None:
    with pytest.raises(Unauthenticated) as refused:
        parse_filters(["USER.foo:1"], authenticated=False)
    assert refused.value.message == (
        "Metadata key USER.foo cannot be used by an unauthenticated client"
    )
    parse_filters(["user.foo:1"], authenticated=True)  # no error


def test_a_bad_value_is_reported_before_an_anonymous_user_key() -> None:
    with pytest.raises(Invalid) as refused:
        parse_filters(["user.n:x:int"], authenticated=False)
    assert refused.value.message == "Value 'x' (str) cannot be parsed as a int"


def test_quoted_keys_and_values_may_hold_colons() -> None:
    views = [
        view("hit", metalog={"tool/iteration:1": 'foo:"1"#bar'}),
        view("miss", metalog={"tool/iteration:1": "foo"}),
    ]
    term = "'dataset.metalog.tool/iteration:1':'foo:\"1\"#bar':str"
    assert selected([term], views) == ["hit"]
    assert selected(['global.v:"a:b"'], with_global(q="a:b", r="a")) == ["q"]


def test_operator_and_type_are_optional_and_the_type_ignores_case() -> None:
    views = with_global(a="5", b="6")
    assert selected(["global.v:5"], views) == ["a"]
    assert selected(["global.v:=5:STR"], views) == ["a"]
    assert selected(["global.v:>=6:Int"], views) == ["b"]


# --- evaluation ----------------------------------------------------------------------------


TEXTS = with_global(
    apple="apple", banana="banana", cherry="cherry", upper="Banana", five=5, yes=True
)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("global.v:banana", ["banana"]),
        ("global.v:=banana", ["banana"]),
        ("global.v:!=banana", ["apple", "cherry", "upper", "five", "yes"]),
        ("global.v:<banana", ["apple", "upper", "five"]),  # "B" and "5" sort before "a"
        ("global.v:<=banana", ["apple", "banana", "upper", "five"]),
        ("global.v:>banana", ["cherry", "yes"]),
        ("global.v:>=banana", ["banana", "cherry", "yes"]),
        ("global.v:~an", ["banana", "upper"]),
        ("global.v:~Ban", ["upper"]),  # contains is case-sensitive
        ("global.v:5", ["five"]),  # a number as its JSON text
        ("global.v:true", ["yes"]),  # a boolean as "true"
    ],
)
def test_str_terms_compare_the_json_text(term: str, expected: list[str]) -> None:
    assert selected([term], TEXTS) == expected


INTS = with_global(one=1, five=5, text5="5", padded=" +7 ", float5=5.0, flag=True, word="x")


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("global.v:5:int", ["five", "text5"]),
        ("global.v:=5:int", ["five", "text5"]),
        ("global.v:!=5:int", ["one", "padded"]),  # values that do not cast never match
        ("global.v:<5:int", ["one"]),
        ("global.v:<=5:int", ["one", "five", "text5"]),
        ("global.v:>5:int", ["padded"]),
        ("global.v:>=5:int", ["five", "text5", "padded"]),
    ],
)
def test_int_terms_cast_each_stored_value(term: str, expected: list[str]) -> None:
    assert selected([term], INTS) == expected


BOOLS = with_global(
    true=True, false=False, t="t", yes="YES", on=" on ", off="off", one=1, zero="0", two=2, no="n"
)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("global.v:t:bool", ["true", "t", "yes", "on", "one"]),
        ("global.v:=Yes:bool", ["true", "t", "yes", "on", "one"]),
        ("global.v:!=true:bool", ["false", "off", "zero", "no"]),
        ("global.v:<y:bool", ["false", "off", "zero", "no"]),
        ("global.v:<=n:bool", ["false", "off", "zero", "no"]),
        ("global.v:>f:bool", ["true", "t", "yes", "on", "one"]),
        ("global.v:>=F:bool", ["true", "false", "t", "yes", "on", "off", "one", "zero", "no"]),
    ],
)
def test_bool_terms_cast_as_postgresql_reads_booleans(term: str, expected: list[str]) -> None:
    assert selected([term], BOOLS) == expected


DATES = with_global(
    day="2024-01-02",
    noon="2024-01-02T12:00:00",
    east="2024-01-02T12:00:00+02:00",  # 10:00 UTC
    us="01/03/2024 00:00",
    word="Jan 1 2024",
    compact=20240104,
    bare_day="4",  # no full date: PostgreSQL refuses it
    clock="10:00",
    junk="soon",
)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("global.v:'2024-01-02 10:00Z':date", ["east"]),
        ("global.v:'2024-01-02T12:00:00+00:00':date", ["noon"]),
        ("global.v:!=2024-01-02:date", ["noon", "east", "us", "word", "compact"]),
        ("global.v:<'2024-01-02 11:00':date", ["day", "east", "word"]),
        ("global.v:<=2024-01-02:date", ["day", "word"]),
        ("global.v:>'2024-01-02 10:00 +0000':date", ["noon", "us", "compact"]),
        ("global.v:>=01/03/2024:date", ["us", "compact"]),
    ],
)
def test_date_terms_compare_utc_moments(term: str, expected: list[str]) -> None:
    assert selected([term], DATES) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-02",
        "2024-01-02T03:04",
        "2024-01-02 03:04:05",
        "2024-01-02T03:04:05.25",
        "2024-01-02T03:04:05.123456Z",
        "2024-01-02T03:04:05+02:00",
        "2024-01-02T03:04:05-0530",
        "2024-01-02T03:04+05",
    ],
)
def test_a_stored_date_reads_as_the_same_text_in_a_filter_would(text: str) -> None:
    # The stored side takes a fast ISO path; the filter's value always goes through
    # dateutil. They must agree.
    stored = [view("hit", global_={"v": text})]
    assert selected([f"global.v:'{text}':date"], stored) == ["hit"]


def test_a_stored_date_that_does_not_exist_or_is_too_long_is_null() -> None:
    stored = [
        view("feb30", global_={"v": "2024-02-30"}),
        view("feb29", global_={"v": "2024-02-29"}),
        # dateutil reads this; PostgreSQL refuses a text over 128 characters.
        view("long", global_={"v": "2024-02-29 00:00:00." + "0" * 150}),
    ]
    assert selected(["global.v:>'2000-01-01':date"], stored) == ["feb29"]


def test_the_us_date_filter_of_pbench_functional_tests() -> None:
    views = [
        view("before", server={"deletion": "2026-12-31"}),
        view("at", server={"deletion": "2026-12-31T10:00:00+00:00"}),
        view("after", server={"deletion": "2027-01-01"}),
        view("none"),
        view("junk", server={"deletion": "whenever"}),
    ]
    assert selected(["server.deletion:<'12/31/2026 10:00+0000':date"], views) == ["before"]


def test_a_missing_key_or_json_null_fails_every_operator() -> None:
    views = [
        view("absent"),
        view("null", global_={"v": None}),
        view("through-a-string", global_={"v": "text"}),
        view("set", global_={"v": {"w": "x"}}),
    ]
    assert selected(["global.v.w:!=y"], views) == ["set"]
    assert selected(["global.v:!=y"], views) == ["through-a-string", "set"]
    assert selected(['global.v:\'{"w": "x"}\''], views) == ["set"]  # an object's JSON text


def test_stored_values_that_do_not_cast_are_left_out() -> None:
    # Pbench's test_mismatched_json_cast.
    views = [
        view("drb", global_={"legacy": True}),
        view("fio_1", global_={"legacy": {"server": "ABC"}}),
        view("fio_2", global_={"legacy": 4}),
    ]
    assert selected(["global.legacy:t:bool"], views) == ["drb"]
    assert selected(["global.legacy:>2:int"], views) == ["fio_2"]
    assert selected(["global.legacy:>2023-05-01:date"], views) == []


def test_contains_is_sql_like_with_its_wildcards() -> None:
    views = [
        view("abc"),
        view("a-c"),
        view("a--c"),
        view("50%off"),
        view("500"),
        view("x\nc"),
    ]
    assert selected(["dataset.name:~a_c"], views) == ["abc", "a-c"]
    assert selected(["dataset.name:~a%c"], views) == ["abc", "a-c", "a--c"]
    assert selected(["dataset.name:~0\\%"], views) == ["50%off"]
    assert selected(["dataset.name:~_c"], views) == ["abc", "a-c", "a--c", "x\nc"]
    assert selected(["dataset.name:~x%c%"], views) == ["x\nc"]
    # A trailing escape takes the closing '%' literally, as in PostgreSQL: the name must
    # end in "0%".
    assert selected(["dataset.name:~0\\"], [*views, view("10%")]) == ["10%"]


def test_contains_on_a_hostile_pattern_takes_no_exponential_time() -> None:
    hostile = parse_filters(["dataset.name:~" + "%a" * 40 + "%b"], authenticated=True)
    assert not hostile.matches(view("a" * 5000))


def test_dataset_columns_and_the_owner() -> None:
    views = [
        view("mine", access="public", id=5, owner_id=3, owner="tester"),
        view("theirs", access="private", id=12, owner_id=4, owner="testadmin"),
    ]
    assert selected(["dataset.access:public"], views) == ["mine"]
    assert selected(["dataset.owner:tester"], views) == ["mine"]
    assert selected(["dataset.owner:~test"], views) == ["mine", "theirs"]
    assert selected(["dataset.owner:~Test"], views) == []
    assert selected(["dataset.owner_id:3"], views) == ["mine"]
    assert selected(["dataset.id:>2:int"], views) == ["mine", "theirs"]
    assert selected(["dataset.id:>2"], views) == ["mine"]  # as text, "12" < "2"
    assert selected(["dataset.id:<2"], views) == ["theirs"]
    assert selected(["DATASET.Name.ignored:mine"], views) == ["mine"]


def test_uploaded_is_a_date_column_and_reads_as_postgresql_text() -> None:
    views = [
        view("old", uploaded=datetime(2020, 1, 1, tzinfo=UTC)),
        view("new", uploaded=UPLOADED),
    ]
    assert selected(["dataset.uploaded:>2021-01-01:date"], views) == ["new"]
    assert selected(["dataset.uploaded:~'2023-03-23 20:26:03.5'"], views) == ["new"]
    assert selected(["dataset.uploaded:~T20"], views) == []
    assert selected(["dataset.uploaded:'2020-01-01 00:00:00'"], views) == ["old"]


def test_metalog_paths_are_exact_case() -> None:
    views = [view("fio", metalog={"pbench": {"script": "fio"}})]
    assert selected(["dataset.METALOG.pbench.script:fio"], views) == ["fio"]
    assert selected(["dataset.metalog.Pbench.script:fio"], views) == []


def test_caret_runs_form_or_groups_anded_with_the_rest() -> None:
    views = [view(f"a{a}b{b}", global_={"a": a, "b": b}) for a in (1, 2, 3) for b in (3, 4)]
    assert selected(["^global.a:1", "^global.a:2", "global.b:3"], views) == ["a1b3", "a2b3"]
    assert selected(["global.b:4", "^global.a:1", "^global.a:3"], views) == ["a1b4", "a3b4"]
    assert selected(["global.a:1", "^global.b:4"], views) == ["a1b4"]  # a lone ^ is AND
    assert selected(["^global.a:1", "^global.a:2", "global.b:3", "^global.a:2"], views) == ["a2b3"]
    assert selected([], views) == names(views)


def test_user_keys_read_the_callers_own_document() -> None:
    views = [view("fav", user={"favorite": True}), view("plain", user={}), view("anon")]
    assert selected(["user.favorite:true:bool"], views) == ["fav"]


# --- sorting -----------------------------------------------------------------------------


def pbench_sort_views() -> list[DatasetView]:
    """Pbench's test_dataset_sort fixture: sequence numbers in the inverse order of name."""
    order = ["uperf_4", "uperf_3", "uperf_2", "uperf_1", "test", "fio_2", "fio_1"]
    return [
        view(
            name,
            owner="drb" if name == "fio_1" else "test",
            uploaded=UPLOADED + timedelta(days=i if name != "test" else -1),
            global_={"test": {"sequence": i, "mcguffin": str(i * 8 + 1)}},
            user={"test": {"odd": i & 1}},
        )
        for i, name in enumerate(order)
    ]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("dataset.name", "fio_1 fio_2 test uperf_1 uperf_2 uperf_3 uperf_4"),
        ("dataset.name:asc", "fio_1 fio_2 test uperf_1 uperf_2 uperf_3 uperf_4"),
        ("dataset.name:DESC", "uperf_4 uperf_3 uperf_2 uperf_1 test fio_2 fio_1"),
        ("dataset.uploaded:asc:date", "test uperf_4 uperf_3 uperf_2 uperf_1 fio_2 fio_1"),
        ("dataset.uploaded:desc", "fio_1 fio_2 uperf_1 uperf_2 uperf_3 uperf_4 test"),
        ("global.test.sequence:desc:int", "fio_1 fio_2 test uperf_1 uperf_2 uperf_3 uperf_4"),
        ("global.test.sequence", "uperf_4 uperf_3 uperf_2 uperf_1 test fio_2 fio_1"),
        (
            "user.test.odd,global.test.sequence:desc",
            "fio_1 test uperf_2 uperf_4 fio_2 uperf_1 uperf_3",
        ),
        (
            "user.test.odd:desc:bool,dataset.name:desc",
            "uperf_3 uperf_1 fio_2 uperf_4 uperf_2 test fio_1",
        ),
        ("global.test", "uperf_4 uperf_3 uperf_2 uperf_1 test fio_2 fio_1"),
        ("global.test:desc", "fio_1 fio_2 test uperf_1 uperf_2 uperf_3 uperf_4"),
        ("global.test.mcguffin:asc:str", "uperf_4 uperf_2 uperf_1 test fio_2 fio_1 uperf_3"),
        ("global.test.mcguffin:asc:int", "uperf_4 uperf_3 uperf_2 uperf_1 test fio_2 fio_1"),
        # Ties (every "test"-owned view) keep resource ID order.
        ("dataset.owner:desc", "fio_2 test uperf_1 uperf_2 uperf_3 uperf_4 fio_1"),
        ("dataset.owner:desc:int", "fio_2 test uperf_1 uperf_2 uperf_3 uperf_4 fio_1"),
    ],
)
def test_sorts_order_as_pbench_does(sort: str, expected: str) -> None:
    ordered = sort_views(pbench_sort_views(), parse_sorts(split_list_param([sort])))
    assert names(ordered) == expected.split()


def test_without_sorts_views_come_in_resource_id_order() -> None:
    views = [view("b"), view("c"), view("a")]
    assert names(sort_views(views, [])) == ["a", "b", "c"]
    assert names(sort_views(views, parse_sorts(["dataset.resource_id:desc"]))) == ["c", "b", "a"]


def null_sort_views() -> list[DatasetView]:
    return [
        view("big", metalog={"run": {"raw_size": "900", "start_run": "2018-05-01T10:00:00"}}),
        view("none"),
        view("small", metalog={"run": {"raw_size": "12", "start_run": "2018-04-30 23:00:00"}}),
        view("junk", metalog={"run": {"raw_size": "12kB", "start_run": "yesterday"}}),
        view("mid", metalog={"run": {"raw_size": 100, "start_run": "2018-05-01T10:00+01:00"}}),
    ]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        # NULLs (absent, or not castable) first descending, last ascending.
        ("dataset.metalog.run.raw_size:desc:int", "junk none big mid small"),
        ("dataset.metalog.run.raw_size:asc:int", "small mid big junk none"),
        ("dataset.metalog.run.start_run:desc:date", "junk none big mid small"),
        ("dataset.metalog.run.start_run:asc:date", "small mid big junk none"),
        ("dataset.metalog.run.raw_size:asc", "mid small junk big none"),  # as text
    ],
)
def test_nulls_sort_last_ascending_and_first_descending(sort: str, expected: str) -> None:
    assert names(sort_views(null_sort_views(), parse_sorts([sort]))) == expected.split()


def test_a_column_given_a_type_is_cast() -> None:
    views = [view("nine", id=9), view("ten", id=10), view("eleven", id=11)]
    assert names(sort_views(views, parse_sorts(["dataset.id"]))) == ["nine", "ten", "eleven"]
    assert names(sort_views(views, parse_sorts(["dataset.id:asc:str"]))) == [
        "ten",
        "eleven",
        "nine",
    ]
    numbered = [view("x"), view("10"), view("9")]
    # A name that does not cast to int is NULL.
    assert names(sort_views(numbered, parse_sorts(["dataset.name:asc:int"]))) == ["9", "10", "x"]


@pytest.mark.parametrize(
    ("sort", "message"),
    [
        ("dataset.noname", "Metadata key 'dataset.noname' is not supported"),
        ("dataset", "Metadata key 'dataset' is not supported"),
        ("dataset.operations", "Metadata key 'dataset.operations' is not supported"),
        (
            "dataset.name:backwards",
            "The sort order 'backwards' for key 'dataset.name' must be 'asc' or 'desc'",
        ),
        ("dataset.name:", "The sort order '' for key 'dataset.name' must be 'asc' or 'desc'"),
        ("dataset.name:desc:", "The sort type must be one of bool,date,int,str"),
        ("dataset.name:desc:INT", "The sort type must be one of bool,date,int,str"),
        ("dataset.name:desc:foobar", "The sort type must be one of bool,date,int,str"),
        ("xyzzy.uploaded", "Metadata key 'xyzzy.uploaded' is not supported"),
        ("xyzzy:up", "The sort order 'up' for key 'xyzzy' must be 'asc' or 'desc'"),
        ("", "Metadata key '' is not supported"),
    ],
)
def test_bad_sort_terms_are_refused_with_pbench_texts(sort: str, message: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_sorts([sort])
    assert refused.value.message == message


# --- lookups, key summary, date range --------------------------------------------------------


def test_lookup_sees_the_columns_and_metadata_value_does_not() -> None:
    v = view(
        "ds",
        id=7,
        metalog={"pbench": {"script": "fio"}},
        global_={"a": {"b": 1}, "s": "text"},
        operations={"UPLOAD": {"state": "OK", "message": None}},
    )
    assert v.lookup("dataset.resource_id") == v.resource_id
    assert v.lookup("DATASET.ID") == 7
    assert v.lookup("dataset.uploaded") == "2023-03-23T20:26:03.500000+00:00"
    assert v.lookup("dataset.metalog.pbench.script") == "fio"
    assert v.lookup("dataset.metalog.Pbench.script") is MISSING
    assert v.lookup("global.a.b") == 1
    assert v.lookup("global.s.x") is MISSING
    assert v.lookup("server") is MISSING  # empty: no document at all
    assert v.lookup("user.x") is MISSING
    document = v.lookup("dataset")
    assert isinstance(document, dict)
    assert document["id"] == 7
    assert document["owner_id"] == 3
    bare = view("bare").lookup("dataset")
    assert isinstance(bare, dict)
    assert "metalog" not in bare
    assert v.metadata_value("dataset.resource_id") is MISSING
    assert v.metadata_value("dataset.id") is MISSING
    assert v.metadata_value("dataset.owner_id") is MISSING
    assert v.metadata_value("dataset.metalog.Pbench.Script") == "fio"  # lower-case fallback
    assert v.metadata_value("global..a") is MISSING
    assert v.metadata_value("global.s.x") is MISSING
    assert v.metadata_value("dataset") == {
        "access": "private",
        "name": "ds",
        "owner": "tester",
        "uploaded": "2023-03-23T20:26:03.500000+00:00",
        "metalog": {"pbench": {"script": "fio"}},
        "operations": {"UPLOAD": {"state": "OK", "message": None}},
    }
    assert view("bare").metadata_value("dataset.metalog") is None


def test_key_summary_merges_every_key_with_objects_winning_over_leaves() -> None:
    # Pbench's test_key_summary: "global.legacy" is a leaf in one dataset and an object
    # in another; fio_2 has no metadata at all.
    metalog = {"pbench": {"config": "c", "date": "d", "name": "n", "script": "s"}}
    views = [
        view(
            "drb",
            metalog=metalog | {"run": {"controller": "node1"}},
            server={"deletion": "2025-01-01"},
            global_={"contact": "me", "legacy": "Truish"},
        ),
        view("fio_1", server={"origin": "SAT"}, global_={"legacy": {"server": "ABC"}}),
        view("fio_2"),
    ]
    assert key_summary(views) == {
        "keys": {
            "dataset": {
                "access": None,
                "id": None,
                "metalog": {
                    "pbench": {"config": None, "date": None, "name": None, "script": None},
                    "run": {"controller": None},
                },
                "name": None,
                "owner": None,
                "owner_id": None,
                "resource_id": None,
                "uploaded": None,
            },
            "global": {"contact": None, "legacy": {"server": None}},
            "server": {"deletion": None, "origin": None},
        }
    }
    assert list(key_summary(views)["keys"]) == ["dataset", "global", "server"]
    with_user = key_summary([view("u", user={"tags": {"a": 1}})])["keys"]
    assert with_user["user"] == {"tags": {"a": None}}
    assert key_summary([]) == {"keys": {}}


def test_date_range_spans_the_uploads() -> None:
    views = [
        view("a", uploaded=datetime(2022, 1, 1, tzinfo=UTC)),
        view("b", uploaded=datetime(1978, 6, 26, 8, tzinfo=UTC)),
        view("c", uploaded=datetime(2000, 1, 1, tzinfo=UTC)),
    ]
    assert date_range(views) == {
        "from": "1978-06-26T08:00:00+00:00",
        "to": "2022-01-01T00:00:00+00:00",
    }
    assert date_range([]) == {}


def test_filtering_and_sorting_a_hundred_thousand_views_is_quick() -> None:
    views = [
        view(
            f"ds{i:06d}",
            access="public" if i % 2 else "private",
            metalog={"pbench": {"script": "fio" if i % 3 else "uperf"}},
            server={"deletion": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}"},
        )
        for i in range(100_000)
    ]
    started = time.perf_counter()
    chosen = parse_filters(
        [
            "dataset.access:public",
            "dataset.metalog.pbench.script:~fi",
            "server.deletion:<2025-07-01:date",
        ],
        authenticated=False,
    ).select(views)
    ordered = sort_views(chosen, parse_sorts(["server.deletion:desc:date"]))
    elapsed = time.perf_counter() - started
    assert len(ordered) == sum(1 for i in range(100_000) if i % 2 and i % 3 and 1 + i % 12 < 7)
    assert elapsed < 3, f"{elapsed:.2f} s"
