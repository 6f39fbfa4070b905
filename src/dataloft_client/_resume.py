"""Upload URLs of resumable uploads in progress, kept in ``uploads.json`` in the
configuration directory so that a new process (the first one killed half-way) resumes an
upload instead of sending it all again.

An entry is keyed by the server and the bytes (sha256 and size): the same file sent to the
same server again finds its upload. It is removed once the upload is done, or found
expired on the server. The file is rewritten whole and atomically (mode 0600); two
processes writing at once may lose each other's entry, which costs only a restart.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dataloft_client.config import config_dir, write_private

RESUME_FILE = "uploads.json"


class ResumeStore:
    def __init__(self, directory: Path | None) -> None:
        self._directory = directory

    @property
    def path(self) -> Path:
        return (self._directory or config_dir()) / RESUME_FILE

    @staticmethod
    def key(server: str, sha256: str, size: int) -> str:
        return f"{server} {sha256} {size}"

    def _entries(self) -> dict[str, Any]:
        try:
            saved = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return {}
        return saved if isinstance(saved, dict) else {}

    def get(self, key: str) -> str | None:
        entry = self._entries().get(key)
        url = entry.get("url") if isinstance(entry, dict) else None
        return url if isinstance(url, str) else None

    def put(self, key: str, url: str) -> None:
        entries = self._entries()
        entries[key] = {"url": url, "started": datetime.now(UTC).isoformat()}
        self._write(entries)

    def drop(self, key: str) -> None:
        entries = self._entries()
        if entries.pop(key, None) is not None:
            self._write(entries)

    def _write(self, entries: dict[str, Any]) -> None:
        write_private(self.path, json.dumps(entries, indent=1, sort_keys=True) + "\n")
