"""A clock a test sets by hand: the code under test calls `clock()`, the test moves `clock.now`."""

from __future__ import annotations


class ManualClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:  # default: 2023-11-14 22:13:20 UTC
        self.now = now

    def __call__(self) -> float:
        return self.now
