"""The web UI's dataset page on a dataset of ``--files`` files (100,000) against the same
page on one of 10, in one run: a page reads a page of the top folder, its README and the
version picker's versions and tags, never the whole dataset, so the two should cost about
the same (target: at most 1.5 times).

Both datasets are made by one user through the native API (the files share one blob, as
the page reads none of them but the README), in 100 folders plus 100 files at the top, so
the top folder's listing jumps over big folders as a real tree's would. The pages are
fetched signed in (a session cookie, as a browser sends it), ``--rounds`` times each,
alternating; the figure is each side's median.

Run: ``.venv/bin/python bench/web_pages.py [--files 100000] [--rounds 60]``
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time

import httpx

from common import ADMIN_PASSWORD, Loft, dataloft_server, report_medians

TARGET = 1.5
COMMIT = 10_000  # changes per commit: the large dataset is ten versions


def make_dataset(loft: Loft, client: httpx.Client, name: str, files: int) -> None:
    client.post("/datasets", json={"name": name}).raise_for_status()
    data = b"a file of the benchmark\n"
    digest = hashlib.sha256(data).hexdigest()
    client.put(f"/blobs/{digest}", content=data).raise_for_status()
    readme = b"# A dataset\n\nOf many files.\n"
    client.put(f"/datasets/admin/{name}/files/README.md", content=readme).raise_for_status()
    paths = [f"top{n:03d}.txt" for n in range(min(100, files))]
    paths += [f"d{n % 100:02d}/f{n:07d}.txt" for n in range(max(files - len(paths), 0))]
    for start in range(0, len(paths), COMMIT):
        changes = [
            {"op": "put_file", "path": path, "sha256": digest}
            for path in paths[start : start + COMMIT]
        ]
        client.post(f"/datasets/admin/{name}/commits", json={"changes": changes}).raise_for_status()


def signed_in(loft: Loft, password: str) -> httpx.Client:
    browser = httpx.Client(base_url=loft.url, timeout=60)
    form = browser.get("/ui/-/signin").text
    token = re.search(r'name="csrf" value="([^"]*)"', form)
    assert token is not None
    fields = {"csrf": token.group(1), "username": "admin", "password": password}
    signed = browser.post("/ui/-/signin", data=fields, headers={"Origin": loft.url})
    assert signed.status_code == 303, signed.text
    return browser


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    with dataloft_server() as loft, loft.client() as client:
        make_dataset(loft, client, "small", 10)
        make_dataset(loft, client, "large", args.files)
        browser = signed_in(loft, ADMIN_PASSWORD)
        timings: dict[str, list[float]] = {"large": [], "small": []}
        try:
            for _ in range(args.rounds):
                for name in ("large", "small"):
                    started = time.perf_counter()
                    page = browser.get(f"/ui/admin/{name}")
                    timings[name].append(time.perf_counter() - started)
                    page.raise_for_status()
                    assert "A dataset" in page.text  # the README, rendered
        finally:
            browser.close()
        report_medians(f"web_dataset_page_{args.files}_vs_10_files", timings, TARGET)


if __name__ == "__main__":
    main()
