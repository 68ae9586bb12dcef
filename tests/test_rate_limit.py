"""Token buckets: exact counts, refill, isolation, tiers and two workers, on a real
redis-server and in memory. Time passes by back-dating the buckets (Redis) or moving a
fake clock (memory), so no assertion depends on how fast this machine is."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
import redis
from manual_clock import ManualClock
from redis_server import RedisServer, free_port

from frontdesk.errors import ConfigError, InputError, RateLimited, ServiceUnavailable
from frontdesk.rate_limit import Limit, MemoryRateLimiter, RateLimitPolicy, RedisRateLimiter
from frontdesk.redis_client import connect_redis

pytestmark = pytest.mark.anyio

SLOW = 0.001  # tokens per second: nothing refills while a test runs


@dataclass
class Rig:
    make: Callable[[RateLimitPolicy], MemoryRateLimiter | RedisRateLimiter]
    elapse: Callable[[float], Awaitable[None]]  # let this many seconds pass for every bucket


@pytest.fixture(params=["memory", "redis"])
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    if request.param == "memory":
        clock = ManualClock(1000.0)

        async def advance(seconds: float) -> None:
            clock.now += seconds

        yield Rig(lambda policy: MemoryRateLimiter(policy, clock=clock), advance)
        return
    url = request.getfixturevalue("fresh_redis_url")
    clients = []

    def make(policy: RateLimitPolicy) -> RedisRateLimiter:
        clients.append(connect_redis(url))
        return RedisRateLimiter(clients[-1], policy)

    async def backdate(seconds: float) -> None:
        with redis.Redis.from_url(url, decode_responses=True) as raw:
            for key in raw.scan_iter("fd:*"):
                raw.hset(key, "ts", int(raw.hget(key, "ts")) - int(seconds * 1_000_000))

    yield Rig(make, backdate)
    for client in clients:
        await client.aclose()


async def allowed(limiter, attempts: int, tenant: str = "acme", **who: str) -> int:
    """How many of `attempts` calls in a row pass."""
    passed = 0
    for _ in range(attempts):
        try:
            await limiter.check(tenant, **who)
            passed += 1
        except RateLimited:
            pass
    return passed


async def test_a_burst_gets_exactly_the_capacity_then_429(rig: Rig) -> None:
    limiter = rig.make(RateLimitPolicy(tenant=Limit(10, SLOW)))
    assert [await limiter.check("acme") for _ in range(10)] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    with pytest.raises(RateLimited) as err:
        await limiter.check("acme")
    assert (err.value.code, err.value.status) == ("rate_limited", 429)
    assert 0.9 / SLOW < err.value.retry_after <= 1 / SLOW  # one token at SLOW per second
    assert "tenant" in err.value.message and err.value.hint


async def test_refill_by_elapsed_time_up_to_capacity(rig: Rig) -> None:
    limiter = rig.make(RateLimitPolicy(user=Limit(5, 0.01)))
    assert await allowed(limiter, 8, user="u1") == 5
    await rig.elapse(250)  # 2.5 tokens
    assert await allowed(limiter, 8, user="u1") == 2
    with pytest.raises(RateLimited) as err:
        await limiter.check("acme", user="u1")
    assert 40 < err.value.retry_after <= 50  # the missing half token
    await rig.elapse(1_000_000)  # idle for long: full, never more
    assert await allowed(limiter, 8, user="u1") == 5


async def test_retry_after_is_when_the_tokens_are_back(rig: Rig) -> None:
    limiter = rig.make(RateLimitPolicy(ip=Limit(3, 0.01)))
    await allowed(limiter, 3, ip="10.0.0.1")
    with pytest.raises(RateLimited) as err:
        await limiter.check("acme", ip="10.0.0.1", cost=2)
    await rig.elapse(err.value.retry_after)
    assert await limiter.check("acme", ip="10.0.0.1", cost=2) == 0


async def test_buckets_are_isolated_per_tenant_user_and_ip(rig: Rig) -> None:
    policy = RateLimitPolicy(tenant=Limit(100, SLOW), user=Limit(2, SLOW), ip=Limit(3, SLOW))
    limiter = rig.make(policy)
    assert await allowed(limiter, 5, user="alice", ip="10.0.0.1") == 2  # alice's bucket ran out
    assert await allowed(limiter, 5, user="bob", ip="10.0.0.1") == 1  # then the shared IP's
    assert await allowed(limiter, 5, user="bob", ip="10.0.0.2") == 1  # bob's own
    assert await allowed(limiter, 5, user="carol", ip="10.0.0.2") == 2
    assert await allowed(limiter, 5, "globex", user="alice", ip="10.0.0.1") == 2  # another tenant: fresh buckets
    small = rig.make(RateLimitPolicy(tenant=Limit(3, SLOW)))
    assert await allowed(small, 5, "t1") == 3
    assert await allowed(small, 5, "t2") == 3


async def test_a_refused_request_takes_nothing(rig: Rig) -> None:
    limiter = rig.make(RateLimitPolicy(tenant=Limit(5, SLOW), user=Limit(2, SLOW)))
    assert await allowed(limiter, 10, user="greedy") == 2
    # greedy's eight refusals did not drain the tenant: three tokens are left for others
    assert await allowed(limiter, 10, user="u1") + await allowed(limiter, 10, user="u2") == 3


async def test_tiers_get_bigger_user_buckets(rig: Rig) -> None:
    limiter = rig.make(RateLimitPolicy(user=Limit(3, SLOW), tiers={"vip": 2.0, "free": 0.5}))
    assert await allowed(limiter, 10, user="std") == 3
    assert await allowed(limiter, 10, user="std-2", tier="unknown-tier") == 3
    assert await allowed(limiter, 10, user="vip", tier="vip") == 6
    assert await allowed(limiter, 10, user="free", tier="free") == 1


async def test_the_tenant_reserve_keeps_room_for_higher_tiers(rig: Rig) -> None:
    policy = RateLimitPolicy(tenant=Limit(10, SLOW), user=Limit(100, SLOW), reserve=0.5, tiers={"vip": 5.0})
    limiter = rig.make(policy)
    standard = [await allowed(limiter, 3, user=f"s{i}") for i in range(4)]
    assert sum(standard) == 5  # down to the reserve (half of 10), then standard customers wait
    with pytest.raises(RateLimited):
        await limiter.check("acme", user="s9")
    assert await allowed(limiter, 10, user="v1", tier="vip") == 4  # VIPs may go down to 10 * 0.5 / 5 = 1
    assert await allowed(limiter, 10, user="s9") == 0


async def test_cost_takes_several_tokens(rig: Rig) -> None:
    limiter = rig.make(RateLimitPolicy(tenant=Limit(10, SLOW), reserve=0.2))
    assert await limiter.check("acme", cost=3) == 5  # 7 left, 2 of them the reserve
    assert await limiter.check("acme", cost=3) == 2
    with pytest.raises(RateLimited):
        await limiter.check("acme", cost=3)
    for cost in (0, 9, 11):  # 9 + the reserve of 2 can never fit in 10
        with pytest.raises(InputError) as err:
            await limiter.check("acme", cost=cost)
        assert err.value.code == "rate_cost_invalid"


async def test_only_known_buckets_apply(rig: Rig) -> None:
    limiter = rig.make(RateLimitPolicy(user=Limit(1, SLOW), ip=Limit(1, SLOW)))
    assert await allowed(limiter, 5) == 5  # neither user nor IP known: nothing to limit
    assert await allowed(limiter, 5, user="u1") == 1
    with pytest.raises(InputError):
        await limiter.check("a{b}", user="u1")


def test_policies_are_validated() -> None:
    for bad in (lambda: Limit(0, 1), lambda: Limit(1, 0), lambda: RateLimitPolicy(reserve=1.0)):
        with pytest.raises(ConfigError):
            bad()
    with pytest.raises(ConfigError):
        RateLimitPolicy(tiers={"vip": 0})


async def test_memory_limiter_forgets_refilled_buckets() -> None:
    clock = ManualClock(1000.0)
    limiter = MemoryRateLimiter(RateLimitPolicy(user=Limit(2, 1.0)), clock=clock)
    for i in range(10_000):
        await limiter.check("acme", user=f"u{i}")
        clock.now += 0.01
    assert len(limiter._levels) < 4096 + 300  # idle buckets (full after 2 s) were dropped
    assert await allowed(limiter, 5, user="u9999") == 1  # a recent bucket was kept


# --- Redis specifics ---------------------------------------------------------------------


async def test_all_buckets_of_a_request_are_one_round_trip_with_ttls(fresh_redis_url: str) -> None:
    client = connect_redis(fresh_redis_url)
    limiter = RedisRateLimiter(client, RateLimitPolicy(tenant=Limit(10, 1), user=Limit(5, 0.5), ip=Limit(4, 2)))
    await limiter.check("warm-up")  # loads the script
    with redis.Redis.from_url(fresh_redis_url, decode_responses=True) as raw:
        raw.config_resetstat()
        await limiter.check("acme", user="u1", ip="::1")
        served = {name: stat["calls"] for name, stat in raw.info("commandstats").items()}
        assert served["cmdstat_evalsha"] == 1 and served["cmdstat_hmget"] == 3  # three buckets, one script call
        raw.delete(*raw.keys("fd:warm-up:*"))
        # an idle bucket vanishes once it would be full again: here after one token's refill (+1 s)
        ttl_ms = {
            "fd:acme:{rl:acme}:tenant": 1000 / 1 + 1000,
            "fd:acme:{rl:acme}:user:u1": 1000 / 0.5 + 1000,
            "fd:acme:{rl:acme}:ip:::1": 1000 / 2 + 1000,
        }
        assert set(raw.keys("*")) == set(ttl_ms)
        for key, ttl in ttl_ms.items():
            assert ttl / 2 < raw.pttl(key) <= ttl, key
    await client.aclose()


async def test_two_connections_never_allow_more_than_the_capacity(fresh_redis_url: str) -> None:
    clients = [connect_redis(fresh_redis_url) for _ in range(2)]
    policy = RateLimitPolicy(tenant=Limit(25, SLOW), user=Limit(1000, SLOW))
    limiters = [RedisRateLimiter(c, policy) for c in clients]
    results = await asyncio.gather(
        *(limiters[i % 2].check("acme", user=f"u{i % 7}") for i in range(120)), return_exceptions=True
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 25
    assert all(isinstance(r, RateLimited) for r in results if isinstance(r, BaseException))
    for c in clients:
        await c.aclose()


WORKER = """
import asyncio, json, sys
from frontdesk.errors import RateLimited
from frontdesk.rate_limit import Limit, RateLimitPolicy, RedisRateLimiter
from frontdesk.redis_client import connect_redis

