"""A per-model circuit breaker over a sliding window of calls.

closed     every call goes through; the window keeps the last `window_calls`
           calls of the last `window_seconds`. Once it holds `min_calls`, the
           breaker opens when the failure rate reaches `error_rate` OR the share
           of calls slower than `slow_call_seconds` reaches `slow_rate`.
open       every call is refused for `open_seconds`.
half_open  `half_open_probes` calls go through; if all succeed in time the
           breaker closes with an empty window, the first bad one reopens it.

A permit names the state generation it was given in, so an answer that comes
back after the state changed (a slow call from before the breaker opened) does
not count as a probe.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Literal

from frontdesk.models_config import BreakerConfig

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, config: BreakerConfig | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config or BreakerConfig()
        self._clock = clock
        self._state: State = "closed"
        self._generation = 0
        self._window: deque[tuple[float, bool, bool]] = deque()
        self._failures = self._slow = 0  # counts within the window, kept as calls come and go
        self._opened_at = 0.0
        self._probes_out = 0
        self._probes_ok = 0

    @property
    def state(self) -> State:
        if self._state == "open" and self._clock() - self._opened_at >= self.config.open_seconds:
            self._enter("half_open")
        return self._state

    def acquire(self) -> int | None:
        """A permit for one call, or None when the breaker refuses it."""
        state = self.state
        if state == "open":
            return None
        if state == "half_open":
            if self._probes_out + self._probes_ok >= self.config.half_open_probes:
                return None
            self._probes_out += 1
        return self._generation

    def release(self, permit: int, *, failed: bool | None, duration: float) -> None:
        """Report the call's outcome; `failed=None` means it says nothing about the vendor's health."""
        if permit != self._generation:
            return
        slow = duration >= self.config.slow_call_seconds
        if self._state == "half_open":
            self._probes_out -= 1
            if failed is None:
                return
            if failed or slow:
                self._enter("open")
            else:
                self._probes_ok += 1
                if self._probes_ok >= self.config.half_open_probes:
                    self._enter("closed")
        elif self._state == "closed" and failed is not None:
            now = self._clock()
            self._window.append((now, failed, slow))
            self._failures += failed
            self._slow += slow
            while len(self._window) > self.config.window_calls or self._window[0][0] < now - self.config.window_seconds:
                _, old_failed, old_slow = self._window.popleft()
                self._failures -= old_failed
                self._slow -= old_slow
            calls = len(self._window)
            if calls >= self.config.min_calls and (
                self._failures / calls >= self.config.error_rate or self._slow / calls >= self.config.slow_rate
            ):
                self._enter("open")

    def _enter(self, state: State) -> None:
        self._state = state
        self._generation += 1
        self._window.clear()
        self._failures = self._slow = 0
        self._probes_out = self._probes_ok = 0
        if state == "open":
            self._opened_at = self._clock()
