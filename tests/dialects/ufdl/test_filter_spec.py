"""dataloft.api.ufdl.filter_spec: UFDL's FilterSpec read as strictly as its JSON schema
reads it, into the core's QuerySpec; every refusal says where in the body it is."""

from __future__ import annotations

import json

import pytest

from dataloft.api.ufdl.filter_spec import parse_filter_spec
from dataloft.core.errors import Invalid
from dataloft.core.query_filter import AllOf, AnyOf, FieldTest, Ordering, QuerySpec

# The example of shared/reference/ufdl.md §3, verified against the original server.
REFERENCE_EXAMPLE = """
{"expressions": [
   {"type": "or", "sub_expressions": [
      {"type": "and", "sub_expressions": [
         {"type": "contains", "field": "name", "sub_string": "DS", "case_insensitive": true},
         {"type": "compare", "field": "version", "operator": ">=", "value": 2}]},
      {"type": "exact", "field": "name", "value": "mt3"}]},
   {"type": "isnull", "field": "project.team.deletion_time"}],
 "order_by": [{"field": "version", "ascending": false}, {"field": "name", "nulls_first": true}],
 "include_inactive": true}
"""


def test_the_reference_example() -> None:
    assert parse_filter_spec(json.loads(REFERENCE_EXAMPLE)) == QuerySpec(
        expressions=(
            AnyOf(
                (
                    AllOf(
                        (
                            FieldTest("name", "contains", "DS", case_insensitive=True),
                            FieldTest("version", "ge", 2),
                        )
                    ),
                    FieldTest("name", "exact", "mt3"),
                )
            ),
            FieldTest("project.team.deletion_time", "isnull"),
        ),
        ordering=(Ordering("version", ascending=False), Ordering("name", nulls_first=True)),
        include_inactive=True,
    )


@pytest.mark.parametrize("body", [None, {}, {"expressions": [], "order_by": []}])
def test_no_body_and_an_empty_one_filter_nothing(body: object) -> None:
    assert parse_filter_spec(body) == QuerySpec()


# What the real client (ufdl.pythonclient 0.0.1 with ufdl.json-messages 0.0.1, installed
# from the fetched sources) sends: json.dumps(spec.to_raw_json()) of the FilterSpec built
# on the left, copied from its output. "type" comes last, as the client writes it.
CLIENT_BODIES = [
    ("FilterSpec()", "{}", QuerySpec()),
    (
        'FilterSpec(expressions=[Exact(field="name", value="MIT")])',
        '{"expressions": [{"field": "name", "value": "MIT", "type": "exact"}]}',
        QuerySpec((FieldTest("name", "exact", "MIT"),)),
    ),
    (
        'FilterSpec(expressions=[Contains(field="name", sub_string="rob", case_insensitive=True)'
        ' | (Exact(field="name", value="x") & IsNull(field="deletion_time", invert=True))],'
        ' order_by=[OrderBy(field="name", ascending=False)])',
        '{"expressions": [{"sub_expressions": [{"field": "name", "sub_string": "rob",'
        ' "case_insensitive": true, "type": "contains"}, {"sub_expressions": [{"field":'
        ' "name", "value": "x", "type": "exact"}, {"field": "deletion_time", "invert": true,'
        ' "type": "isnull"}], "type": "and"}], "type": "or"}], "order_by": [{"field": "name",'
        ' "ascending": false}]}',
        QuerySpec(
            expressions=(
                AnyOf(
                    (
                        FieldTest("name", "contains", "rob", case_insensitive=True),
                        AllOf(
                            (
                                FieldTest("name", "exact", "x"),
                                FieldTest("deletion_time", "isnull", invert=True),
                            )
                        ),
                    )
                ),
            ),
            ordering=(Ordering("name", ascending=False),),
        ),
    ),
    (
        'FilterSpec(expressions=[Compare(field="version", operator=">=", value=2),'
        ' ~Exact(field="is_public", value=True)], include_inactive=True)',
        '{"expressions": [{"field": "version", "operator": ">=", "value": 2, "type":'
        ' "compare"}, {"field": "is_public", "value": true, "type": "exact", "invert": true}],'
        ' "include_inactive": true}',
        QuerySpec(
            expressions=(
                FieldTest("version", "ge", 2),
                FieldTest("is_public", "exact", True, invert=True),
            ),
            include_inactive=True,
        ),
    ),
    (
        'FilterSpec(order_by=[OrderBy(field="project__team__name", nulls_first=True),'
        ' OrderBy(field="pk")])',
        '{"order_by": [{"field": "project__team__name", "nulls_first": true}, {"field": "pk"}]}',
        QuerySpec(ordering=(Ordering("project.team.name", nulls_first=True), Ordering("pk"))),
    ),
    (
        'FilterSpec(expressions=[~(Exact(field="creator.username", value="bob",'
        ' case_insensitive=True) | Compare(field="creation_time", operator="<",'
        ' value="2024-01-01T00:00:00+13:00"))])',
        '{"expressions": [{"sub_expressions": [{"field": "creator.username", "value": "bob",'
        ' "case_insensitive": true, "type": "exact"}, {"field": "creation_time", "operator":'
        ' "<", "value": "2024-01-01T00:00:00+13:00", "type": "compare"}], "type": "or",'
        ' "invert": true}]}',
        QuerySpec(
            (
                AnyOf(
                    (
                        FieldTest("creator.username", "exact", "bob", case_insensitive=True),
                        FieldTest("creation_time", "lt", "2024-01-01T00:00:00+13:00"),
                    ),
                    invert=True,
                ),
            )
        ),
    ),
    (
        'FilterSpec(expressions=[Compare(field="version", operator="<", value=2.5)])',
        '{"expressions": [{"field": "version", "operator": "<", "value": 2.5, "type": "compare"}]}',
        QuerySpec((FieldTest("version", "lt", 2.5),)),
    ),
]


