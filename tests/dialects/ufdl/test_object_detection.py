"""Object detection's annotations (``/v1/objdet/datasets/{pk}/...``) as UFDL's python client
sends them: file types, each file's boxes, every file's at once, labels and prefixes. They
are the files' annotations: versions of the dataset, carried by copies and merges, removed
by clear (which keeps the file types, as UFDL's did)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.conftest import User
from tests.dialects.ufdl.conftest import Ufdl, Workspace, domain_dataset, refused, upload
from tests.support import LiveServer

OD = "/objdet/datasets"
CAT = {"x": 1, "y": 2, "width": 30, "height": 40, "label": "cat"}
DOG = {
    "x": -5,
    "y": 0,
    "width": 0,
    "height": 7,
    "label": "dog",
    "prefix": "Animal",
    "polygon": {"points": [[0, 0], [10, 0], [5, 8]]},
}


def _stored(box: dict[str, Any]) -> dict[str, Any]:
    """A box as the server answers it: the prefix is "Object" unless given."""
    return {"prefix": "Object", **box}


def _dataset(client: Ufdl, project: int, *files: str, **fields: Any) -> int:
    pk: int = domain_dataset(client, "objdet", project, **fields)["pk"]
    for name in files:
        assert upload(client, pk, name, name.encode(), prefix="/objdet").status_code == 200
    return pk


def _ok(response: httpx.Response, expected: Any = None) -> Any:
    assert response.status_code == 200, response.text
    if expected is not None:
        assert response.json() == expected
    return response.json()


def test_file_types_and_one_files_boxes(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    pk = _dataset(a, workspace.project["pk"], "img.jpg", "clips/walk.mp4", "plain.txt")
    url = f"{OD}/{pk}"
    refused(a.http.get(f"{url}/file-type/img.jpg"), 400, "img.jpg", "File-type not set")
    image_type = {"format": "jpg", "dimensions": [640, 480]}
    _ok(a.http.post(f"{url}/file-type/img.jpg", json=image_type), {})
    refused(a.http.post(f"{url}/file-type/img.jpg", json={}), 400, "File-type already set")
    video_type = {"format": "mp4", "dimensions": [1920, 1080], "length": 12.5}
    _ok(a.http.post(f"{url}/file-type/clips/walk.mp4", json=video_type), {})
    _ok(a.http.get(f"{url}/file-type/img.jpg"), image_type)
    _ok(a.http.get(f"{url}/file-types"), {"img.jpg": image_type, "clips/walk.mp4": video_type})
    refused(a.http.get(f"{url}/file-type/nope.jpg"), 400, "Bad name 'nope.jpg': Doesn't exist")

    # One file's boxes: POST replaces, PATCH adds, DELETE takes them away.
    assert a.http.get(f"{url}/annotations/img.jpg").json() == []
    _ok(a.http.post(f"{url}/annotations/img.jpg", json=[CAT]), {})
    _ok(a.http.patch(f"{url}/annotations/img.jpg", json=[DOG, CAT]), {})
    boxes = [_stored(CAT), DOG, _stored(CAT)]
    _ok(a.http.get(f"{url}/annotations/img.jpg"), boxes)
    _ok(a.http.post(f"{url}/annotations/img.jpg", json=[DOG]), {})
    _ok(a.http.get(f"{url}/annotations/img.jpg"), [DOG])

    # A video's boxes say when; an image's do not.
    moment = {**CAT, "time": 1.5}
    _ok(a.http.post(f"{url}/annotations/clips/walk.mp4", json=[moment]), {})
    _ok(a.http.get(f"{url}/annotations/clips/walk.mp4"), [_stored(moment)])
    refused(a.http.patch(f"{url}/annotations/clips/walk.mp4", json=[CAT]), 400, "need", "time")
    refused(a.http.patch(f"{url}/annotations/img.jpg", json=[moment]), 400, "no time")

    # A file takes boxes once its type is set (an empty list changes nothing).
    refused(a.http.post(f"{url}/annotations/plain.txt", json=[CAT]), 400, "File-type not set")
    _ok(a.http.post(f"{url}/annotations/plain.txt", json=[]), {})

    _ok(
        a.http.get(f"{url}/annotations"),
        {
            "img.jpg": {**image_type, "annotations": [DOG]},
            "clips/walk.mp4": {**video_type, "annotations": [_stored(moment)]},
        },
    )
    _ok(a.http.delete(f"{url}/annotations/img.jpg"), {})
    _ok(a.http.get(f"{url}/annotations/img.jpg"), [])
    _ok(a.http.get(f"{url}/file-type/img.jpg"), image_type)  # the type stays


def test_every_files_annotations_at_once(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    pk = _dataset(a, workspace.project["pk"], "a.jpg", "b.jpg", "c.mp4")
    url = f"{OD}/{pk}"
    _ok(a.http.post(f"{url}/file-type/a.jpg", json={"format": "jpg"}))
    _ok(a.http.post(f"{url}/annotations/a.jpg", json=[CAT]))
    # What the client's set_annotations sends: an AnnotationsFile. Every file's boxes go
    # and these come; b.jpg and c.mp4 take the types given, a.jpg keeps its own.
    body = {
        "b.jpg": {"dimensions": [10, 20], "annotations": [DOG]},
        "c.mp4": {"length": 3, "annotations": [{**CAT, "time": 0}]},
        "a.jpg": {"format": "png", "annotations": []},
    }
    _ok(a.http.post(f"{url}/annotations", json=body), {})
    _ok(
        a.http.get(f"{url}/annotations"),
        {
            "a.jpg": {"format": "jpg", "annotations": []},
            "b.jpg": {"dimensions": [10, 20], "annotations": [DOG]},
            "c.mp4": {"length": 3.0, "annotations": [_stored({**CAT, "time": 0.0})]},
        },
    )
    # A file whose type is set keeps it: a video's boxes do not go on an image.
    video_boxes = a.http.post(
        f"{url}/annotations", json={"b.jpg": {"length": 1, "annotations": [{**CAT, "time": 0}]}}
    )
    refused(video_boxes, 400, "b.jpg", "an image")
    refused(
        a.http.post(f"{url}/annotations", json={"nope.jpg": {"annotations": []}}),
        400,
        "Doesn't exist",
    )
    _ok(a.http.delete(f"{url}/annotations"), {})
    answer = _ok(a.http.get(f"{url}/annotations"))
    assert {name: entry["annotations"] for name, entry in answer.items()} == {
        "a.jpg": [],
        "b.jpg": [],
        "c.mp4": [],
    }
    assert answer["c.mp4"]["length"] == 3.0


def test_labels_and_prefixes(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    pk = _dataset(a, workspace.project["pk"], "a.jpg", "b.jpg")
    url = f"{OD}/{pk}"
    for name in ("a.jpg", "b.jpg"):
        _ok(a.http.post(f"{url}/file-type/{name}", json={}))
    _ok(a.http.post(f"{url}/annotations/a.jpg", json=[CAT, DOG]))
    _ok(a.http.post(f"{url}/annotations/b.jpg", json=[{**CAT, "prefix": "Animal"}]))
    # Those the boxes use, and those added by hand, in order.
    _ok(a.http.get(f"{url}/labels"), ["cat", "dog"])
    _ok(a.http.post(f"{url}/labels", json=["zebra", "ant", "cat"]), {})
    _ok(a.http.get(f"{url}/labels"), ["ant", "cat", "dog", "zebra"])
    _ok(a.http.get(f"{url}/prefixes"), ["Animal", "Object"])
    _ok(a.http.post(f"{url}/prefixes", json=["Plant"]), {})
    _ok(a.http.get(f"{url}/prefixes"), ["Animal", "Object", "Plant"])
    refused(a.http.post(f"{url}/labels", json="cat"), 400, "labels")
    refused(a.http.post(f"{url}/labels", json=[""]), 400, "labels")

    # Deleting a label deletes the boxes that use it.
    _ok(a.http.delete(f"{url}/labels/cat"), {})
    _ok(a.http.get(f"{url}/annotations/a.jpg"), [DOG])
    _ok(a.http.get(f"{url}/annotations/b.jpg"), [])
    _ok(a.http.get(f"{url}/labels"), ["ant", "dog", "zebra"])
    _ok(a.http.delete(f"{url}/labels/zebra"), {})
    _ok(a.http.delete(f"{url}/labels/never-there"), {})
    _ok(a.http.get(f"{url}/labels"), ["ant", "dog"])
    # So does deleting a prefix (UFDL deleted the label of that name instead).
    _ok(a.http.delete(f"{url}/prefixes/Animal"), {})
    _ok(a.http.get(f"{url}/annotations/a.jpg"), [])
    _ok(a.http.get(f"{url}/prefixes"), ["Plant"])
    _ok(a.http.get(f"{url}/labels"), ["ant"])


BAD_BOXES: list[tuple[Any, list[str]]] = [
    ({**CAT, "colour": "red"}, ["unknown key", "colour"]),
    ({"x": 1, "y": 2, "width": 3, "label": "cat"}, ["annotations[0].height", "required"]),
    ({**CAT, "x": "1"}, ["annotations[0].x", "integer"]),
    ({**CAT, "y": 1.5}, ["annotations[0].y", "integer"]),
    ({**CAT, "x": True}, ["annotations[0].x", "integer"]),
    ({**CAT, "width": -1}, ["annotations[0].width", "from 0"]),
    ({**CAT, "x": 2**31}, ["annotations[0].x"]),
    ({**CAT, "label": ""}, ["annotations[0].label"]),
    ({**CAT, "label": 5}, ["annotations[0].label"]),
    ({**CAT, "prefix": ""}, ["annotations[0].prefix"]),
    ({**CAT, "time": -1}, ["annotations[0].time", "at least 0"]),
    ({**CAT, "polygon": {"points": [[0, 0], [1, 1]]}}, ["polygon.points", "at least 3"]),
    ({**CAT, "polygon": {"points": [[0, 0], [1, 1], [2]]}}, ["points[2]"]),
    ({**CAT, "polygon": {"points": [[0, 0], [1, 1], [2, "2"]]}}, ["points[2]", "integer"]),
    ({**CAT, "polygon": {"points": [[0, 0], [1, 1], [2, 2]], "x": 1}}, ["unknown key"]),
    ({**CAT, "polygon": [[0, 0], [1, 1], [2, 2]]}, ["polygon", "object"]),
    ("cat", ["annotations[0]", "object"]),
]


def test_a_box_out_of_shape_isrefused(writer: Ufdl, workspace: Workspace) -> None:
    pk = _dataset(writer, workspace.project["pk"], "a.jpg")
    _ok(writer.http.post(f"{OD}/{pk}/file-type/a.jpg", json={}))
    for box, words in BAD_BOXES:
        refused(writer.http.patch(f"{OD}/{pk}/annotations/a.jpg", json=[box]), 400, *words)
        refused(writer.http.post(f"{OD}/{pk}/annotations/a.jpg", json=[CAT, box]), 400, "[1]")
    _ok(writer.http.get(f"{OD}/{pk}/annotations/a.jpg"), [])


def test_file_types_and_bodies_out_of_shape_arerefused(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    pk = _dataset(a, workspace.project["pk"], "a.jpg")
    url = f"{OD}/{pk}"
    for body, words in [
        ({"size": 3}, ["unknown key", "size"]),
        ({"dimensions": [0, 5]}, ["dimensions", "from 1"]),
        ({"dimensions": [5]}, ["dimensions"]),
        ({"length": -1}, ["length", "at least 0"]),
        ({"length": "long"}, ["length"]),
        ({"format": 7}, ["format"]),
        ([], ["object"]),
    ]:
        refused(a.http.post(f"{url}/file-type/a.jpg", json=body), 400, *words)
    refused(a.http.get(f"{url}/file-type/a.jpg"), 400, "File-type not set")
    _ok(a.http.post(f"{url}/file-type/a.jpg", json={}))
    refused(a.http.post(f"{url}/annotations/a.jpg", json={"boxes": []}), 400, "list")
    for body, words in [
        ({"a.jpg": {"format": "jpg"}}, ["a.jpg.annotations", "required"]),
        ({"a.jpg": {"annotations": [], "extra": 1}}, ["unknown key", "extra"]),
        ({"a.jpg": {"annotations": "none"}}, ["a.jpg.annotations", "list"]),
        ({"a.jpg": []}, ["a.jpg", "object"]),
        ([], ["object"]),
    ]:
        refused(a.http.post(f"{url}/annotations", json=body), 400, *words)


def test_who_may_read_and_change_them(
    workspace: Workspace,
    as_user: Callable[[User], Ufdl],
    alice: User,
    bob: User,
    make_user: Callable[..., User],
    server: LiveServer,
) -> None:
    workspace.join(alice.username, "W")
    workspace.join(bob.username, "R")
    a, b, carol = as_user(alice), as_user(bob), as_user(make_user("carol"))
    pk = _dataset(a, workspace.project["pk"], "a.jpg")
    url = f"{OD}/{pk}"
    _ok(a.http.post(f"{url}/file-type/a.jpg", json={}))
    _ok(a.http.post(f"{url}/annotations/a.jpg", json=[CAT]))
    reads = ["annotations", "annotations/a.jpg", "labels", "prefixes", "file-types"]
    reads.append("file-type/a.jpg")
    writes: list[tuple[str, str, Any]] = [
        ("POST", "annotations", {}),
        ("DELETE", "annotations", None),
        ("POST", "annotations/a.jpg", []),
        ("PATCH", "annotations/a.jpg", []),
        ("DELETE", "annotations/a.jpg", None),
        ("POST", "labels", ["x"]),
        ("DELETE", "labels/cat", None),
        ("POST", "prefixes", ["x"]),
        ("DELETE", "prefixes/Object", None),
        ("POST", "file-type/a.jpg", {}),
    ]
    for path in reads:  # a reader (R) reads; a stranger does not see the dataset
        assert b.http.get(f"{url}/{path}").status_code == 200, path
        assert carol.http.get(f"{url}/{path}").status_code == 404, path
    for method, path, body in writes:
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        assert b.http.request(method, f"{url}/{path}", **kwargs).status_code == 403, path
        assert carol.http.request(method, f"{url}/{path}", **kwargs).status_code == 404, path
    _ok(a.http.get(f"{url}/annotations/a.jpg"), [_stored(CAT)])

    # A public dataset's annotations are anyone's to read, nobody's but writers' to change.
    _ok(a.http.patch(f"/objdet/datasets/{pk}", json={"is_public": True}))
    public = httpx.Client(base_url=server.url + "/v1", timeout=30)
    with public:
        _ok(public.get(f"{url}/annotations/a.jpg"), [_stored(CAT)])
        assert public.post(f"{url}/annotations/a.jpg", json=[]).status_code == 401
        assert carol.http.post(f"{url}/annotations/a.jpg", json=[]).status_code == 403


def test_copies_merges_and_clear(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    project = workspace.project["pk"]
    pk = _dataset(a, project, "a.jpg")
    url = f"{OD}/{pk}"
    _ok(a.http.post(f"{url}/file-type/a.jpg", json={"format": "jpg"}))
    _ok(a.http.post(f"{url}/annotations/a.jpg", json=[CAT]))
    _ok(a.http.post(f"{url}/labels", json=["owl"]))

    copy = _ok(a.http.post(f"{url}/copy", json={}))
    assert copy["domain"] == "Object Detection"
    copied = f"{OD}/{copy['pk']}"
    _ok(
        a.http.get(f"{copied}/annotations"),
        {"a.jpg": {"format": "jpg", "annotations": [_stored(CAT)]}},
    )
    _ok(a.http.get(f"{copied}/labels"), ["cat", "owl"])

    # A merge brings the source's files with their types and boxes.
    source = _dataset(a, project, "b.jpg")
    _ok(a.http.post(f"{OD}/{source}/file-type/b.jpg", json={"length": 2}))
    _ok(a.http.post(f"{OD}/{source}/annotations/b.jpg", json=[{**DOG, "time": 1}]))
    _ok(a.http.post(f"{url}/merge/{source}", json={"delete": False}))
    merged = _ok(a.http.get(f"{url}/annotations"))
    assert merged["b.jpg"] == {"length": 2.0, "annotations": [{**DOG, "time": 1.0}]}
    assert merged["a.jpg"]["annotations"] == [_stored(CAT)]

    # Clear takes the boxes (and metadata) away; file types and hand-added labels stay.
    _ok(a.http.delete(f"{url}/clear"))
    _ok(
        a.http.get(f"{url}/annotations"),
        {
            "a.jpg": {"format": "jpg", "annotations": []},
            "b.jpg": {"length": 2.0, "annotations": []},
        },
    )
    _ok(a.http.get(f"{url}/labels"), ["owl"])
    # The copy is a dataset of its own: it kept its boxes.
    _ok(a.http.get(f"{copied}/annotations/a.jpg"), [_stored(CAT)])


def test_each_change_is_a_version(writer: Ufdl, workspace: Workspace, alice: User) -> None:
    a = writer
    made = domain_dataset(a, "objdet", workspace.project["pk"])
    pk = made["pk"]
    upload(a, pk, "a.jpg", b"a", prefix="/objdet")
    address = f"/datasets/{alice.username}/{made['name']}-v1"
    before = alice.client.get(address).json()["version"]
    _ok(a.http.post(f"{OD}/{pk}/file-type/a.jpg", json={"format": "jpg"}))
    _ok(a.http.post(f"{OD}/{pk}/annotations/a.jpg", json=[CAT]))
    _ok(a.http.post(f"{OD}/{pk}/labels", json=["owl"]))
    assert alice.client.get(address).json()["version"] == before + 3
    # The native API shows them in the file's entry metadata, beside UFDL's string.
    [entry] = alice.client.get(f"{address}/files").json()["items"]
    assert entry["metadata"] == {
        "ufdl": "",
        "file_type": {"format": "jpg"},
        "annotations": [_stored(CAT)],
    }
    dataset = alice.client.get(address).json()
    assert dataset["metadata"] == {"ufdl": {"labels": ["owl"]}}


def test_a_dataset_of_another_domain_is_not_found(writer: Ufdl, workspace: Workspace) -> None:
    a = writer
    classify = domain_dataset(a, "classify", workspace.project["pk"])["pk"]
    upload(a, classify, "a.jpg", b"a", prefix="/classify")
    for path in ("annotations", "annotations/a.jpg", "labels", "prefixes", "file-types"):
        refused(a.http.get(f"{OD}/{classify}/{path}"), 404, "No Dataset matches")
    refused(a.http.post(f"{OD}/{classify}/file-type/a.jpg", json={}), 404)
    core = _dataset(a, workspace.project["pk"])
    assert a.http.get(f"/classify/datasets/{core}/categories").status_code == 404
    assert a.http.get(f"{OD}/999999999/annotations").status_code == 404