async def main(url):
    client = connect_redis(url)
    limiter = RedisRateLimiter(client, RateLimitPolicy(tenant=Limit(40, 0.001), ip=Limit(1000, 0.001)))
    await client.incr("test:ready")  # start together, so the two really contend
    while int(await client.get("test:ready")) < 2:
        await asyncio.sleep(0.001)
    results = await asyncio.gather(*(limiter.check("acme", ip="10.0.0.1") for _ in range(100)), return_exceptions=True)
    print(json.dumps({"allowed": sum(not isinstance(r, BaseException) for r in results),
                      "refused": sum(isinstance(r, RateLimited) for r in results)}))
    await client.aclose()

asyncio.run(main(sys.argv[1]))
"""


def test_two_processes_share_the_buckets_exactly(fresh_redis_url: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, fresh_redis_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        runs.append(json.loads(out))
    assert sum(r["allowed"] for r in runs) == 40
    assert sum(r["refused"] for r in runs) == 160


async def test_redis_outage_is_service_unavailable() -> None:
    client = connect_redis(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(ServiceUnavailable) as err:
        await RedisRateLimiter(client, RateLimitPolicy(tenant=Limit(1, 1))).check("acme")
    assert err.value.code == "redis_unavailable"
    await client.aclose()


@pytest.fixture(scope="module")
def cluster_node() -> Iterator[RedisServer]:
    with RedisServer(cluster=True) as node:
        yield node


async def test_one_script_for_all_buckets_is_legal_on_cluster(cluster_node: RedisServer) -> None:
    client = connect_redis(cluster_node.url, "cluster")
    policy = RateLimitPolicy(tenant=Limit(3, SLOW), user=Limit(10, SLOW), ip=Limit(10, SLOW))
    limiter = RedisRateLimiter(client, policy)
    # control: the node enforces the one-slot rule
    with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
        await client.eval("return 1", 2, "fd:a:{x}:1", "fd:a:{y}:1")
    assert await allowed(limiter, 5, user="u1", ip="10.0.0.1") == 3
    await client.aclose()
