"""Object detection (``/v1/objdet/datasets/{pk}/...``): the boxes drawn on each image or
video of a dataset, with their labels and prefixes, in the shapes of UFDL's JSON messages
(``ufdl.json.object_detection``) as its python client sends them.

UFDL gives a file an *annotations container* when its file type is set: the file's
format, its dimensions and, for a video, its length. Boxes hang off the container, so a
file takes boxes only once its type is set, and a video's boxes say when (``time``) while
an image's do not. Here both are the file's annotations (``NamedVersions.annotate``):

- ``file_type``: ``{"format"?, "dimensions"?, "length"?}``, set once (a video's has a
  length); ``clear`` keeps it, as UFDL's clear kept the containers;
- ``annotations``: the boxes, each ``{"x", "y", "width", "height", "polygon"?, "label",
  "prefix", "time"?}`` (``prefix`` is ``"Object"`` unless given).

So every change is a version of the dataset, and copies and merges carry them.

UFDL keeps a dataset's labels and prefixes in tables of their own, which every box added
fills and only deleting a label or prefix empties. Here those the boxes use are read off
the boxes, and those added by ``POST .../labels`` (``.../prefixes``) are kept in the
dataset's notes; a dataset lists both. So a label that no box uses any more and that was
never added by hand leaves the list (UFDL listed it until it was deleted), and a copy
takes the hand-added labels along (UFDL's took those of the boxes it copied). Deleting a
label or a prefix deletes the boxes that use it (UFDL's prefix deletion deleted the
label of that name instead).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from typing import Any

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes
from dataloft.api.ufdl.common import answer, json_body, json_object, only_keys, pk
from dataloft.api.ufdl.datasets import PREFIXES, Rule
from dataloft.api.ufdl.domain_notes import MAX_LABEL, DomainRoutes, labels_of
from dataloft.core.errors import Invalid
from dataloft.core.named_files import FILE_TYPE, LABELS, stored_name

ANNOTATIONS = "annotations"
NOTED_PREFIXES = "prefixes"  # in the dataset's notes, beside ``labels``
DEFAULT_PREFIX = "Object"
MAX_FORMAT = 16  # UFDL's column took 4 characters ("jpeg"), on PostgreSQL; SQLite took any
# UFDL's columns for coordinates and sizes are 32-bit integers.
SMALLEST, LARGEST = -(2**31), 2**31 - 1
# Every file's boxes in one body (``POST .../annotations``); one file's are bounded by the
# entry metadata a file may have (64 KiB of JSON, some 600 boxes).
MAX_ANNOTATIONS_BODY = 16 * 1024 * 1024
_TYPE_KEYS = ("format", "dimensions", "length")
_BOX = ("x", "y", "width", "height")


# --- the shapes of UFDL's messages -------------------------------------------------------


def _object(value: Any, where: str, allowed: Collection[str], needed: Collection[str]) -> Any:
    if not isinstance(value, dict):
        raise Invalid(f"{where}: must be an object")
    only_keys(value, allowed, where)
    missing = [key for key in needed if key not in value]
    if missing:
        raise Invalid("; ".join(f"{where}.{key}: This field is required." for key in missing))
    return value


def _integer(value: Any, where: str, smallest: int = SMALLEST) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not smallest <= value <= LARGEST:
        raise Invalid(f"{where}: must be an integer from {smallest} to {LARGEST}")
    return value


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
        raise Invalid(f"{where}: must be a number of at least 0")
    return float(value)


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_LABEL:
        raise Invalid(f"{where}: must be a string of 1 to {MAX_LABEL} characters")
    return value


def _polygon(value: Any, where: str) -> dict[str, Any]:
    points = _object(value, where, ("points",), ("points",))["points"]
    if not isinstance(points, list) or len(points) < 3:
        raise Invalid(f"{where}.points: must be a list of at least 3 points")
    for index, point in enumerate(points):
        if not isinstance(point, list) or len(point) != 2:
            raise Invalid(f"{where}.points[{index}]: must be a point [x, y]")
        for coordinate in point:
            _integer(coordinate, f"{where}.points[{index}]")
    return {"points": points}


def _box(value: Any, where: str) -> dict[str, Any]:
    """An ``ImageAnnotation``, or a ``VideoAnnotation`` (with ``time``)."""
    raw = _object(value, where, (*_BOX, "polygon", "label", "prefix", "time"), (*_BOX, "label"))
    box: dict[str, Any] = {key: _integer(raw[key], f"{where}.{key}") for key in ("x", "y")}
    for key in ("width", "height"):
        box[key] = _integer(raw[key], f"{where}.{key}", 0)
    if "polygon" in raw:
        box["polygon"] = _polygon(raw["polygon"], f"{where}.polygon")
    box["label"] = _name(raw["label"], f"{where}.label")
    box["prefix"] = _name(raw["prefix"], f"{where}.prefix") if "prefix" in raw else DEFAULT_PREFIX
    if "time" in raw:
        box["time"] = _seconds(raw["time"], f"{where}.time")
    return box


def _boxes(value: Any, where: str, video: bool) -> list[dict[str, Any]]:
    """A file's boxes: a video's each have a time, an image's none."""
    if not isinstance(value, list):
        raise Invalid(f"{where}: must be a list of annotations")
    boxes = [_box(item, f"{where}[{index}]") for index, item in enumerate(value)]
    for index, box in enumerate(boxes):
        if ("time" in box) != video:
            kind = "a video's annotations need" if video else "an image's annotations have no"
            raise Invalid(f"{where}[{index}]: {kind} time")
    return boxes