@pytest.mark.parametrize(
    ("built", "body", "expected"), CLIENT_BODIES, ids=[body[0] for body in CLIENT_BODIES]
)
def test_what_the_python_client_sends(built: str, body: str, expected: QuerySpec) -> None:
    assert parse_filter_spec(json.loads(body)) == expected


def test_django_double_underscores_read_as_dots_everywhere() -> None:
    body = {
        "expressions": [
            {"type": "isnull", "field": "project__team__deletion_time"},
            {"type": "exact", "field": "licence.name", "value": "MIT"},
        ],
        "order_by": [{"field": "project__name"}, {"field": "creator.username"}],
    }
    assert parse_filter_spec(body) == QuerySpec(
        expressions=(
            FieldTest("project.team.deletion_time", "isnull"),
            FieldTest("licence.name", "exact", "MIT"),
        ),
        ordering=(Ordering("project.name"), Ordering("creator.username")),
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"type": "exact", "field": "f", "value": False}, FieldTest("f", "exact", False)),
        ({"type": "exact", "field": "f", "value": 0}, FieldTest("f", "exact", 0)),
        ({"type": "exact", "field": "f", "value": -1.5}, FieldTest("f", "exact", -1.5)),
        ({"type": "exact", "field": "f", "value": 2**70}, FieldTest("f", "exact", 2**70)),
        ({"type": "exact", "field": "f", "value": ""}, FieldTest("f", "exact", "")),
        (
            {"type": "exact", "field": "f", "value": "x", "case_insensitive": False},
            FieldTest("f", "exact", "x"),
        ),
        ({"type": "isnull", "field": "f", "invert": False}, FieldTest("f", "isnull")),
        ({"type": "compare", "field": "f", "operator": "<", "value": 1}, FieldTest("f", "lt", 1)),
        ({"type": "compare", "field": "f", "operator": ">", "value": 1}, FieldTest("f", "gt", 1)),
        (
            {"type": "compare", "field": "f", "operator": "<=", "value": "b"},
            FieldTest("f", "le", "b"),
        ),
        (
            {"type": "compare", "field": "f", "operator": ">=", "value": 0.5, "invert": True},
            FieldTest("f", "ge", 0.5, invert=True),
        ),
        (
            {"type": "contains", "field": "f", "sub_string": "%_", "invert": True},
            FieldTest("f", "contains", "%_", invert=True),
        ),
        (
            {
                "type": "and",
                "invert": True,
                "sub_expressions": [
                    {"type": "isnull", "field": "a"},
                    {"type": "isnull", "field": "b"},
                    {"type": "isnull", "field": "c"},
                ],
            },
            AllOf(
                (FieldTest("a", "isnull"), FieldTest("b", "isnull"), FieldTest("c", "isnull")),
                invert=True,
            ),
        ),
    ],
    ids=lambda value: json.dumps(value)[:60] if isinstance(value, dict) else "",
)
def test_expressions(expression: dict[str, object], expected: FieldTest | AllOf) -> None:
    assert parse_filter_spec({"expressions": [expression]}).expressions == (expected,)


def _two(*items: object) -> list[object]:
    return [{"type": "isnull", "field": "a"}, *items]


