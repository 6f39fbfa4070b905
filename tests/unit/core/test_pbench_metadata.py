"""dataloft.core.pbench_metadata: Pbench's metadata key paths, write rules, value
normalisation, the upload's ``metadata`` parameter and metadata.log, with the exact texts
Pbench's clients see."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dataloft.core.errors import Invalid, TooLarge
from dataloft.core.pbench_metadata import (
    NAMESPACES,
    MetadataErrors,
    check_json_keys,
    check_update,
    check_writable,
    conversion_message,
    dataset_label,
    get_path,
    normalise,
    parse_bool,
    parse_date,
    parse_metalog,
    parse_upload_metadata,
    set_path,
    split_key,
    split_keys,
    split_quoted,
    split_writable,
    unquote,
    unrecognized_list_message,
)

UPLOADED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LABEL = dataset_label("tester", "fio_1")
EXPECTED_NAMESPACES = "expected ['dataset', 'global', 'server', 'user']"


def norm(key: str, value: Any, lifetime_days: int = 3650) -> Any:
    return normalise(key, value, dataset_name=LABEL, uploaded=UPLOADED, lifetime_days=lifetime_days)


def message_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(Invalid) as caught:
        call(*args, **kwargs)
    return caught.value.message


# --- reading key paths ----------------------------------------------------------------------


def test_namespaces_are_pbench_four() -> None:
    assert NAMESPACES == ("dataset", "global", "server", "user")


@pytest.mark.parametrize(
    ("key", "split"),
    [
        ("server.deletion", ("server", ["deletion"])),
        ("SERVER.deletion", ("server", ["deletion"])),
        ("dataset", ("dataset", [])),
        ("Global.Dashboard.seen", ("global", ["Dashboard", "seen"])),
        # metadata.log sections and options are readable whatever their characters
        (
            "dataset.metalog.iterations/1-default.A",
            ("dataset", ["metalog", "iterations/1-default", "A"]),
        ),
    ],
)
def test_split_key_lowers_namespace_and_keeps_path(key: str, split: tuple[str, list[str]]) -> None:
    assert split_key(key) == split


@pytest.mark.parametrize("key", ["foo.x", "", "server..x", "global.", ".global", "metalog.x"])
def test_split_key_refuses_unknown_namespace_or_empty_segment(key: str) -> None:
    assert message_of(split_key, key) == (
        f"Unrecognized list value [{key!r}] given for parameter metadata; {EXPECTED_NAMESPACES}"
    )


def test_split_key_error_text_is_the_metadata_get_text() -> None:
    assert message_of(split_key, "foo.x") == (
        "Unrecognized list value ['foo.x'] given for parameter metadata; expected "
        "['dataset', 'global', 'server', 'user']"
    )


def test_split_keys_names_every_bad_key_sorted_in_one_error() -> None:
    assert message_of(split_keys, ["zed.a", "server.deletion", "foo.x"]) == (
        "Unrecognized list values ['foo.x', 'zed.a'] given for parameter metadata; "
        + EXPECTED_NAMESPACES
    )
    assert split_keys(["server.deletion", "dataset.name"]) == [
        ("server", ["deletion"]),
        ("dataset", ["name"]),
    ]


def test_unrecognized_list_message_serves_other_parameters() -> None:
    assert unrecognized_list_message("sort", ["b", "a"], ["x"]) == (
        "Unrecognized list values ['a', 'b'] given for parameter sort; expected ['x']"
    )


DOC = {"dashboard": {"seen": True, "tags": ["a"]}, "count": 3, "Mixed": 1, "lower": 2}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ([], DOC),
        (["dashboard"], {"seen": True, "tags": ["a"]}),
        (["dashboard", "seen"], True),
        (["missing"], None),
        (["dashboard", "missing", "deeper"], None),
        (["count", "x"], None),  # through a number
        (["dashboard", "tags", "0"], None),  # through an array
        (["Mixed"], 1),  # as given first
        (["LOWER"], 2),  # then lower-cased
    ],
)
def test_get_path_finds_or_answers_none(path: list[str], value: Any) -> None:
    assert get_path(DOC, path) == value


def test_get_path_through_a_non_object_document_is_none() -> None:
    assert get_path(None, ["a"]) is None
    assert get_path(5, ["a"]) is None
    assert get_path(5, []) == 5


# --- writing key paths --------------------------------------------------------------------


def test_set_path_creates_intermediate_objects() -> None:
    assert set_path(None, ["dashboard", "seen"], True) == {"dashboard": {"seen": True}}
    assert set_path({"a": {"b": 1}}, ["a", "c", "d"], 2) == {"a": {"b": 1, "c": {"d": 2}}}


def test_set_path_with_empty_path_replaces_the_document() -> None:
    assert set_path({"a": 1}, [], {"b": 2}) == {"b": 2}
    assert set_path({"a": 1}, [], 7) == 7


def test_set_path_does_not_mutate_its_input_or_share_the_value() -> None:
    document = {"a": {"b": 1}, "c": [1, 2]}
    before = copy.deepcopy(document)
    value = {"x": [1]}
    result = set_path(document, ["a", "new"], value)
    assert document == before
    result["c"].append(3)
    result["a"]["new"]["x"].append(2)
    assert document == before
    assert value == {"x": [1]}


def test_set_path_nested_user_object() -> None:
    namespace, path = split_writable("user.dashboard.favorite")
    document = set_path(None, path, {"pinned": True, "notes": {"text": "hi"}}, namespace=namespace)
    assert document == {"dashboard": {"favorite": {"pinned": True, "notes": {"text": "hi"}}}}
    assert get_path(document, ["dashboard", "favorite", "notes", "text"]) == "hi"


def test_set_path_through_a_non_object_names_the_key_in_the_way() -> None:
    assert (
        message_of(
            set_path,
            {"contact": "me"},
            ["contact", "email"],
            "x",
            namespace="user",
            dataset_name=LABEL,
        )
        == "Key 'contact' value for 'user.contact.email' in (tester)|fio_1 is not a JSON object"
    )
    assert message_of(set_path, 5, ["a"], 1, namespace="global") == (
        "Key 'global' value for 'global.a' is not a JSON object"
    )


@pytest.mark.parametrize(
    ("key", "split"),
    [
        ("dataset.name", ("dataset", ["name"])),
        ("server.deletion", ("server", ["deletion"])),
        ("server.archiveonly", ("server", ["archiveonly"])),
        ("server.origin", ("server", ["origin"])),
        ("global", ("global", [])),
        ("user", ("user", [])),
        ("global.dashboard.seen", ("global", ["dashboard", "seen"])),
        ("user.a-b_c.9", ("user", ["a-b_c", "9"])),
        # the original lower-cases a write path before it checks it, and stores it so
        ("GLOBAL.Dashboard", ("global", ["dashboard"])),
        ("Server.Deletion", ("server", ["deletion"])),
    ],
)
def test_writable_keys(key: str, split: tuple[str, list[str]]) -> None:
    check_writable(key)
    assert split_writable(key) == split


@pytest.mark.parametrize(
    "key",
    [
        "dataset",
        "dataset.access",
        "dataset.name.x",
        "dataset.metalog.pbench",
        "server",
        "server.benchmark",
        "server.deletion.x",
        "server.tarball-path",
        "foo.x",
        "global.",
        "global..x",
        "global.a/b",
        "global.a b",
        "user.é",
        "",
    ],
)
def test_unwritable_keys_get_the_json_key_text(key: str) -> None:
    assert message_of(check_writable, key) == (
        f"Unrecognized JSON key [{key!r}] for parameter metadata."
    )


def test_check_json_keys_returns_bad_nested_keys_in_document_order() -> None:
    value = {"ok": {"Bad": 1, "also-ok_9": {"a.b": 2, "": 3}}, "sp ace": [{"X": 1}]}
    assert check_json_keys(value) == ["Bad", "a.b", "", "sp ace"]
    assert check_json_keys({"fine": {"still_fine": [1, {"UPPER": 2}]}}) == []
    assert check_json_keys("scalar") == []


def test_check_update_reports_every_bad_key_sorted_and_plural() -> None:
    body = {"server.benchmark": 1, "global": {"B": {"a.b": 1}}, "user.ok": {"fine": 1}}
    assert message_of(check_update, body) == (
        "Unrecognized JSON keys ['B', 'a.b', 'server.benchmark'] for parameter metadata."
    )
    assert message_of(check_update, {"global.x": {"Bad": 1}}) == (
        "Unrecognized JSON key ['Bad'] for parameter metadata."
    )


def test_check_update_accepts_writable_keys_and_refuses_a_missing_or_odd_body() -> None:
    body = {"dataset.name": "n", "global.seen": True, "user": {"fav": True}}
    assert check_update(body) is body
    assert message_of(check_update, None) == "Missing required parameters: metadata"
    assert message_of(check_update, ["global.x"]) == (
        "Value ['global.x'] (list) cannot be parsed as a JSON"
    )


# --- normalising values -------------------------------------------------------------------


def test_dataset_label_is_the_original_str_of_a_dataset() -> None:
    assert dataset_label("tester", "fio_1") == "(tester)|fio_1"


@pytest.mark.parametrize(
    ("value", "stored"),
    [(True, True), (False, False)]
    + [(word, True) for word in ("t", "TRUE", "y", "Yes")]
    + [(word, False) for word in ("f", "False", "N", "no")],
)
def test_archiveonly_vocabulary(value: Any, stored: bool) -> None:
    assert norm("server.archiveonly", value) is stored


@pytest.mark.parametrize("value", ["abc", "", 1, None, ["y"]])
def test_archiveonly_refuses_other_values(value: Any) -> None:
    assert message_of(norm, "server.archiveonly", value) == (
        f"Metadata key 'server.archiveonly' value {value!r} for dataset (tester)|fio_1 "
        "must be a boolean"
    )


def test_archiveonly_abc_text_is_the_contract_text() -> None:
    assert message_of(norm, "server.archiveonly", "abc") == (
        "Metadata key 'server.archiveonly' value 'abc' for dataset (tester)|fio_1 must be a boolean"
    )


def test_origin_must_be_a_string() -> None:
    assert norm("server.origin", "lab 3") == "lab 3"
    assert message_of(norm, "server.origin", 3) == (
        "Metadata key 'server.origin' value 3 for dataset (tester)|fio_1 must be a string"
    )


def test_dataset_name_is_a_non_empty_string_of_at_most_1024_characters() -> None:
    assert norm("dataset.name", "новое имя") == "новое имя"
    assert norm("dataset.name", "é" * 1024) == "é" * 1024  # characters, not bytes
    for value in ("", 5, None, "x" * 1025):
        assert message_of(norm, "dataset.name", value) == (
            f"Metadata key 'dataset.name' value {value!r} for dataset (tester)|fio_1 must be "
            "a UTF-8 string of 1 to 1024 characters"
        )
    assert message_of(norm, "dataset.name", "a\ud800") == (
        "Metadata key 'dataset.name' value 'a\\ud800' for dataset (tester)|fio_1 must be a "
        "UTF-8 string"
    )


def test_special_keys_are_recognised_in_any_case() -> None:
    assert norm("SERVER.ArchiveOnly", "y") is True
    assert message_of(norm, "Server.Origin", 1).startswith("Metadata key 'Server.Origin' value 1")


def test_open_namespace_values_pass_through() -> None:
    value = {"a": [1, {"b": None}]}
    assert norm("global.x", value) is value
    assert norm("user", "anything") == "anything"


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("2023-12-25T15:43", "2023-12-26"),  # no offset: UTC
        ("2026-12-17 10:00+0000", "2026-12-18"),
        ("2026-12-17T23:30:00-05:00", "2026-12-19"),  # 04:30 UTC on the 18th
        ("2026-12-18T01:00:00+02:00", "2026-12-18"),  # 23:00 UTC on the 17th
        ("12/17/2026", "2026-12-18"),
        ("2024-03-01", "2024-03-02"),  # before upload is allowed
    ],
)
def test_deletion_is_stored_as_the_following_utc_day(given: str, stored: str) -> None:
    assert norm("server.deletion", given) == stored


def test_deletion_bound_is_the_instant_uploaded_plus_lifetime() -> None:
    # uploaded 2024-03-01T12:00Z, 10 days: up to 2024-03-11T12:00Z exactly
    assert norm("server.deletion", "2024-03-11T12:00:00Z", 10) == "2024-03-12"
    assert norm("server.deletion", "2024-03-11T13:00:00+01:00", 10) == "2024-03-12"
    for later in ("2024-03-11T12:00:01Z", "2024-03-12"):
        assert message_of(norm, "server.deletion", later, 10) == (
            f"Metadata key 'server.deletion' value {later!r} for dataset (tester)|fio_1 must "
            "be a date/time before 2024-03-11"
        )


def test_deletion_with_a_naive_upload_time_takes_it_as_utc() -> None:
    naive = datetime(2024, 3, 1, 12, 0)
    stored = normalise(
        "server.deletion",
        "2024-03-02T12:00",
        dataset_name=LABEL,
        uploaded=naive,
        lifetime_days=1,
    )
    assert stored == "2024-03-03"


@pytest.mark.parametrize("value", ["tomorrow-ish", "", 20240101, None, "2024-13-45"])
def test_deletion_must_be_a_date(value: Any) -> None:
    assert message_of(norm, "server.deletion", value) == (
        f"Metadata key 'server.deletion' value {value!r} for dataset (tester)|fio_1 must be a "
        "date/time"
    )


def test_normalise_without_a_dataset_label_keeps_the_original_wording() -> None:
    text = message_of(
        normalise, "server.origin", 1, dataset_name="", uploaded=UPLOADED, lifetime_days=1
    )
    assert text == "Metadata key 'server.origin' value 1 for dataset must be a string"


# --- the shared vocabularies ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "result"),
    [(v, True) for v in ("", "t", "TRUE", "y", "yes", "Yes", True)]
    + [(v, False) for v in ("f", "false", "N", "no", "NO", False)],
)
def test_parse_bool_vocabulary(value: str | bool, result: bool) -> None:
    assert parse_bool(value) is result


@pytest.mark.parametrize("value", ["x", "1", "0", "on", " yes"])
def test_parse_bool_refuses_other_words(value: str) -> None:
    assert message_of(parse_bool, value) == f"Value {value!r} (str) cannot be parsed as a boolean"


def test_parse_date_reads_like_dateutil_and_answers_utc() -> None:
    assert parse_date("2024-03-01T12:00") == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    assert parse_date("03/01/2024 14:00+0200") == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
    moment = parse_date("2024-03-01T12:00-05:00")
    assert moment.tzinfo == UTC
    assert moment == datetime(2024, 3, 1, 12, tzinfo=timezone(timedelta(hours=-5)))


@pytest.mark.parametrize("value", ["nonsense", "", "2024-02-30"])
def test_parse_date_refuses_non_dates(value: str) -> None:
    assert message_of(parse_date, value) == (
        f"Value {value!r} (str) cannot be parsed as a date/time string"
    )


def test_conversion_message_names_the_type() -> None:
    assert conversion_message("x", "int") == "Value 'x' (str) cannot be parsed as a int"
    assert conversion_message(3, "boolean") == "Value 3 (int) cannot be parsed as a boolean"


# --- quote-aware splitting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("a:b,c:d", ["a:b", "c:d"]),
        ("a,,b,", ["a", "", "b", ""]),
        ("", [""]),
        ("k:'x,y',z", ["k:'x,y'", "z"]),
        ('k:"x,y"', ['k:"x,y"']),
        ("k:'a\"b,\"c',d", ["k:'a\"b,\"c'", "d"]),  # nested quotes
        ("""global.x:'{"a":1,"b":2}':json,y""", ["""global.x:'{"a":1,"b":2}':json""", "y"]),
    ],
)
def test_split_quoted_splits_outside_quotes_only(text: str, pieces: list[str]) -> None:
    assert split_quoted(text) == pieces


def test_split_quoted_takes_another_separator() -> None:
    assert split_quoted("server.deletion:'2026-12-17 10:00+0000'", ":") == [
        "server.deletion",
        "'2026-12-17 10:00+0000'",
    ]


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a:'b", '"a:[\']b"'),
        ('x,y:"open', "'x,y:[\"]open'"),
        # a different quote inside opens another: the last one opened is shown
        ("'a\"b'", "'\\'a\"b[\\']'"),
    ],
)
def test_split_quoted_reports_an_unterminated_quote(text: str, shown: str) -> None:
    assert message_of(split_quoted, text) == f"Unterminated quote at {shown}"


@pytest.mark.parametrize(
    ("token", "bare"),
    [
        ("'a b'", "a b"),
        ('"a,b"', "a,b"),
        ("'{\"a\":1}'", '{"a":1}'),
        ("'a':'b'", "'a':'b'"),  # two quoted runs: left alone
        ("'a'b", "'a'b"),
        ("''", ""),
        ("'", "'"),
        ("plain", "plain"),
    ],
)
def test_unquote_strips_only_enclosing_quotes(token: str, bare: str) -> None:
    assert unquote(token) == bare


# --- the upload's metadata parameter ----------------------------------------------------------


def test_upload_metadata_of_the_functional_tests() -> None:
    parsed = parse_upload_metadata(
        [
            "server.origin:test,user.pbench.access:public,server.archiveonly:n:bool",
            "server.deletion:'2026-12-17 10:00+0000'",
        ],
        lifetime_days=3650,
        now=UPLOADED,
    )
    assert parsed == {
        "server.origin": "test",
        "user.pbench.access": "public",
        "server.archiveonly": False,
        # typed, not normalised: the dataset's normalise makes it "2026-12-18"
        "server.deletion": "2026-12-17 10:00+0000",
    }
    stored = norm("server.deletion", parsed["server.deletion"])
    assert stored == "2026-12-18"


def test_upload_metadata_types() -> None:
    parsed = parse_upload_metadata(
        [
            """global.j:'{"a":1,"b":[true,null]}':json,global.i:42:int,global.f:2.5:float""",
            "global.b:Yes:BOOL,global.s:007,global.t:x:str,global.colon:'a:b'",
            "server.archiveonly:y",
        ]
    )
    assert parsed == {
        "global.j": {"a": 1, "b": [True, None]},
        "global.i": 42,
        "global.f": 2.5,
        "global.b": True,
        "global.s": "007",
        "global.t": "x",
        "global.colon": "a:b",
        "server.archiveonly": "y",  # checked, stored as given until normalised
    }


def test_upload_metadata_quoted_keys_items_and_case() -> None:
    parsed = parse_upload_metadata(["'global.a':'1,2'", '"global.b:3:int"', "GLOBAL.C:x"])
    assert parsed == {"global.a": "1,2", "global.b": 3, "global.c": "x"}


def test_upload_metadata_skips_empty_items_and_last_repeat_wins() -> None:
    parsed = parse_upload_metadata([",global.x:1,,global.x:2,", ""])
    assert parsed == {"global.x": "2"}


def test_upload_metadata_collects_every_error_in_order() -> None:
    items = ",".join(
        [
            "server.archiveonly:abc",
            "server.benchmark:x",
            "global.x",
            "global.y:1:bogus",
            "global.z:",
            "global.w:''",
            "global.i:x:int",
            "global.f:nan:float",
            "global.j:{:json",
            "global.k:NaN:json",
            "server.deletion:soon",
            "server.deletion:2099-01-01",
            "server.origin:fine",
            "global.b:maybe:bool",
            ":v",
        ]
    )
    with pytest.raises(MetadataErrors) as caught:
        parse_upload_metadata([items], lifetime_days=10, now=UPLOADED)
    assert caught.value.message == "at least one specified metadata key is invalid"
    assert caught.value.errors == [
        "Metadata key 'server.archiveonly' value 'abc' for dataset must be a boolean",
        "Metadata key 'server.benchmark' is not supported",
        "Missing ':' terminator after 'global.x'",
        "The metadata type 'bogus' must be one of bool,float,int,json,str",
        "Metadata 'global.z:' must have the form 'k:v[:type]'",
        "Metadata \"global.w:''\" must have the form 'k:v[:type]'",
        "Value 'x' (str) cannot be parsed as a int",
        "Value 'nan' (str) cannot be parsed as a floating point number",
        "Value '{' (str) cannot be parsed as a JSON string",
        "Value 'NaN' (str) cannot be parsed as a JSON string",
        "Metadata key 'server.deletion' value 'soon' for dataset must be a date/time",
        "Metadata key 'server.deletion' value '2099-01-01' for dataset must be a date/time "
        "before 2024-03-11",
        "Value 'maybe' (str) cannot be parsed as a boolean",
        "Metadata key '' is not supported",
    ]
    assert isinstance(caught.value, Invalid)


def test_upload_metadata_checks_in_the_original_order() -> None:
    # key before type before the k:v form
    with pytest.raises(MetadataErrors) as caught:
        parse_upload_metadata(["server.x::bad,global.x::bad,global.x:v:a:b"])
    assert caught.value.errors == [
        "Metadata key 'server.x' is not supported",
        "The metadata type 'bad' must be one of bool,float,int,json,str",
        "The metadata type 'a:b' must be one of bool,float,int,json,str",
    ]


def test_upload_metadata_deletion_bound_only_when_a_lifetime_is_given() -> None:
    assert parse_upload_metadata(["server.deletion:2999-01-01"]) == {
        "server.deletion": "2999-01-01"
    }


def test_upload_metadata_unterminated_quote_is_a_plain_error() -> None:
    with pytest.raises(Invalid) as caught:
        parse_upload_metadata(["global.x:1", "global.y:'open"])
    assert not isinstance(caught.value, MetadataErrors)
    assert caught.value.message == 'Unterminated quote at "global.y:[\']open"'


# --- metadata.log ----------------------------------------------------------------------------


def test_metalog_round_trip() -> None:
    text = "[pbench]\nname = x\nscript = fio\n[iterations/1-default]\nA = 1"
    assert parse_metalog(text) == {
        "pbench": {"name": "x", "script": "fio"},
        "iterations/1-default": {"a": "1"},
    }


def test_metalog_keeps_percent_signs_section_case_and_bytes_input() -> None:
    text = "[Run]\nController = host\nraw_size = 50%\n[DEFAULT]\nshared = s\n"
    expected = {"Run": {"controller": "host", "raw_size": "50%", "shared": "s"}}
    assert parse_metalog(text) == expected
    assert parse_metalog(text.encode()) == expected
    assert parse_metalog("") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("name = x\n", "File contains no section headers."),
        ("[a]\nx = 1\n[a]\n", "section 'a' already exists"),
        ("[a]\nx = 1\nx = 2\n", "option 'x' in section 'a' already exists"),
        ("[a]\njust words\n", "Source contains parsing errors"),
    ],
)
def test_metalog_malformed_is_invalid_naming_the_problem(text: str, problem: str) -> None:
    message = message_of(parse_metalog, text)
    assert message.startswith("metadata.log cannot be parsed: ")
    assert problem in message
    assert "\n" not in message


def test_metalog_not_utf8_is_invalid() -> None:
    assert message_of(parse_metalog, b"[a]\nx = \xff\n").startswith(
        "metadata.log is not UTF-8 text: "
    )


def test_metalog_larger_than_the_limit_is_too_large() -> None:
    text = "[a]\nx = " + "y" * 100 + "\n"
    assert parse_metalog(text, max_bytes=len(text)) == {"a": {"x": "y" * 100}}
    with pytest.raises(TooLarge) as caught:
        parse_metalog(text, max_bytes=len(text) - 1)
    assert caught.value.message == (
        f"metadata.log is {len(text)} bytes, more than the {len(text) - 1} allowed"
    )
    with pytest.raises(TooLarge):
        parse_metalog("[a]\nx = é\n", max_bytes=10)  # 11 bytes, 10 characters