def _file_type(raw: dict[str, Any], where: str) -> dict[str, Any]:
    """A ``FileType`` (the file-type part of an ``Image`` or ``Video``)."""
    found: dict[str, Any] = {}
    if "format" in raw:
        value = raw["format"]
        if not isinstance(value, str) or len(value) > MAX_FORMAT:
            raise Invalid(f"{where}.format: must be a string of at most {MAX_FORMAT} characters")
        found["format"] = value
    if "dimensions" in raw:
        value = raw["dimensions"]
        if not isinstance(value, list) or len(value) != 2:
            raise Invalid(f"{where}.dimensions: must be [width, height]")
        found["dimensions"] = [_integer(size, f"{where}.dimensions", 1) for size in value]
    if "length" in raw:
        found["length"] = _seconds(raw["length"], f"{where}.length")
    return found


def _is_video(file_type: dict[str, Any]) -> bool:
    return "length" in file_type


def _typed(files: dict[str, tuple[str, dict[str, Any]]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The files whose type is set, with their annotations."""
    for name, (_, notes) in files.items():
        if isinstance(notes.get(FILE_TYPE), dict):
            yield name, notes


def _unboxed(files: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The changes that take every file's boxes away."""
    return {name: {ANNOTATIONS: None} for name, (_, notes) in files.items() if ANNOTATIONS in notes}


def _boxes_of(notes: dict[str, Any]) -> list[dict[str, Any]]:
    boxes = notes.get(ANNOTATIONS)
    return [box for box in boxes if isinstance(box, dict)] if isinstance(boxes, list) else []


# --- the routes ----------------------------------------------------------------------------


class ObjectDetection(DomainRoutes):
    """The routes the python client's object-detection actions call."""

    # --- every file's boxes ---

    def annotations(self, call: Call) -> Response:
        """``{filename: {"format"?, "dimensions"?, "length"?, "annotations"}}`` for every
        file whose type is set (UFDL's ``AnnotationsFile``)."""
        self.where(call, Rule.SEE)
        files = call.loft.named_versions.files(pk(call))
        return answer(
            {
                name: {**notes[FILE_TYPE], ANNOTATIONS: _boxes_of(notes)}
                for name, notes in _typed(files)
            }
        )

    def set_annotations(self, call: Call) -> Response:
        """An ``AnnotationsFile``: every file's boxes go, and those given come. A file
        whose type is not set takes the one given; one whose type is set keeps it (as in
        UFDL), and its boxes must be of its kind."""
        self.where(call, Rule.WRITE)
        body = json_object(call, limit=MAX_ANNOTATIONS_BODY)
        files = call.loft.named_versions.files(pk(call))
        changes = _unboxed(files)
        for filename, value in body.items():
            raw = _object(value, filename, (*_TYPE_KEYS, ANNOTATIONS), (ANNOTATIONS,))
            given = _file_type(raw, filename)
            boxes = _boxes(raw[ANNOTATIONS], f"{filename}.annotations", _is_video(given))
            name = stored_name(files, filename)
            patch: dict[str, Any] = {ANNOTATIONS: boxes or None}
            current = files[name][1].get(FILE_TYPE)
            if not isinstance(current, dict):
                patch[FILE_TYPE] = given
            elif boxes and _is_video(current) != _is_video(given):
                kind = "a video" if _is_video(current) else "an image"
                raise Invalid(f"Bad name {filename!r}: the file is {kind} (its file type says so)")
            changes[name] = patch
        call.loft.named_versions.annotate(call.actor, pk(call), changes)
        return answer({})

    def clear_annotations(self, call: Call) -> Response:
        """Every file's boxes go; their types stay."""
        self.where(call, Rule.WRITE)
        files = call.loft.named_versions.files(pk(call))
        changes = _unboxed(files)
        call.loft.named_versions.annotate(call.actor, pk(call), changes)
        return answer({})

    # --- one file's boxes ---

    def file_annotations(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        return answer(_boxes_of(self.named_file(call)[1]))

    def _change_file(self, call: Call, *, add: bool) -> Response:
        self.where(call, Rule.WRITE)
        body = json_body(call, limit=MAX_ANNOTATIONS_BODY)
        if not isinstance(body, list):
            raise Invalid("the body must be a list of annotations")
        name, notes = self.named_file(call)
        file_type = notes.get(FILE_TYPE)
        if not isinstance(file_type, dict):
            if not body:  # nothing to hang on a container there is none of
                return answer({})
            raise Invalid(f"Bad name {name!r}: File-type not set")
        boxes = _boxes(body, "annotations", _is_video(file_type))
        if add:
            boxes = _boxes_of(notes) + boxes
        call.loft.named_versions.annotate(
            call.actor, pk(call), {name: {ANNOTATIONS: boxes or None}}
        )
        return answer({})

    def set_file_annotations(self, call: Call) -> Response:
        """The file's boxes become these."""
        return self._change_file(call, add=False)

    def add_file_annotations(self, call: Call) -> Response:
        """These boxes join the file's."""
        return self._change_file(call, add=True)

    def delete_file_annotations(self, call: Call) -> Response:
        self.where(call, Rule.WRITE)
        name, _ = self.named_file(call)
        call.loft.named_versions.annotate(call.actor, pk(call), {name: {ANNOTATIONS: None}})
        return answer({})

    # --- file types ---

    def file_type(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        name, notes = self.named_file(call)
        found = notes.get(FILE_TYPE)
        if not isinstance(found, dict):
            raise Invalid(f"Bad name {name!r}: File-type not set")
        return answer(found)

    def set_file_type(self, call: Call) -> Response:
        """A ``FileType``, once per file (UFDL refuses a second)."""
        self.where(call, Rule.WRITE)
        given = _file_type(_object(json_object(call), "body", _TYPE_KEYS, ()), "body")
        name, notes = self.named_file(call)
        if FILE_TYPE in notes:
            raise Invalid(f"Bad name {name!r}: File-type already set")
        call.loft.named_versions.annotate(call.actor, pk(call), {name: {FILE_TYPE: given}})
        return answer({})

    def file_types(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        files = call.loft.named_versions.files(pk(call))
        return answer({name: notes[FILE_TYPE] for name, notes in _typed(files)})

    def routes(self, prefix: str) -> Routes:
        base = f"/v1/{prefix}/datasets/{{pk:int}}"
        labels = Vocabulary(self, "label", LABELS)
        prefixes = Vocabulary(self, "prefix", NOTED_PREFIXES)
        return {
            f"{base}/annotations": {
                "GET": self.annotations,
                "POST": self.set_annotations,
                "DELETE": self.clear_annotations,
            },
            f"{base}/annotations/{{filename:anypath}}": {
                "GET": self.file_annotations,
                "POST": self.set_file_annotations,
                "PATCH": self.add_file_annotations,
                "DELETE": self.delete_file_annotations,
            },
            f"{base}/labels": {"GET": labels.listed, "POST": labels.add},
            f"{base}/labels/{{name:anypath}}": {"DELETE": labels.delete},
            f"{base}/prefixes": {"GET": prefixes.listed, "POST": prefixes.add},
            f"{base}/prefixes/{{name:anypath}}": {"DELETE": prefixes.delete},
            f"{base}/file-type/{{filename:anypath}}": {
                "GET": self.file_type,
                "POST": self.set_file_type,
            },
            f"{base}/file-types": {"GET": self.file_types},
        }


class Vocabulary:
    """A dataset's labels (or prefixes): those its boxes use under ``key``, and those
    added by hand, kept in the dataset's notes under ``noted``."""

    def __init__(self, routes: ObjectDetection, key: str, noted: str) -> None:
        self.routes = routes
        self.key = key
        self.noted = noted

    def listed(self, call: Call) -> Response:
        """In order (UFDL sorts them)."""
        self.routes.where(call, Rule.SEE)
        files = call.loft.named_versions.files(pk(call))
        used = {
            box.get(self.key)
            for _, (_, notes) in files.items()
            for box in _boxes_of(notes)
            if isinstance(box.get(self.key), str)
        }
        return answer(sorted(used | set(self.routes.noted(call, self.noted))))

    def add(self, call: Call) -> Response:
        """A list of names."""
        self.routes.where(call, Rule.WRITE)
        given = labels_of(json_body(call), self.noted)
        added = sorted(set(self.routes.noted(call, self.noted)) | set(given))
        call.loft.named_versions.annotate(call.actor, pk(call), {}, notes={self.noted: added})
        return answer({})

    def delete(self, call: Call) -> Response:
        """The name goes, and so do the boxes that use it."""
        self.routes.where(call, Rule.WRITE)
        name = call.param("name")
        files = call.loft.named_versions.files(pk(call))
        changes: dict[str, dict[str, Any]] = {}
        for filename, (_, notes) in files.items():
            boxes = _boxes_of(notes)
            kept = [box for box in boxes if box.get(self.key) != name]
            if len(kept) != len(boxes):
                changes[filename] = {ANNOTATIONS: kept or None}
        added = self.routes.noted(call, self.noted)
        notes = {self.noted: [other for other in added if other != name]}
        call.loft.named_versions.annotate(call.actor, pk(call), changes, notes=notes)
        return answer({})


ROUTES: Routes = ObjectDetection(PREFIXES["objdet"]).routes("objdet")