ISNULL = {"type": "isnull", "field": "a"}
KEYS = "keys: case_insensitive, field, invert, type, value"
OR_TYPES = "and, compare, contains, exact, isnull"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # The whole body.
        ([], "filter spec: must be an object, not an array"),
        ("x", "filter spec: must be an object, not a string"),
        (
            {"filter": []},
            "filter spec: unknown key 'filter'; keys: expressions, include_inactive, order_by",
        ),
        (
            {"b": 1, "a": 2},
            "filter spec: unknown keys 'a', 'b'; keys: expressions, include_inactive, order_by",
        ),
        ({"expressions": {}}, "expressions: must be an array, not an object"),
        ({"expressions": None}, "expressions: must be an array, not null"),
        ({"include_inactive": "true"}, "include_inactive: must be true or false, not a string"),
        ({"include_inactive": 1}, "include_inactive: must be true or false, not a number"),
        ({"include_inactive": None}, "include_inactive: must be true or false, not null"),
        # Any expression.
        ({"expressions": ["x"]}, "expressions[0]: must be an object, not a string"),
        ({"expressions": [ISNULL, {"field": "a"}]}, "expressions[1]: missing key 'type'"),
        (
            {"expressions": [{"type": 1, "field": "a"}]},
            "expressions[0].type: must be a string, not a number",
        ),
        (
            {"expressions": [{"type": "is_null", "field": "a"}]},
            "expressions[0]: unknown type 'is_null'; types: and, compare, contains, exact,"
            " isnull, or",
        ),
        (
            {"expressions": [{"type": "x" * 100, "field": "a"}]},
            f"expressions[0]: unknown type '{'x' * 37}...'; types:",
        ),
        (
            {"expressions": [{"type": "isnull", "field": "a", "invert": "yes"}]},
            "expressions[0].invert: must be true or false, not a string",
        ),
        (
            {"expressions": [{"type": "isnull", "field": "a", "invert": None}]},
            "expressions[0].invert: must be true or false, not null",
        ),
        # Field expressions.
        ({"expressions": [{"type": "isnull"}]}, "expressions[0]: missing key 'field'"),
        (
            {"expressions": [{"type": "isnull", "field": ""}]},
            "expressions[0].field: must be a non-empty string",
        ),
        (
            {"expressions": [{"type": "isnull", "field": ["a"]}]},
            "expressions[0].field: must be a non-empty string",
        ),
        (
            {"expressions": [{"type": "isnull", "field": "a", "value": 1}]},
            "expressions[0]: unknown key 'value'; keys: field, invert, type",
        ),
        (
            {"expressions": [{"type": "isnull", "field": "a", "case_insensitive": True}]},
            "expressions[0]: unknown key 'case_insensitive'; keys: field, invert, type",
        ),
        ({"expressions": [{"type": "exact", "field": "a"}]}, "expressions[0]: missing key 'value'"),
        (
            {"expressions": [{"type": "exact", "field": "a", "value": None}]},
            "expressions[0].value: must be a string, a number, true or false, not null",
        ),
        (
            {"expressions": [{"type": "exact", "field": "a", "value": [1]}]},
            "expressions[0].value: must be a string, a number, true or false, not an array",
        ),
        (
            {"expressions": [{"type": "exact", "field": "a", "value": {}}]},
            "expressions[0].value: must be a string, a number, true or false, not an object",
        ),
        (
            {"expressions": [{"type": "exact", "field": "a", "value": float("nan")}]},
            "expressions[0].value: must be a finite number",
        ),
        (
            {"expressions": [{"type": "exact", "field": "a", "value": float("-inf")}]},
            "expressions[0].value: must be a finite number",
        ),
        (
            {"expressions": [{"type": "exact", "field": "a", "value": 1, "case_insensitive": 1}]},
            "expressions[0].case_insensitive: must be true or false, not a number",
        ),
        (
            {"expressions": [{"type": "exact", "field": "a", "value": 1, "sub_string": "x"}]},
            f"expressions[0]: unknown key 'sub_string'; {KEYS}",
        ),
        (
            {"expressions": [{"type": "contains", "field": "a", "value": "x"}]},
            "expressions[0]: unknown key 'value'; keys: case_insensitive, field, invert,"
            " sub_string, type",
        ),
        (
            {"expressions": [{"type": "contains", "field": "a", "sub_string": ""}]},
            "expressions[0].sub_string: must be a non-empty string",
        ),
        (
            {"expressions": [{"type": "contains", "field": "a", "sub_string": 5}]},
            "expressions[0].sub_string: must be a non-empty string",
        ),
        (
            {"expressions": [{"type": "compare", "field": "a", "value": 1}]},
            "expressions[0]: missing key 'operator'",
        ),
        (
            {"expressions": [{"type": "compare", "field": "a", "operator": "==", "value": 1}]},
            "expressions[0].operator: must be one of <, >, <=, >=, not '=='",
        ),
        (
            {"expressions": [{"type": "compare", "field": "a", "operator": ["<"], "value": 1}]},
            "expressions[0].operator: must be one of <, >, <=, >=, not an array",
        ),
        (
            {"expressions": [{"type": "compare", "field": "a", "operator": "<", "value": True}]},
            "expressions[0].value: must be a string or a number, not a boolean",
        ),
        (
            {"expressions": [{"type": "compare", "field": "a", "operator": "<", "value": None}]},
            "expressions[0].value: must be a string or a number, not null",
        ),
        (
            {
                "expressions": [
                    {
                        "type": "compare",
                        "field": "a",
                        "operator": "<",
                        "value": 1,
                        "case_insensitive": True,
                    }
                ]
            },
            "expressions[0]: unknown key 'case_insensitive'; keys: field, invert, operator,"
            " type, value",
        ),
        # and, or.
        (
            {"expressions": [{"type": "and", "sub_expressions": [ISNULL]}]},
            "expressions[0].sub_expressions: must have at least 2 items, not 1",
        ),
        (
            {"expressions": [{"type": "or", "sub_expressions": []}]},
            "expressions[0].sub_expressions: must have at least 2 items, not 0",
        ),
        (
            {"expressions": [{"type": "or", "sub_expressions": {}}]},
            "expressions[0].sub_expressions: must be an array, not an object",
        ),
        ({"expressions": [{"type": "and"}]}, "expressions[0]: missing key 'sub_expressions'"),
        (
            {"expressions": [{"type": "and", "field": "a", "sub_expressions": _two(ISNULL)}]},
            "expressions[0]: unknown key 'field'; keys: invert, sub_expressions, type",
        ),
        (
            {
                "expressions": [
                    ISNULL,
                    {
                        "type": "and",
                        "sub_expressions": _two({"type": "isnull", "field": "b", "foo": 1}),
                    },
                ]
            },
            "expressions[1].sub_expressions[1]: unknown key 'foo'; keys: field, invert, type",
        ),
        (
            {
                "expressions": [
                    {"type": "and", "sub_expressions": _two({"type": "and", "sub_expressions": []})}
                ]
            },
            "expressions[0].sub_expressions[1]: 'and' is not allowed here; allowed: compare,"
            " contains, exact, isnull",
        ),
        (
            {
                "expressions": [
                    {"type": "and", "sub_expressions": _two({"type": "or", "sub_expressions": []})}
                ]
            },
            "expressions[0].sub_expressions[1]: 'or' is not allowed here; allowed: compare,"
            " contains, exact, isnull",
        ),
        (
            {
                "expressions": [
                    {"type": "or", "sub_expressions": _two({"type": "or", "sub_expressions": []})}
                ]
            },
            f"expressions[0].sub_expressions[1]: 'or' is not allowed here; allowed: {OR_TYPES}",
        ),
        (
            {
                "expressions": [
                    {
                        "type": "or",
                        "sub_expressions": _two(
                            {
                                "type": "and",
                                "sub_expressions": _two({"type": "exact", "field": "b"}),
                            }
                        ),
                    }
                ]
            },
            "expressions[0].sub_expressions[1].sub_expressions[1]: missing key 'value'",
        ),
        # order_by.
        ({"order_by": {}}, "order_by: must be an array, not an object"),
        ({"order_by": ["name"]}, "order_by[0]: must be an object, not a string"),
        ({"order_by": [{"field": "a"}, {}]}, "order_by[1]: missing key 'field'"),
        (
            {"order_by": [{"field": "a", "descending": True}]},
            "order_by[0]: unknown key 'descending'; keys: ascending, field, nulls_first",
        ),
        (
            {"order_by": [{"field": "a", "ascending": "no"}]},
            "order_by[0].ascending: must be true or false, not a string",
        ),
        (
            {"order_by": [{"field": "a", "nulls_first": None}]},
            "order_by[0].nulls_first: must be true or false, not null",
        ),
        ({"order_by": [{"field": ""}]}, "order_by[0].field: must be a non-empty string"),
        ({"order_by": [{"field": 3}]}, "order_by[0].field: must be a non-empty string"),
    ],
    ids=lambda value: json.dumps(value)[:70] if not isinstance(value, str) else "",
)
def test_refused(body: object, message: str) -> None:
    with pytest.raises(Invalid) as caught:
        parse_filter_spec(body)
    assert caught.value.message.startswith(message)
