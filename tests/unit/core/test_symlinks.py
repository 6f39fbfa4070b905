"""dataloft.core.symlinks: each target alone, lexically (``validate_symlink_target``), and a
version's links together as the kernel follows them (``LinkResolver``). Each case of the
resolver is checked against Linux itself: the links are made in a temporary folder and
resolved by ``os.path.realpath`` (strict, so a loop is the kernel's ``ELOOP``)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from dataloft.core.errors import Invalid
from dataloft.core.names import ancestors
from dataloft.core.symlinks import (
    LOOPS,
    MAX_HOPS,
    OUTSIDE,
    TARGET_MAX_BYTES,
    TOO_MANY,
    LinkResolver,
    Walk,
    validate_symlink_target,
)

# --- validate_symlink_target -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "target"),
    [
        ("a/b", "../c"),
        ("link", "c"),
        ("link", "x/y/z"),
        ("link", "a/../b"),
        ("link", "."),
        ("a/link", ".."),
        ("a/link", "./x"),
        ("a/b/link", "../../c"),
        ("a/b/link", "../../a/b/c"),
        ("a/b/c/link", "../x/../../y"),
        ("link", "name with spaces/ü"),
        ("link", "x" * TARGET_MAX_BYTES),
    ],
)
def test_validate_symlink_target_accepts(link: str, target: str) -> None:
    assert validate_symlink_target(link, target) == target


@pytest.mark.parametrize(
    ("link", "target", "problem"),
    [
        ("link", "../x", "points outside the dataset"),
        ("link", "..", "points outside the dataset"),
        ("link", "a/../../x", "points outside the dataset"),
        ("link", "x/../..", "points outside the dataset"),
        ("a/link", "../../x", "points outside the dataset"),
        ("a/b/link", "../../../a", "points outside the dataset"),
        ("a/b/link", "c/../../../../x", "points outside the dataset"),
        ("link", "/etc/passwd", "must be a non-empty relative path"),
        ("a/link", "/a/b", "must be a non-empty relative path"),
        ("link", "//x", "must be a non-empty relative path"),
        ("link", "", "must be a non-empty relative path"),
        ("link", "a\x00b", "must be a non-empty relative path"),
        ("link", "x" * (TARGET_MAX_BYTES + 1), f"longer than {TARGET_MAX_BYTES} bytes"),
    ],
)
def test_validate_symlink_target_rejects(link: str, target: str, problem: str) -> None:
    with pytest.raises(Invalid) as caught:
        validate_symlink_target(link, target)
    assert problem in caught.value.message


# --- LinkResolver against the kernel -----------------------------------------------------------

ISSUE_CHAIN = {"a/b/c/d/l": "..", "esc": "a/b/c/d/l/../../../../../x"}
CASES: dict[str, tuple[dict[str, str], dict[str, str | None]]] = {
    # name: (links, what each link resolves to from the root: a path, or the problem)
    "issue chain": (ISSUE_CHAIN, {"a/b/c/d/l": "a/b/c", "esc": OUTSIDE}),
    "chain within": (
        {"a/b/c/d/l": "..", "ok": "a/b/c/d/l/../x", "up": "a/b/c/d/l/../../.."},
        {"a/b/c/d/l": "a/b/c", "ok": "a/b/x", "up": ""},
    ),
    "through two links": (
        {"p/q": "../r/s", "r/s/t": "../../u", "v": "p/q/t/w"},
        {"p/q": "r/s", "r/s/t": "u", "v": "u/w"},
    ),
    "escape two links down": (
        {"p/q": "../r/s", "r/s/t": "../..", "v": "p/q/t/.."},
        {"p/q": "r/s", "r/s/t": "", "v": OUTSIDE},
    ),
    "link to the root": ({"x/y/root": "../..", "z": "x/y/root/x"}, {"x/y/root": "", "z": "x"}),
    "self": ({"l": "l"}, {"l": LOOPS}),
    "through itself": ({"l": "l/x"}, {"l": LOOPS}),
    "pair": ({"x": "y", "y": "x"}, {"x": LOOPS, "y": LOOPS}),
    "into a loop": ({"x": "y", "y": "x", "z": "y/w"}, {"x": LOOPS, "y": LOOPS, "z": LOOPS}),
    "deep folder loop": ({"a/l": "../a/l"}, {"a/l": LOOPS}),
    "dot segments": ({"a/l": "././/../b/."}, {"a/l": "b"}),
}


def chain_of(length: int) -> dict[str, str]:
    """``l0 -> l1 -> ... -> l<length-1> -> file``: ``l<i>`` follows ``length - i`` links."""
    links = {f"l{i}": f"l{i + 1}" for i in range(length - 1)}
    links[f"l{length - 1}"] = "file"
    return links


def kernel(tmp_path: Path, links: dict[str, str]) -> dict[str, str | None]:
    """Where each link leads once made in a folder of its own: a path relative to that
    folder, OUTSIDE, or TOO_MANY when Linux says ``ELOOP`` (a loop, or a long chain).
    ``stat`` asks the kernel itself; ``realpath`` gives the place (it takes ``..`` after a
    link as the kernel does, and a missing name as a folder, as the resolver does)."""
    root = tmp_path / "root"
    root.mkdir()
    for path, target in links.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).symlink_to(target)
    found: dict[str, str | None] = {}
    for path in links:
        try:
            (root / path).stat()
        except FileNotFoundError:
            pass
        except OSError as error:
            assert error.errno == errno.ELOOP, error
            found[path] = TOO_MANY
            continue
        resolved = Path(os.path.realpath(root / path))
        if resolved == root:
            found[path] = ""
        elif root in resolved.parents:
            found[path] = resolved.relative_to(root).as_posix()
        else:
            found[path] = OUTSIDE
    return found


def shape(resolver: LinkResolver, place: str | None) -> str | None:
    """A place as far as the resolver tells places apart: the folders on the way to links
    by name, the segments below them as ``?`` (only their number matters)."""
    if place in (None, OUTSIDE, LOOPS, TOO_MANY) or not place:
        return place
    segments = place.split("/")
    known = sum(1 for folder in ancestors(place + "/x") if folder in resolver.folders)
    return "/".join(segments[:known] + ["?"] * (len(segments) - known))


def resolved(resolver: LinkResolver, path: str) -> str | None:
    walk = resolver.resolve(path)
    if walk.problem is not None:
        return walk.problem
    return "/".join([resolver.paths[node] for node in walk.inside[-1:]] + ["?"] * walk.below)


@pytest.mark.parametrize("name", CASES)
def test_resolver_agrees_with_the_kernel(name: str, tmp_path: Path) -> None:
    links, expected = CASES[name]
    resolver = LinkResolver(links, links)
    found = {path: resolved(resolver, path) for path in links}
    assert found == {path: shape(resolver, place) for path, place in expected.items()}
    by_linux = kernel(tmp_path, links)
    assert by_linux == {path: TOO_MANY if e == LOOPS else e for path, e in expected.items()}


def test_a_chain_of_max_hops_links_resolves_and_one_more_does_not(tmp_path: Path) -> None:
    links = chain_of(MAX_HOPS + 5)
    resolver = LinkResolver(links, links)
    hops = {path: resolver.resolve(path).hops for path in links}
    refused = {path for path in links if resolver.resolve(path).problem == TOO_MANY}
    assert refused == {f"l{i}" for i in range(5)}
    assert hops["l5"] == MAX_HOPS
    by_linux = kernel(tmp_path, links)
    assert {path for path, found in by_linux.items() if found == TOO_MANY} == refused


def test_resolving_in_another_order_gives_the_same_answers() -> None:
    """Results are memoised; a link first met deep inside another's chain must get the
    answer it gets on its own."""
    links = chain_of(MAX_HOPS + 5)
    forward = LinkResolver(links, links)
    backward = LinkResolver(links, links)
    first = {path: forward.resolve(path).problem for path in links}
    second = {path: backward.resolve(path).problem for path in reversed(list(links))}
    assert first == second


# --- which links a commit answers for ----------------------------------------------------------


def test_check_refuses_a_changed_link_that_escapes() -> None:
    with pytest.raises(Invalid) as caught:
        LinkResolver(ISSUE_CHAIN, {"esc"}).check()
    message = caught.value.message
    assert "'esc' -> 'a/b/c/d/l/../../../../../x' points outside" in message
    assert "following 'a/b/c/d/l' -> '..'" in message


def test_check_refuses_a_link_whose_chain_goes_through_a_changed_path() -> None:
    with pytest.raises(Invalid, match="'esc'"):
        LinkResolver(ISSUE_CHAIN, {"a/b/c/d/l"}).check()


def test_check_refuses_a_link_whose_chain_went_through_a_removed_link() -> None:
    """Without the deep link ``a/L``, ``a/b/P/L/../../..`` climbs out: ``P`` leads up to
    ``a``, and ``L`` is a plain name there."""
    links = {"a/b/P": "..", "M": "a/b/P/L/../../.."}
    with pytest.raises(Invalid, match="'M'"):
        LinkResolver(links, {"a/L"}).check()
    LinkResolver({**links, "a/L": "x/y/z"}, {"a/L"}).check()


def test_check_refuses_a_link_whose_chain_entered_a_deleted_folder() -> None:
    links = {"a/b/P": "..", "M": "a/b/P/F/L/../../../.."}
    with pytest.raises(Invalid, match="'M'"):
        LinkResolver(links, {"a/F"}).check()


def test_check_leaves_alone_links_the_change_does_not_reach() -> None:
    """A chain that escaped before this rule existed is not the business of a commit that
    changes links elsewhere."""
    LinkResolver({**ISSUE_CHAIN, "other/l": "../y"}, {"other/l"}).check()
    LinkResolver({**ISSUE_CHAIN, "x": "y", "y": "x"}, {"z"}).check()


def test_below_the_folders_that_lead_to_links_a_walk_counts_segments() -> None:
    """Only the folders on the way to a link (or a changed path) are named; below them a
    walk keeps a count, which climbs out all the same."""
    resolver = LinkResolver({"a/l": "../b/c/../../..", "a/m": "../b/c/d/../../.."}, ())
    assert resolver.folders == {"a"}
    assert resolver.resolve("a/l").problem == OUTSIDE
    assert resolver.resolve("a/m") == Walk(inside=(), below=0, hops=1, touched=False)
