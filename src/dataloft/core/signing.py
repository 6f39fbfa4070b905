"""Signing keys: secrets the server signs with, made on first use and kept in the
database, so that what one process signed every other verifies, after a restart too.

A key is never handed out and never rotated in place: a new purpose gets a new name.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from dataloft.db import Database
from dataloft.db.models import SigningKey

KEY_BYTES = 48  # 384 bits, more than HS256 needs (RFC 7518 §3.2: at least 256)


class SigningKeys:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._known: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def secret(self, name: str, make: Callable[[], bytes] | None = None) -> bytes:
        """The key called ``name``, made now if there is none yet (``make`` makes it: a
        private key in PEM, say; random bytes by default). Two processes making it at once
        both end with the one that reached the database first."""
        known = self._known.get(name)
        if known is not None:
            return known
        with self._lock:
            found = self._read(name)
            if found is None:
                try:
                    with self.db.write() as session:
                        made = make() if make is not None else secrets.token_bytes(KEY_BYTES)
                        session.add(SigningKey(name=name, secret=made.hex()))
                except IntegrityError:
                    pass  # another process made it first: read theirs
                found = self._read(name)
            assert found is not None
            self._known[name] = found
            return found

    def _read(self, name: str) -> bytes | None:
        with self.db.read() as session:
            row = session.get(SigningKey, name)
            return bytes.fromhex(row.secret) if row is not None else None
