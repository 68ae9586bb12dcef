"""Cost accounting and daily budgets, in memory and on a real redis-server (plain and cluster)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis
from manual_clock import ManualClock
from redis_server import RedisServer

from frontdesk.cost import MemoryCostTracker, RedisCostTracker, Reservation, Totals
from frontdesk.errors import VendorError
from frontdesk.llm_types import Usage
from frontdesk.models_config import BudgetConfig, ModelConfig

pytestmark = pytest.mark.anyio

MINI = ModelConfig(
    vendor="oa",
    model="gpt-4o-mini",
    input_per_1k=Decimal("0.00015"),
    output_per_1k=Decimal("0.0006"),
    context_window=128_000,
)
BIG = ModelConfig(
    vendor="an", model="claude", input_per_1k=Decimal("0.003"), output_per_1k=Decimal("0.015"), context_window=200_000
)
# 1,000 nano-units = 0.000001 of the currency
BUDGETS = BudgetConfig(daily={"acme": Decimal("0.000001")})


Factory = Callable[..., Any]


@pytest.fixture(params=["memory", "redis"])
async def make_tracker(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    client = aioredis.from_url(request.getfixturevalue("fresh_redis_url")) if request.param == "redis" else None

    def make(budgets: BudgetConfig = BUDGETS, clock: ManualClock | None = None) -> Any:
        if client is None:
            return MemoryCostTracker(budgets, clock=clock or ManualClock())
        # a loaded CI machine must not turn 100 concurrent scripts into `budget_unavailable` (tested on its own)
        return RedisCostTracker(client, budgets, clock=clock or ManualClock(), redis_timeout=10.0)

    yield make
    if client is not None:
        await client.aclose()


def test_costs_are_exact_integers() -> None:
    assert MINI.cost_nanos(1234, 56) == 1234 * 150 + 56 * 600 == 218_700
    assert BIG.cost_nanos(1, 1) == 3_000 + 15_000
    assert Totals(cost_nanos=218_700).cost == Decimal("0.0002187")
    # a thousand tiny calls add up exactly: no float drift
    assert sum(MINI.cost_nanos(7, 3) for _ in range(1000)) == 1000 * (7 * 150 + 3 * 600)


async def test_accounting_adds_up_per_tenant_model_and_conversation(make_tracker: Factory) -> None:
    tracker = make_tracker(BudgetConfig())
    calls = [
        ("mini", MINI, "c1", Usage(1000, 200)),
        ("big", BIG, "c1", Usage(500, 100)),
        ("mini", MINI, "c2", Usage(10, 5)),
        ("mini", MINI, "c1", Usage(3, 1)),
    ]
    for name, model, conversation, usage in calls:
        res = await tracker.reserve("acme", 10**9)
        cost = model.cost_nanos(usage.input_tokens, usage.output_tokens)
        await tracker.settle(res, usage=usage, cost=cost, model=name, conversation_id=conversation)
    day = await tracker.totals("acme")
    expected = sum(m.cost_nanos(u.input_tokens, u.output_tokens) for _, m, _, u in calls)
    assert (day.calls, day.input_tokens, day.output_tokens, day.cost_nanos) == (4, 1513, 306, expected)
    mini = await tracker.totals("acme", model="mini")
    assert (mini.calls, mini.input_tokens, mini.output_tokens) == (3, 1013, 206)
    assert mini.cost_nanos == MINI.cost_nanos(1013, 206)
    big = await tracker.totals("acme", model="big")
    assert big.cost_nanos == BIG.cost_nanos(500, 100) == 3_000_000
    c1 = await tracker.totals("acme", conversation_id="c1")
    assert (c1.calls, c1.input_tokens, c1.cost_nanos) == (3, 1503, expected - MINI.cost_nanos(10, 5))
    assert await tracker.held("acme") == (expected, 0)
    assert (await tracker.totals("other")).calls == 0


async def test_concurrent_reservations_never_overspend(make_tracker: Factory) -> None:
    tracker = make_tracker()

    async def one() -> Reservation | None:
        await asyncio.sleep(0)
        try:
            return await tracker.reserve("acme", 30)
        except VendorError as exc:
            assert exc.code == "budget_exhausted" and not exc.retryable
            return None

    granted = [r for r in await asyncio.gather(*(one() for _ in range(100))) if r is not None]
    assert len(granted) == 33  # 33 * 30 = 990 <= 1000 < 34 * 30
    assert await tracker.held("acme") == (0, 990)
    # settle with the real (lower) cost: what is left becomes available again
    for res in granted[:10]:
        await tracker.settle(res, usage=Usage(1, 1), cost=12, model="mini", conversation_id=None)
    assert await tracker.held("acme") == (120, 690)
    left = 1000 - 120 - 690
    await tracker.reserve("acme", left)
    with pytest.raises(VendorError):
        await tracker.reserve("acme", 1)


async def test_a_failed_call_releases_its_reservation_without_counting(make_tracker: Factory) -> None:
    tracker = make_tracker()
    res = await tracker.reserve("acme", 1000)
    with pytest.raises(VendorError):
        await tracker.reserve("acme", 1)
    await tracker.settle(res, usage=None, cost=0, model="mini", conversation_id="c1")
    assert await tracker.held("acme") == (0, 0)
    assert (await tracker.totals("acme")).calls == 0
    await tracker.reserve("acme", 1000)


async def test_budgets_are_per_utc_day_and_per_tenant(make_tracker: Factory) -> None:
    clock = ManualClock()
    tracker = make_tracker(BudgetConfig(daily_default=Decimal("0.0000005"), daily={"acme": Decimal("0.000001")}), clock)
    res = await tracker.reserve("acme", 1000)
    await tracker.settle(res, usage=Usage(1, 1), cost=1000, model="mini", conversation_id=None)
    with pytest.raises(VendorError):
        await tracker.reserve("acme", 1)
    await tracker.reserve("shop", 500)  # another tenant, the default budget
    with pytest.raises(VendorError):
        await tracker.reserve("shop", 1)
    yesterday = (await tracker.totals("acme")).cost_nanos
    clock.now += 86_400
    await tracker.reserve("acme", 1000)
    assert (await tracker.totals("acme", day="2023-11-14")).cost_nanos == yesterday == 1000


async def test_memory_tracker_forgets_days_past_keep_days() -> None:
    clock = ManualClock()
    tracker = MemoryCostTracker(BudgetConfig(), keep_days=2, clock=clock)
    res = await tracker.reserve("acme", 10)
    await tracker.settle(res, usage=Usage(1, 1), cost=10, model="mini", conversation_id="c1")
    clock.now += 86_400
    await tracker.reserve("acme", 10)
    assert (await tracker.totals("acme", day="2023-11-14")).cost_nanos == 10  # yesterday is kept
    assert (await tracker.totals("acme", conversation_id="c1")).calls == 1
    clock.now += 86_400
    await tracker.reserve("acme", 10)
    assert (await tracker.totals("acme", day="2023-11-14")).calls == 0
    assert (await tracker.totals("acme", conversation_id="c1")).calls == 0
    assert await tracker.held("acme", day="2023-11-15") == (0, 10)  # a day within keep_days


async def test_no_budget_means_no_limit(make_tracker: Factory) -> None:
    tracker = make_tracker(BudgetConfig())
    for _ in range(3):
        await tracker.reserve("acme", 10**15)


async def test_redis_workers_share_one_budget(fresh_redis_url: str) -> None:
    """Each worker its own connection pool: the Lua script is the only arbiter."""
    clients = [aioredis.from_url(fresh_redis_url) for _ in range(4)]
    try:
        workers = [RedisCostTracker(c, BUDGETS, clock=ManualClock()) for c in clients]
        results = await asyncio.gather(
            *(workers[i % 4].reserve("acme", 30) for i in range(100)), return_exceptions=True
        )
        assert sum(isinstance(r, Reservation) for r in results) == 33
        assert all(isinstance(r, Reservation | VendorError) for r in results)
        assert await workers[0].held("acme") == (0, 990)
    finally:
        for c in clients:
            await c.aclose()


async def test_redis_reservation_of_a_crashed_worker_expires(fresh_redis_url: str) -> None:
    clock = ManualClock()
    client = aioredis.from_url(fresh_redis_url)
    try:
        tracker = RedisCostTracker(client, BUDGETS, clock=clock, reservation_ttl=600)
        await tracker.reserve("acme", 1000)  # never settled
        with pytest.raises(VendorError):
            await tracker.reserve("acme", 1)
        clock.now += 601
        await tracker.reserve("acme", 1000)
        assert await tracker.held("acme") == (0, 1000)
    finally:
        await client.aclose()


async def test_redis_unreachable_fails_closed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aioredis.Redis(port=port)  # the client's own retries would take seconds: the tracker cuts them
    try:
        with pytest.raises(VendorError) as info:
            await RedisCostTracker(client, BUDGETS, redis_timeout=0.2).reserve("acme", 1)
        assert (info.value.code, info.value.retryable) == ("budget_unavailable", False)
    finally:
        await client.aclose()


async def test_redis_cluster_keeps_script_keys_on_one_slot() -> None:
    with RedisServer(cluster=True) as server:
        client = aioredis.RedisCluster(host="127.0.0.1", port=server.port)
        try:
            tracker = RedisCostTracker(client, BUDGETS, clock=ManualClock())
            res = await tracker.reserve("acme", 400)
            await tracker.settle(res, usage=Usage(2, 3), cost=300, model="mini", conversation_id="c9")
            assert await tracker.held("acme") == (300, 0)
            assert (await tracker.totals("acme", conversation_id="c9")).cost_nanos == 300
        finally:
            await client.aclose()
