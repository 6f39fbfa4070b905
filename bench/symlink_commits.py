"""Does checking symlink chains keep commits independent of the dataset's size?

A commit that changes symlinks resolves every live symlink of the dataset
(``dataloft.core.symlinks``), read through an index of live symlinks, so its cost should
follow the number of links, not of files. Two datasets hold the same links (``--links``,
chains through each other); one also holds 100,000 files, the other 10. Each gets the
same stream of commits adding one symlink that leads through the others, interleaved so
that drift affects both alike; the ratio compares median latencies, big over small. The
same is measured for commits adding one file, which must not read the links at all.

Run: ``.venv/bin/python bench/symlink_commits.py [--files 100000] [--links 100]``
"""

from __future__ import annotations

import argparse
import hashlib
import time
from typing import Any

import httpx

from common import dataloft_server, report_medians

TARGET = 2.0
BATCH = 10_000


def commit(client: httpx.Client, dataset: str, changes: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    response = client.post(f"/datasets/admin/{dataset}/commits", json={"changes": changes})
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def seed(client: httpx.Client, dataset: str, files: int, links: int, digest: str) -> None:
    """``files`` files in folders of 1,000, and ``links`` links: ``lnk/<i>`` leads through
    ``lnk/0`` (to ``d000``), up to the root and down to ``d<i>``."""
    for start in range(0, files, BATCH):
        changes = [
            {"op": "put_file", "path": f"d{i // 1000:03d}/f{i:06d}", "sha256": digest}
            for i in range(start, min(start + BATCH, files))
        ]
        commit(client, dataset, changes)
    chain = [{"op": "put_symlink", "path": "lnk/0", "target": "../d000"}]
    chain += [
        {"op": "put_symlink", "path": f"lnk/{i}", "target": f"0/../d{i:03d}"}
        for i in range(1, links)
    ]
    commit(client, dataset, chain)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--links", type=int, default=100)
    parser.add_argument("--commits", type=int, default=100)
    args = parser.parse_args()
    with dataloft_server() as loft, loft.client() as client:
        content = b"one file"
        digest = hashlib.sha256(content).hexdigest()
        client.put(f"/blobs/{digest}", content=content).raise_for_status()
        for name in ("big", "small"):
            client.post("/datasets", json={"name": name}).raise_for_status()
        seed(client, "big", args.files, args.links, digest)
        seed(client, "small", 10, args.links, digest)

        def link(index: int) -> list[dict[str, Any]]:
            target = f"lnk/{index % args.links}/new"
            return [{"op": "put_symlink", "path": f"new/l{index}", "target": f"../{target}"}]

        def file(index: int) -> list[dict[str, Any]]:
            return [{"op": "put_file", "path": f"new/f{index}", "sha256": digest}]

        figures: dict[str, tuple[list[float], list[float]]] = {}
        for kind, change in (("link", link), ("file", file)):
            for index in range(10):  # warm up both
                commit(client, "big", change(-index - 1))
                commit(client, "small", change(-index - 1))
            big, small = [], []
            for index in range(args.commits):
                big.append(commit(client, "big", change(index)))
                small.append(commit(client, "small", change(index)))
            figures[kind] = (big, small)
    for kind, (big, small) in figures.items():
        name = f"commit_one_{kind}_{args.files // 1000}k_files_vs_10_with_{args.links}_links"
        report_medians(name, {"big": big, "small": small}, TARGET)


if __name__ == "__main__":
    main()
