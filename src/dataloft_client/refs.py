"""Names of datasets and of things in them, as users type them.

A dataset is ``"owner/name"``. A *ref* also says which version and which path:
``owner/name@v1.0/path/in/it``, ``owner/name@7``, ``owner/name/path``, ``owner/name``.
The version part is a number, or else a tag's name (tags are names that are not all
digits). Owners and tags hold no ``/``; a dataset name may hold ``@`` (not ``/``), so the
version starts at the *last* ``@`` of the name segment: write ``owner/a@b@7`` for version
7 of the dataset ``a@b`` (plain ``owner/a@b`` means the dataset ``a`` at the tag ``b``).
"""

from __future__ import annotations

from typing import NamedTuple


class Ref(NamedTuple):
    owner: str
    name: str
    version: int | str | None
    path: str

    @property
    def repo(self) -> str:
        return f"{self.owner}/{self.name}"


def split_repo(repo: str) -> tuple[str, str]:
    """``"owner/name"`` -> ``("owner", "name")``; ValueError for anything else."""
    owner, slash, name = repo.partition("/")
    if not slash or not owner or not name or "/" in name:
        raise ValueError(f"a dataset is 'owner/name', not {repo!r}")
    return owner, name


def parse_version(text: str) -> int | str:
    """A version as typed: all digits is a number, anything else a tag's name."""
    if not text:
        raise ValueError("an empty version: write a number or a tag name after '@'")
    return int(text) if text.isascii() and text.isdigit() else text


def parse_ref(ref: str) -> Ref:
    """``"owner/name@v1.0/path/in/it"`` -> ``Ref("owner", "name", "v1.0", "path/in/it")``;
    the version is ``None`` and the path ``""`` when left out."""
    owner, slash, rest = ref.partition("/")
    name_part, _, path = rest.partition("/")
    if not slash or not owner or not name_part:
        raise ValueError(f"a ref is 'owner/name[@version][/path]', not {ref!r}")
    name, at, version_text = name_part.rpartition("@")
    if not at:
        return Ref(owner, name_part, None, path)
    if not name:
        raise ValueError(f"no dataset name before '@' in {ref!r}")
    return Ref(owner, name, parse_version(version_text), path)
