"""Image segmentation (``/v1/segments/datasets/{pk}/...``): a dataset's labels, and for
each of its images a *layer* per label, an image (a mask) of the pixels of that label, as
UFDL's python client sends them.

- ``GET`` / ``POST .../labels`` (``{"labels": [...]}``): the dataset's labels, in the
  order given (UFDL's canonical order). They are the dataset's notes (``labels``): UFDL
  keeps them on the dataset, and a layer may be set only for one of them, so they are not
  read off the layers. Setting them drops the layers of labels no longer listed.
- ``GET`` / ``POST .../layers/{filename}/{label}``: a layer's bytes (``application/data``,
  empty when the image has no layer for that label), or new bytes for it, uploaded as a
  file is (with ``Content-Disposition``); the answer is the label.

A layer is kept as a blob the image's entry holds on to: its annotations map each label to
the blob's sha256 (``layers``), and the blob is an attachment of the entry
(``PutFile.attachments``), kept while a version names it and served only to those who may
read the dataset. So every change is a version, copies and merges carry the layers, and
``clear`` removes them but keeps the labels, as UFDL's did. Datasets merge only when their
labels agree (406 otherwise, as in UFDL).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from dataloft.api.pipeline import Call, Routes, streaming
from dataloft.api.transfer import receive_blob, serve_blob
from dataloft.api.ufdl.common import answer, json_object, only_keys, pk, required
from dataloft.api.ufdl.datasets import DATA, PREFIXES, Rule, require_filename
from dataloft.api.ufdl.domain_notes import DomainRoutes, labels_of
from dataloft.core.errors import Invalid
from dataloft.core.named_files import LABELS, LAYERS


def _layers(notes: dict[str, Any]) -> dict[str, str]:
    """An image's layers: label -> the sha256 of its mask."""
    found = notes.get(LAYERS)
    if not isinstance(found, dict):
        return {}
    return {label: digest for label, digest in found.items() if isinstance(digest, str)}


class Segmentation(DomainRoutes):
    def labels(self, call: Call) -> Response:
        self.where(call, Rule.SEE)
        return answer(self.noted(call, LABELS))

    def set_labels(self, call: Call) -> Response:
        """``{"labels": [...]}``, each once: the dataset's labels become these, and the
        layers of the others go."""
        self.where(call, Rule.WRITE)
        body = json_object(call)
        only_keys(body, (LABELS,))
        required(body, LABELS)
        labels = labels_of(body[LABELS], LABELS)
        if len(labels) != len(body[LABELS]):
            raise Invalid(f"labels: Duplicate labels in {body[LABELS]}")
        if any("/" in label for label in labels):
            raise Invalid("labels: a label cannot hold '/' (it ends the URL of its layers)")
        changes: dict[str, dict[str, Any]] = {}
        for name, (_, notes) in call.loft.named_versions.files(pk(call)).items():
            gone = {label: None for label in _layers(notes) if label not in labels}
            if gone:
                changes[name] = {LAYERS: gone}
        call.loft.named_versions.annotate(call.actor, pk(call), changes, notes={LABELS: labels})
        return answer(labels)

    def _layer_of(self, call: Call, rule: Rule, action: str) -> tuple[str, str, str | None]:
        """The image and label the path names (a label of the dataset's), and the sha256
        of the image's layer for it, if it has one."""
        self.where(call, rule).address()  # a deleted dataset's files are not reached
        name, notes = self.named_file(call)
        label = call.param("label")
        labels = self.noted(call, LABELS)
        if label not in labels:
            raise Invalid(f"Bad value for {action} parameter 'label': {label}, options: {labels}")
        return name, label, _layers(notes).get(label)

    def layer(self, call: Call) -> Response:
        _, label, digest = self._layer_of(call, Rule.SEE, "get_layer")
        if digest is None:
            return Response(b"", media_type=DATA)
        found = call.loft.attachments.get(call.actor, digest)
        return serve_blob(
            call.request,
            call.loft.blobs,
            found.blob,
            etag=f'"{digest}"',
            modified=found.created,
            media_type=DATA,
            filename=label,
        )

    async def set_layer(self, call: Call) -> Response:
        require_filename(call)
        name, label, _ = await call.in_thread(self._layer_of, call, Rule.WRITE, "set_layer")
        stored = await receive_blob(call.request, call.loft.blobs)
        await call.in_thread(
            call.loft.named_versions.annotate,
            call.actor,
            pk(call),
            {name: {LAYERS: {label: stored.digest}}},
            uploads=[stored],
        )
        return answer(label)

    def routes(self, prefix: str) -> Routes:
        base = f"/v1/{prefix}/datasets/{{pk:int}}"
        return {
            f"{base}/labels": {"GET": self.labels, "POST": self.set_labels},
            f"{base}/layers/{{filename:anypath}}/{{label}}": {
                "GET": self.layer,
                "POST": streaming(self.set_layer),
            },
        }


ROUTES: Routes = Segmentation(PREFIXES["segments"]).routes("segments")
