"""Passwords cannot be hammered: failed logins are counted, and too many are a wait.

Each failed password check counts against the account named (whether or not it exists, so
the answer tells nothing about which do) and against the client's address. After
``per_account`` failures of one account within ``WINDOW`` (or ``per_address`` from one
address: a higher bar, as many users may share an address), the next attempt is refused
with ``TooManyRequests`` without checking the password, for a block that doubles with each
strike (``FIRST_BLOCK``, then twice that, ... at most ``LONGEST_BLOCK``); strikes are
forgotten after a quiet ``FORGET_AFTER``. A successful login clears its account's count.
The counts live in the database (``login_failures``), so every server process sees them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import select

from dataloft.core.errors import TooManyRequests
from dataloft.db import Database
from dataloft.db.models import LoginFailures

WINDOW = timedelta(minutes=1)
FIRST_BLOCK = timedelta(seconds=15)
LONGEST_BLOCK = timedelta(seconds=60)
FORGET_AFTER = timedelta(hours=1)
MAX_KEY = 300


def _keys(username: str, address: str | None) -> list[tuple[str, bool]]:
    """The throttle keys of an attempt, and whether each is the account's."""
    keys = [(f"account:{username.casefold()}"[:MAX_KEY], True)]
    if address:
        keys.append((f"address:{address}"[:MAX_KEY], False))
    return keys


class LoginThrottle:
    def __init__(
        self,
        db: Database,
        clock: Callable[[], datetime],
        *,
        per_account: int,
        per_address: int,
    ) -> None:
        self.db = db
        self.clock = clock
        self.per_account = per_account
        self.per_address = per_address

    def check(self, username: str, address: str | None) -> None:
        """``TooManyRequests`` while the account or the address is blocked."""
        now = self.clock()
        keys = [key for key, _ in _keys(username, address)]
        with self.db.read() as session:
            rows = session.scalars(select(LoginFailures).where(LoginFailures.key.in_(keys)))
            until = max((r.blocked_until for r in rows if r.blocked_until), default=None)
        if until is not None and until > now:
            wait = max(1, int((until - now).total_seconds() + 0.999))
            raise TooManyRequests(f"too many failed logins: try again in {wait} s", wait)

    def failed(self, username: str, address: str | None) -> None:
        """Count a failed attempt; block the keys that passed their limit."""
        now = self.clock()
        with self.db.write() as session:
            for key, is_account in _keys(username, address):
                limit = self.per_account if is_account else self.per_address
                row = session.get(LoginFailures, key)
                if row is None:
                    row = LoginFailures(key=key, window_start=now, failures=0, strikes=0)
                    session.add(row)
                if now - row.window_start >= WINDOW:
                    row.window_start, row.failures = now, 0
                    if row.blocked_until is not None and now - row.blocked_until >= FORGET_AFTER:
                        row.strikes = 0
                row.failures += 1
                if row.failures >= limit:
                    block = min(FIRST_BLOCK * 2**row.strikes, LONGEST_BLOCK)
                    row.blocked_until = now + block
                    row.strikes += 1
                    row.window_start, row.failures = now, 0

    def succeeded(self, username: str) -> None:
        """A right password: the account's count starts again (its strikes stay)."""
        key = _keys(username, None)[0][0]
        with self.db.write() as session:
            row = session.get(LoginFailures, key)
            if row is not None:
                row.failures = 0
