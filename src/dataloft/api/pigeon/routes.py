"""Every Pigeon Optics route, in one table: path, then a handler for each method.

HTML forms can only POST, so ``POST ?_method=PUT`` (or DELETE) is dispatched as the method
it names (``common.method_of``, the dialect's ``method_of``); a method a path does not
take is a 405 with ``Allow``. Handlers are plain functions run in the threadpool, except
the streaming ones (record writes, which may carry multipart attachments, and the event
stream).
"""

from __future__ import annotations

from collections.abc import Mapping

from dataloft.api.pigeon import (
    attachments,
    datasets,
    exports,
    lenses,
    records,
    rendering,
    sessions,
    stream,
)
from dataloft.api.pigeon.lenses import lens_only, lens_only_streaming
from dataloft.api.pipeline import Handler, PlainHandler, public, streaming

DATASET = "/datasets/{spec}"
DATASET_ROUTES: Mapping[str, PlainHandler | Handler] = {
    "GET": datasets.show_dataset,
    "DELETE": datasets.delete_dataset,
}

LENS = "/lenses/{spec}"
LENS_ROUTES: Mapping[str, PlainHandler | Handler] = {
    "GET": lenses.show_lens,
    "DELETE": lenses.delete_lens,
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
    (DATASET + "/as/{format}/{record_id:anypath}", {"GET": rendering.render_record}),
    (DATASET + "/event-stream", {"GET": streaming(stream.event_stream)}),
    (DATASET + "/export", {"GET": exports.legacy_export}),
    (DATASET + "/export/{which}", {"GET": exports.export}),
    (DATASET + "/zip", {"GET": exports.legacy_zip}),
    ("/lenses/", {"GET": lenses.list_lenses}),
    ("/lenses/create", {"PUT": lenses.create_lens}),
    ("/lenses/ephemeral", {"POST": lenses.ephemeral}),
    (LENS, LENS_ROUTES),
    (LENS + "/", LENS_ROUTES),
    (
        LENS + "/configuration",
        {"GET": lenses.show_configuration, "PUT": lenses.set_configuration},
    ),
    (LENS + "/configuration/{which}", {"GET": lenses.show_code}),
    (LENS + "/logs", {"GET": lenses.show_logs}),
    (LENS + "/records/", {"GET": lens_only(records.show_index)}),
    (LENS + "/records/{record_id:anypath}", {"GET": lens_only(records.show_record)}),
    (LENS + "/as/{format}/{record_id:anypath}", {"GET": lens_only(rendering.render_record)}),
    (LENS + "/event-stream", {"GET": streaming(lens_only_streaming(stream.event_stream))}),
    (LENS + "/export", {"GET": lens_only(exports.legacy_export)}),
    (LENS + "/export/{which}", {"GET": lens_only(exports.export)}),
    (LENS + "/zip", {"GET": lens_only(exports.legacy_zip)}),
    ("/attachments/{digest:hex64}", {"GET": attachments.attachment}),
    ("/attachments/{digest:hex64}/meta", {"GET": attachments.attachment_meta}),
]
