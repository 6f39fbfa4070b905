"""What UFDL's domains keep of each file, on their datasets' prefixes:

- image and spectrum classification (``/v1/classify/``, ``/v1/spectra/``): each file's
  categories, ``GET`` / ``POST`` (replace) / ``PATCH`` (add or remove) ``.../categories``;
- speech (``/v1/speech/``): each file's transcription, ``.../transcriptions``;
- object detection and image segmentation: in ``object_detection.py`` and
  ``segmentation.py``, on ``DomainRoutes`` below.

They are the file's annotations in the core (``NamedVersions.annotate``): part of its
entry, so each change is a version, copies and merges carry them and ``clear`` removes
them. A dataset of another domain is not found under a domain's prefix.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes
from dataloft.api.ufdl.common import answer, json_object, only_keys, pk, required
from dataloft.api.ufdl.datasets import NOT_FOUND, Rule, require
from dataloft.core.errors import Invalid, NotFound
from dataloft.core.named_queries import Where

CATEGORIES = "categories"
TRANSCRIPTION = "transcription"
MAX_LABEL = 200
MAX_LABELS = 1000
MAX_TRANSCRIPTION = 60_000


def labels_of(value: Any, what: str) -> list[str]:
    """A list of labels (categories, ...) as a body gives them, each once."""
    if not isinstance(value, list) or len(value) > MAX_LABELS:
        raise Invalid(f"{what}: must be a list of at most {MAX_LABELS} strings")
    for item in value:
        if not isinstance(item, str) or not 0 < len(item) <= MAX_LABEL:
            raise Invalid(f"{what}: each must be a string of 1 to {MAX_LABEL} characters")
    return list(dict.fromkeys(value))


class DomainRoutes:
    """What the routes of every domain share: they reach the datasets of their domain
    only, by UFDL's rules of who may do what, and read the files' annotations."""

    def __init__(self, domain: str) -> None:
        self.domain = domain

    def where(self, call: Call, rule: Rule) -> Where:
        where = call.loft.named_versions.where(pk(call))
        if where.domain != self.domain:
            raise NotFound(NOT_FOUND)
        require(call.actor, rule, where)
        return where

    def per_file(self, call: Call, key: str, empty: Any) -> dict[str, Any]:
        files = call.loft.named_versions.files(pk(call))
        return {name: notes.get(key, empty) for name, (_, notes) in files.items()}

    def named_file(self, call: Call) -> tuple[str, dict[str, Any]]:
        """The file the path names (``filename``), as stored, and its annotations."""
        nv = call.loft.named_versions
        name = nv.file_name(pk(call), call.param("filename"))
        return name, nv.files(pk(call))[name][1]

    def noted(self, call: Call, key: str) -> list[str]:
        """The names the dataset's notes list under ``key`` (its labels, say)."""
        found = call.loft.named_versions.notes(pk(call)).get(key)
        return [name for name in found if isinstance(name, str)] if isinstance(found, list) else []


class DomainNotes(DomainRoutes):
    """Categories and transcriptions."""

    # --- categories ---

    def categories(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        return answer(self.per_file(call, CATEGORIES, []))

    def file_categories(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        return answer(self.named_file(call)[1].get(CATEGORIES, []))

    def set_categories(self, call: Call) -> Response:
        """``{filename: [categories]}``: those files' categories become these."""
        self.where(call, Rule.WRITE)
        body = json_object(call)
        changes = {
            name: {CATEGORIES: labels_of(value, name) or None} for name, value in body.items()
        }
        call.loft.named_versions.annotate(call.actor, pk(call), changes)
        return answer(self.per_file(call, CATEGORIES, []))

    def change_categories(self, call: Call) -> Response:
        """``{"method": "add" | "remove", "images": [...], "categories": [...]}``: the
        changed files' categories."""
        self.where(call, Rule.WRITE)
        body = json_object(call)
        only_keys(body, ("method", "images", "categories"))
        required(body, "method", "images", "categories")
        method = body["method"]
        if method not in ("add", "remove"):
            raise Invalid(f"method: must be add or remove, not {method!r}")
        images, labels = (
            labels_of(body["images"], "images"),
            labels_of(body["categories"], "categories"),
        )
        current = self.per_file(call, CATEGORIES, [])
        changed: dict[str, list[str]] = {}
        for image in images:
            if image not in current:
                raise Invalid(f"Bad name {image!r}: Doesn't exist")
            had: list[str] = current[image]
            if method == "add":
                changed[image] = had + [label for label in labels if label not in had]
            else:
                changed[image] = [label for label in had if label not in labels]
        call.loft.named_versions.annotate(
            call.actor,
            pk(call),
            {name: {CATEGORIES: cats or None} for name, cats in changed.items()},
        )
        return answer(changed)

    # --- transcriptions ---

    def transcriptions(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        return answer(self.per_file(call, TRANSCRIPTION, ""))

    def file_transcription(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        return answer({TRANSCRIPTION: self.named_file(call)[1].get(TRANSCRIPTION, "")})

    def set_transcription(self, call: Call) -> Response:
        self.where(call, Rule.WRITE)
        body = json_object(call)
        only_keys(body, (TRANSCRIPTION,))
        required(body, TRANSCRIPTION)
        text = body[TRANSCRIPTION]
        if not isinstance(text, str) or len(text) > MAX_TRANSCRIPTION:
            raise Invalid(
                f"transcription: must be a string of at most {MAX_TRANSCRIPTION} characters"
            )
        filename = call.param("filename")
        call.loft.named_versions.annotate(
            call.actor, pk(call), {filename: {TRANSCRIPTION: text or None}}
        )
        return answer({TRANSCRIPTION: text})


def _categories(prefix: str, domain: str) -> Routes:
    notes = DomainNotes(domain)
    base = f"/v1/{prefix}/datasets/{{pk:int}}/categories"
    return {
        base: {
            "GET": notes.categories,
            "POST": notes.set_categories,
            "PATCH": notes.change_categories,
        },
        base + "/{filename:anypath}": {"GET": notes.file_categories},
    }


def _transcriptions(prefix: str, domain: str) -> Routes:
    notes = DomainNotes(domain)
    base = f"/v1/{prefix}/datasets/{{pk:int}}/transcriptions"
    return {
        base: {"GET": notes.transcriptions},
        base + "/{filename:anypath}": {
            "GET": notes.file_transcription,
            "POST": notes.set_transcription,
        },
    }


ROUTES: Routes = {
    **_categories("classify", "ic"),
    **_categories("spectra", "sc"),
    **_transcriptions("speech", "sp"),
}
