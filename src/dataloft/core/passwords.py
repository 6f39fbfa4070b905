"""Password hashing with argon2id, with the cost the settings choose.

The default cost is one of OWASP's equivalent argon2id minimums (7 MiB, 5 passes, 1 lane): of
those sets it is the one with the smallest memory, which keeps the server's peak memory
low, and it is cheap enough that dialects which send the password on every request (HTTP
Basic) stay usable. ``Passwords`` holds one set of parameters: the ``Loft`` makes one from
the settings and hands it to the services that hash and verify, so there is no module-wide
hasher to reconfigure. Hashes made with other parameters still verify (an argon2 hash
carries its own parameters), and are upgraded at the next login.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dataloft.core.errors import Invalid

# The shortest password by default; ``DATALOFT_MIN_PASSWORD_LENGTH`` sets another (Pbench's
# functional tests register users with 6 characters).
DEFAULT_MIN_PASSWORD_LENGTH = 8
MIN_PASSWORD_LENGTH_FLOOR = 1
MAX_PASSWORD_LENGTH = 1024

DEFAULT_MEMORY_KIB = 7 * 1024
DEFAULT_PASSES = 5
# argon2's own floors (ARGON2_MIN_MEMORY, two 1 KiB blocks per sync point and lane, and
# ARGON2_MIN_TIME); below them it refuses to hash. tests/unit/core/test_passwords.py checks
# these against the library.
MIN_MEMORY_KIB = 8
MIN_PASSES = 1


def check_password_rules(password: str, min_length: int = DEFAULT_MIN_PASSWORD_LENGTH) -> str:
    if not min_length <= len(password) <= MAX_PASSWORD_LENGTH:
        raise Invalid(f"password must be {min_length}-{MAX_PASSWORD_LENGTH} characters long")
    # One rule for every way a password is set (a new account's, a changed one); no login
    # form or Basic header carries a NUL anyway.
    if "\x00" in password:
        raise Invalid("password must not contain NUL characters")
    return password


class Passwords:
    """Hash, verify and re-hash passwords with one set of argon2id parameters."""

    def __init__(
        self,
        *,
        memory_kib: int = DEFAULT_MEMORY_KIB,
        passes: int = DEFAULT_PASSES,
        min_length: int = DEFAULT_MIN_PASSWORD_LENGTH,
    ) -> None:
        self._hasher = PasswordHasher(time_cost=passes, memory_cost=memory_kib, parallelism=1)
        self.min_length = min_length

    @functools.cached_property
    def _dummy_hash(self) -> str:
        """Verified against when the user does not exist, so that timing does not reveal
        usernames: made with these parameters, so it costs what a real check costs. Made on
        first use, not at start-up."""
        return self._hasher.hash("not a real password")

    def hash(self, password: str) -> str:
        return self._hasher.hash(check_password_rules(password, self.min_length))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            checked = self._hasher.verify(stored_hash or self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return checked and stored_hash is not None

    def needs_rehash(self, stored_hash: str) -> bool:
        """Whether ``stored_hash`` was made with other parameters than these."""
        return self._hasher.check_needs_rehash(stored_hash)
