"""The OpenAPI document's rules for names, paths and text (``api/native/constraints.py``)
say what the core's validators do: a value the schema allows is one the core accepts, and
one it refuses the core refuses, on generated input of every script, control characters
and edge lengths included. Schemas are judged by ``jsonschema_rs``, the validator
schemathesis itself uses, so patterns are read as ECMA-262 reads them."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache, partial
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dataloft.api.native.constraints import RULES, text
from dataloft.config import Settings
from dataloft.core.errors import Invalid
from dataloft.core.names import (
    check_not_reserved,
    check_text,
    validate_dataset_name,
    validate_digest,
    validate_media_type,
    validate_path,
    validate_record_id,
    validate_username,
)
from dataloft.core.passwords import check_password_rules
from dataloft.core.symlinks import validate_symlink_target

SETTINGS = Settings(max_name_length=40, max_path_length=60, min_password_length=6)
# Strings from every script and category (control and format characters too), short and
# long, and strings built from the characters the rules care about most.
TRICKY = st.sampled_from(list("a.-_/\\ \t\n\x00\x85\u00a0\u200b\u2028\ufeff\U000e0001é0Z%*"))
VALUES = st.one_of(
    st.text(max_size=80),
    st.text(TRICKY, max_size=80),
    st.lists(st.text(TRICKY, min_size=1, max_size=4), max_size=6).map("/".join),
)
FUZZ = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _accepts(check: Callable[[str], object], value: str) -> bool:
    try:
        check(value)
    except Invalid:
        return False
    return True


@cache
def _validator(rule: str) -> Any:
    return jsonschema_rs.validator_for({"type": "string", **json.loads(rule)})


def _allows(rule: dict[str, Any], value: str) -> bool:
    # Compiled once per rule: the patterns' bounded repeats make compiling the slow part.
    allowed: bool = _validator(json.dumps(rule, sort_keys=True)).is_valid(value)
    return allowed


def _new_owner(name: str) -> None:
    check_not_reserved(validate_username(name))


# rule -> the core's check of the same values
EXACT: dict[str, Callable[[str], object]] = {
    "account_name": validate_username,
    "new_owner_name": _new_owner,
    "dataset_name": lambda name: validate_dataset_name(name, SETTINGS.max_name_length),
    "record_id": validate_record_id,
    "password": lambda password: check_password_rules(password, SETTINGS.min_password_length),
    "sha256": validate_digest,
    "media_type": validate_media_type,
}


def _utf8_over(path: str, limit: int) -> bool:
    return len(path.encode()) > limit or any(len(s.encode()) > 255 for s in path.split("/"))


@pytest.mark.parametrize("name", sorted(EXACT))
def test_each_rule_allows_exactly_what_its_validator_accepts(name: str) -> None:
    schema = RULES[name](SETTINGS)

    @FUZZ
    @given(VALUES)
    @example("Admin")
    @example("..")
    @example(" padded")
    @example("a" * 41)
    @example("0" * 64)
    @example("text/plain; charset=utf-8")
    def check(value: str) -> None:
        assert _allows(schema, value) == _accepts(EXACT[name], value), value

    check()


@FUZZ
@given(VALUES)
@example("a/../b")
@example("./a")
@example("a" * 256)
@example("é" * 200)
def test_the_path_rule_agrees_with_validate_path_but_counts_characters(path: str) -> None:
    """JSON Schema counts characters; the core counts UTF-8 bytes. They agree on every path
    whose UTF-8 is within the limits; above them the schema may allow what the core
    refuses, never the other way round."""
    schema = RULES["path"](SETTINGS)
    accepted = _accepts(lambda p: validate_path(p, SETTINGS.max_path_length), path)
    if _utf8_over(path, SETTINGS.max_path_length):
        assert not accepted
    else:
        assert _allows(schema, path) == accepted, path


@FUZZ
@given(VALUES)
@example("../escape")
@example("/absolute")
def test_the_symlink_rule_refuses_only_targets_the_core_refuses(target: str) -> None:
    """Whether a target leaves the dataset depends on the link's folder too, which a
    pattern of the target alone cannot know: the schema states the rest."""
    schema = RULES["symlink_target"](SETTINGS)
    for link in ("top", "deep/down/link"):
        if _accepts(partial(validate_symlink_target, link), target):
            assert _allows(schema, target), (link, target)


@FUZZ
@given(VALUES)
def test_free_text_allows_exactly_what_check_text_accepts(value: str) -> None:
    assert _allows(text(50), value) == _accepts(lambda v: check_text(v, "text", 50), value)


@pytest.mark.parametrize("name", sorted(RULES))
def test_patterns_have_no_lookarounds_so_generators_can_draw_from_them(name: str) -> None:
    """Hypothesis' ``from_regex`` (what schemathesis generates strings with) cannot draw
    from a lookaround; it filters instead, and a list of such items (a commit's changes)
    then fails to generate at all."""
    pattern = RULES[name](SETTINGS).get("pattern", "")
    assert not any(look in pattern for look in ("(?=", "(?!", "(?<")), pattern[:80]
