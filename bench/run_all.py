"""Run every benchmark in turn and print one line of JSON per figure.

Run: ``.venv/bin/python bench/run_all.py`` (needs nginx, wrk, curl and dd on the PATH; see
bench/README.md). Results are also appended to bench/results/latest.jsonl.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = (
    "transfer.py",
    "s3_transfer.py",
    "commit_scaling.py",
    "symlink_commits.py",
    "record_get.py",
    "algorithmia_listing.py",
    "pigeon_attachments.py",
    "pigeon_index.py",
    "pigeon_bulk.py",
    "listings.py",
    "ufdl_files.py",
    "pbench_upload.py",
    "pbench_contents.py",
    "lens_incremental.py",
    "push_pull.py",
    "web_pages.py",
    "asgi_servers.py",
    "workers.py",
)


def main() -> int:
    failed = 0
    for script in SCRIPTS:
        result = subprocess.run([sys.executable, str(HERE / script)], check=False)
        failed += result.returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
