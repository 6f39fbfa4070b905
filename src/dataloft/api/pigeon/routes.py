"""Every Pigeon Optics route, in one table: path, then a handler for each method.

HTML forms can only POST, so ``POST ?_method=PUT`` (or DELETE) is dispatched as the method
it names (``common.method_of``, the dialect's ``method_of``); a method a path does not
take is a 405 with ``Allow``. Handlers are plain functions run in the threadpool, except
the streaming ones (record writes, which may carry multipart attachments, and the event
stream).
"""

from __future__ import annotations

from collections.abc import Mapping

from dataloft.api.pigeon import attachments, datasets, exports, records, sessions, stream
from dataloft.api.pipeline import Handler, PlainHandler, public, streaming

DATASET = "/datasets/{spec}"
DATASET_ROUTES: Mapping[str, PlainHandler | Handler] = {
    "GET": datasets.show_dataset,
    "DELETE": datasets.delete_dataset,
}

ROUTES: list[tuple[str, Mapping[str, PlainHandler | Handler]]] = [
    ("/auth", {"GET": public(sessions.login_form), "POST": public(sessions.login)}),
    ("/auth/logout", {"GET": public(sessions.logout_form), "POST": public(sessions.logout)}),
    ("/authors/", {"GET": datasets.list_authors}),
    ("/authors/{author}/", {"GET": datasets.show_author}),
    ("/datasets/", {"GET": datasets.list_datasets}),
    ("/datasets/create", {"PUT": datasets.create_dataset}),
    (DATASET, DATASET_ROUTES),
    (DATASET + "/", DATASET_ROUTES),
    (
        DATASET + "/configuration",
        {"GET": datasets.show_configuration, "PUT": datasets.set_configuration},
    ),
    (
        DATASET + "/records/",
        {
            "GET": records.show_index,
            "POST": streaming(records.merge_records),
            "PUT": streaming(records.replace_records),
        },
    ),
    (
        DATASET + "/records/{record_id:anypath}",
        {
            "GET": records.show_record,
            "PUT": streaming(records.write_record),
            "DELETE": records.delete_record,
        },
    ),
    (DATASET + "/event-stream", {"GET": streaming(stream.event_stream)}),
    (DATASET + "/export", {"GET": exports.legacy_export}),
    (DATASET + "/export/{which}", {"GET": exports.export}),
    (DATASET + "/zip", {"GET": exports.legacy_zip}),
    ("/attachments/{digest:hex64}", {"GET": attachments.attachment}),
    ("/attachments/{digest:hex64}/meta", {"GET": attachments.attachment_meta}),
]
