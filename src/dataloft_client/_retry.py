"""When to send a request again, and how long to wait first.

- A request that was never sent (``ConnectError``) may be repeated whatever its method.
- Other network failures, and 502, 503 and 504, repeat only requests that are idempotent
  (GET, HEAD, PUT, DELETE, OPTIONS, and those an operation marks so): a POST may have
  been acted on before the connection broke.
- 503 and 429 say the server did *not* act, so they repeat any request, after the
  ``Retry-After`` the server asks for. An answer that asks for more than
  ``MAX_RETRY_AFTER`` seconds is raised instead: a client should not hang for an hour on
  a locked-out login.
- Otherwise the wait is exponential with jitter: half of ``base * 2**attempt`` (at most
  ``cap``) plus a random part up to the other half, so that many clients that failed
  together do not come back together.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import httpx

from dataloft_client._commands import Request
from dataloft_client._exceptions import ConnectError, TransportError, retry_after

# Statuses that say "try again": a gateway that lost the server, an overloaded server.
_TRANSIENT = frozenset({502, 503, 504})
_NOT_ACTED_ON = frozenset({429, 503})
MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 4
    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def backoff(self, attempt: int) -> float:
        """The wait before try ``attempt + 1`` (``attempt`` counts from 0)."""
        ceiling: float = min(self.cap, self.base * 2.0 ** min(attempt, 32))
        jitter: float = self.rng.uniform(0, ceiling / 2)
        return ceiling / 2 + jitter

    def after_failure(self, request: Request, error: TransportError, attempt: int) -> float | None:
        """How long to wait before sending ``request`` again after ``error``, or None."""
        if attempt >= self.retries or not request.retry:
            return None
        if isinstance(error, ConnectError) or request.safe_to_repeat:
            return self.backoff(attempt)
        return None

    def after_answer(
        self, request: Request, response: httpx.Response, attempt: int
    ) -> float | None:
        """How long to wait before sending ``request`` again after an error answer."""
        status = response.status_code
        if attempt >= self.retries or not request.retry:
            return None
        if status in _NOT_ACTED_ON:
            asked = retry_after(response)
            if asked is None:
                return self.backoff(attempt)
            return asked if asked <= MAX_RETRY_AFTER else None
        if status in _TRANSIENT and request.safe_to_repeat:
            return self.backoff(attempt)
        return None
