"""Does page 50 of an Algorithmia listing cost what page 1 costs?

One collection of 60,000 files (plus 60 folders of 500 files each, which a listing must
jump over) is listed page by page at 1,000 entries a page through ``/v1/data/``; the ratio
compares the median latency of fetching page 50 with that of page 1, each fetched with the
marker the previous page gave. A listing that skipped rows with OFFSET, or walked every
file of a folder to report it once, would grow with the page number.

Run: ``.venv/bin/python bench/algorithmia_listing.py [--files 60000] [--rounds 20]``
"""

from __future__ import annotations

import argparse
import hashlib
import time

import httpx

from common import dataloft_server, report_medians

TARGET = 1.5
BATCH = 10_000
PAGE = 1000


def seed(client: httpx.Client, collection: str, files: int) -> None:
    """``files`` top-level files and, among them, a folder of 500 files every 1,000
    files (so that every page has one to jump over); one blob for all."""
    content = b"listing benchmark"
    digest = hashlib.sha256(content).hexdigest()
    client.put(f"/blobs/{digest}", content=content).raise_for_status()
    paths = [f"file-{i:06d}.txt" for i in range(files)]
    paths += [
        f"file-{k * 1000 + 500:06d}-dir/inner-{i:03d}.txt"
        for k in range(files // 1000)
        for i in range(500)
    ]
    for start in range(0, len(paths), BATCH):
        changes = [
            {"op": "put_file", "path": path, "sha256": digest}
            for path in paths[start : start + BATCH]
        ]
        response = client.post(f"/datasets/admin/{collection}/commits", json={"changes": changes})
        response.raise_for_status()


def markers(algo: httpx.Client, collection: str, pages: int) -> list[str | None]:
    """The marker that leads to each page (None for page 1)."""
    found: list[str | None] = [None]
    for _ in range(pages - 1):
        params = {"marker": found[-1]} if found[-1] else {}
        body = algo.get(f"/v1/data/admin/{collection}", params=params).json()
        found.append(body["marker"])
    return found


def page_seconds(algo: httpx.Client, collection: str, marker: str | None) -> float:
    params = {"marker": marker} if marker else {}
    started = time.perf_counter()
    response = algo.get(f"/v1/data/admin/{collection}", params=params)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    assert len(response.json().get("files", [])) + len(response.json().get("folders", [])) == PAGE
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with dataloft_server() as loft, loft.client() as client:
        client.post("/datasets", json={"name": "listing"}).raise_for_status()
        seed(client, "listing", args.files)
        with httpx.Client(
            base_url=loft.url, headers={"Authorization": f"Simple {loft.token}"}, timeout=60
        ) as algo:
            leads = markers(algo, "listing", 50)
            first, fiftieth = leads[0], leads[49]
            for _ in range(3):  # warm up
                page_seconds(algo, "listing", first)
                page_seconds(algo, "listing", fiftieth)
            page_1, page_50 = [], []
            for _ in range(args.rounds):
                page_1.append(page_seconds(algo, "listing", first))
                page_50.append(page_seconds(algo, "listing", fiftieth))
    report_medians(
        "algorithmia_listing_page_50_vs_1", {"page_50": page_50, "page_1": page_1}, TARGET
    )


if __name__ == "__main__":
    main()
