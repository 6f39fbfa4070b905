"""A file's media type, guessed from its name: once per suffixes, and always what
``mimetypes`` would say of the whole path."""

from __future__ import annotations

import mimetypes

from hypothesis import given
from hypothesis import strategies as st

from dataloft.core.plan import guess_media_type

SUFFIXES = sorted(
    {*mimetypes.types_map, *mimetypes.encodings_map, *mimetypes.suffix_map, ".", "..", ".X"}
)
names = st.builds(
    lambda folder, stem, suffixes: folder + stem + "".join(suffixes),
    st.sampled_from(["", "d/", "e.f/", "data:"]),
    st.sampled_from(["", "a", ".", "..", "b.c", "Upper"]),
    st.lists(st.sampled_from(SUFFIXES), max_size=3),
)


def expected(path: str) -> str:
    return mimetypes.guess_type(path, strict=False)[0] or "application/octet-stream"


@given(names)
def test_the_guess_is_what_mimetypes_says_of_the_path(path: str) -> None:
    assert guess_media_type(path) == expected(path)


def test_some_guesses() -> None:
    assert guess_media_type("photos/robin.jpg") == "image/jpeg"
    assert guess_media_type("a/b.tar.gz") == "application/x-tar"  # gzip is its encoding
    assert guess_media_type("..json") == "application/octet-stream"  # a hidden file
    assert guess_media_type(".config.json") == "application/json"
    assert guess_media_type("data:text/plain,x") == "text/plain"
