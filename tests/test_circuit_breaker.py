"""The circuit breaker on a fake clock: error rate, slow calls, sliding window, half-open probes."""

from __future__ import annotations

from manual_clock import ManualClock

from frontdesk.circuit_breaker import CircuitBreaker
from frontdesk.models_config import BreakerConfig


def breaker(clock: ManualClock, **kw: float) -> CircuitBreaker:
    base = {
        "window_calls": 10,
        "window_seconds": 60,
        "min_calls": 4,
        "error_rate": 0.5,
        "slow_call_seconds": 1.0,
        "slow_rate": 0.5,
        "open_seconds": 30,
        "half_open_probes": 2,
    }
    return CircuitBreaker(BreakerConfig(**{**base, **kw}), clock=clock)


def call(b: CircuitBreaker, *, failed: bool | None = False, duration: float = 0.1) -> bool:
    permit = b.acquire()
    if permit is None:
        return False
    b.release(permit, failed=failed, duration=duration)
    return True


def test_opens_on_error_rate_once_enough_calls() -> None:
    b = breaker(ManualClock(1000.0))
    for _ in range(3):
        assert call(b, failed=True)
    assert b.state == "closed"  # 3 calls < min_calls, however bad
    assert call(b, failed=False)
    assert b.state == "open"  # 3 failures of 4 calls >= 50 %
    assert b.acquire() is None


def test_stays_closed_below_the_error_rate() -> None:
    b = breaker(ManualClock(1000.0))
    for failed in [True, False, False, False, True, False, False, False, False, False]:
        call(b, failed=failed)
    assert b.state == "closed"


def test_opens_on_slow_calls_even_when_they_succeed() -> None:
    b = breaker(ManualClock(1000.0))
    for duration in [0.1, 1.5, 2.0, 1.0]:  # 1.0 is at the threshold: slow
        call(b, duration=duration)
    assert b.state == "open"


def test_outcomes_saying_nothing_are_not_counted() -> None:
    b = breaker(ManualClock(1000.0))
    for _ in range(10):
        call(b, failed=None, duration=5.0)
    assert b.state == "closed"


def test_old_calls_leave_the_window_by_time() -> None:
    clock = ManualClock(1000.0)
    b = breaker(clock)
    for _ in range(3):
        call(b, failed=True)
    clock.now += 61  # the failures are older than window_seconds now
    for _ in range(3):
        call(b, failed=False)
    call(b, failed=True)
    assert b.state == "closed"  # 1 failure of 4 calls in the window


def test_the_window_keeps_only_the_last_calls() -> None:
    b = breaker(ManualClock(1000.0), window_calls=4)
    for _ in range(10):
        call(b, failed=False)
    call(b, failed=True)
    assert b.state == "closed"
    call(b, failed=True)
    assert b.state == "open"  # 2 failures in the last 4 calls, however many good ones came before


def open_breaker(clock: ManualClock, **kw: float) -> CircuitBreaker:
    b = breaker(clock, **kw)
    for _ in range(4):
        call(b, failed=True)
    assert b.state == "open"
    return b


def test_half_open_after_the_open_period_then_closes_on_good_probes() -> None:
    clock = ManualClock(1000.0)
    b = open_breaker(clock)
    clock.now += 29.9
    assert b.state == "open" and b.acquire() is None
    clock.now += 0.1
    assert b.state == "half_open"
    first, second = b.acquire(), b.acquire()
    assert first is not None and second is not None
    assert b.acquire() is None  # only half_open_probes calls at once
    b.release(first, failed=False, duration=0.1)
    assert b.state == "half_open"
    b.release(second, failed=False, duration=0.1)
    assert b.state == "closed"
    for _ in range(3):  # a fresh window: earlier failures are forgotten
        call(b, failed=True)
    assert b.state == "closed"


def test_a_failed_probe_reopens() -> None:
    clock = ManualClock(1000.0)
    b = open_breaker(clock)
    clock.now += 30
    assert call(b, failed=True)
    assert b.state == "open"
    clock.now += 29
    assert b.state == "open"  # the open period starts again


def test_a_slow_probe_reopens() -> None:
    clock = ManualClock(1000.0)
    b = open_breaker(clock)
    clock.now += 30
    assert call(b, duration=3.0)
    assert b.state == "open"


def test_a_probe_saying_nothing_frees_its_slot() -> None:
    clock = ManualClock(1000.0)
    b = open_breaker(clock, half_open_probes=1)
    clock.now += 30
    permit = b.acquire()
    assert permit is not None and b.acquire() is None
    b.release(permit, failed=None, duration=0.1)
    assert b.state == "half_open"
    assert call(b)
    assert b.state == "closed"


def test_a_late_answer_from_before_opening_is_not_a_probe() -> None:
    clock = ManualClock(1000.0)
    b = breaker(clock, half_open_probes=1)
    slow_permit = b.acquire()
    for _ in range(4):
        call(b, failed=True)
    clock.now += 30
    assert b.state == "half_open"
    assert slow_permit is not None
    b.release(slow_permit, failed=False, duration=0.1)  # issued while closed: ignored
    assert b.state == "half_open"
