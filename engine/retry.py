"""Retries with exponential backoff and full jitter, within a deadline.

Only errors that say they are retryable (`VendorError.retryable`) are tried
again. A vendor's `Retry-After` is a floor on the wait. A retry that could not
start before the deadline is not attempted: the last error is raised at once,
so the caller can fall back to another model while time remains.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from frontdesk.errors import VendorError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 3  # first try included
    base_delay: float = 0.2
    max_delay: float = 2.0

    def delay(self, retry: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Wait before retry number `retry` (0-based): uniform in [0, min(max, base * 2**retry)]."""
        jitter = rng.uniform(0, min(self.max_delay, self.base_delay * 2**retry))
        return jitter if retry_after is None else max(jitter, retry_after)


async def retry(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    deadline: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: random.Random | None = None,
    give_up: Callable[[], bool] = lambda: False,
) -> T:
    """Call `attempt` until it succeeds, fails for good, runs out of attempts or of time,
    or `give_up()` says further tries are pointless (e.g. the model's circuit opened)."""
    rng = rng or random.Random()
    retries = 0
    while True:
        try:
            return await attempt()
        except VendorError as exc:
            if not exc.retryable or retries + 1 >= policy.max_attempts or give_up():
                raise
            wait = policy.delay(retries, rng, exc.retry_after)
            if clock() + wait >= deadline:
                raise
            await sleep(wait)
            retries += 1
