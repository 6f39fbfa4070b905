"""Every Pigeon Optics route, in one table: path, handler, methods.

Handlers read the method themselves (``common.method_of``) because HTML forms send
``POST ?_method=PUT``; each answers 405 with ``Allow`` for methods it does not serve.
"""

from __future__ import annotations

import dataloft.api.routing  # noqa: F401  (registers the "anypath" and "hex64" convertors)
from dataloft.api.pigeon import attachments, datasets, exports, record_routes, sessions, stream
from dataloft.api.pigeon.common import Handler

ANY = ["GET", "HEAD", "PUT", "POST", "DELETE"]
READ = ["GET", "HEAD"]
DATASET = "/datasets/{spec}"

ROUTES: list[tuple[str, Handler, list[str]]] = [
    ("/auth", sessions.login, ["GET", "POST"]),
    ("/auth/logout", sessions.logout, ["GET"]),
    ("/authors/", datasets.list_authors, READ),
    ("/authors/{author}/", datasets.show_author, READ),
    ("/datasets/", datasets.list_datasets, READ),
    ("/datasets/create", datasets.create_dataset, ["PUT", "POST", "GET"]),
    (DATASET, datasets.dataset, ANY),
    (DATASET + "/", datasets.dataset, ANY),
    (DATASET + "/configuration", datasets.configuration, ANY),
    (DATASET + "/records/", record_routes.record_index, ANY),
    (DATASET + "/records/{record_id:anypath}", record_routes.record, ANY),
    (DATASET + "/event-stream", stream.event_stream, READ),
    (DATASET + "/export", exports.legacy_export, READ),
    (DATASET + "/export/{which}", exports.export, READ),
    (DATASET + "/zip", exports.legacy_zip, READ),
    ("/attachments/{digest:hex64}", attachments.attachment, READ),
    ("/attachments/{digest:hex64}/meta", attachments.attachment_meta, READ),
]
