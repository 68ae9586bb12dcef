"""Cost of the security steps on a request's path, one caller, no concurrency.

    redis-server --port 6390 --save '' --appendonly no --daemonize yes
    .venv/bin/python ops/bench/bench_rate_limit.py --url redis://127.0.0.1:6390/0

Prints p50/p90/p99 in microseconds for: a bare redis-py GET (the floor), a rate-limit
check of three buckets (tenant, user, IP; one script), API key verification and an
audit append, on Redis and in memory / in a file. Keys are written under the tenant
"bench"; the audit chain of "bench" and the API key it creates are left behind.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from frontdesk.api_keys import ApiKeys, FileKeys, RedisKeys
from frontdesk.audit import AuditLog, FileAudit, RedisAudit
from frontdesk.rate_limit import Limit, MemoryRateLimiter, RateLimitPolicy, RedisRateLimiter
from frontdesk.redis_client import connect_redis

# large enough that nothing is refused while measuring: the cost of the check, not of a 429
POLICY = RateLimitPolicy(tenant=Limit(1e9, 1e6), user=Limit(1e9, 1e6), ip=Limit(1e9, 1e6), tiers={"vip": 2})


def percentiles(samples_ns: list[int]) -> str:
    q = statistics.quantiles(samples_ns, n=100)
    return f"p50 {q[49] / 1000:8.1f}  p90 {q[89] / 1000:8.1f}  p99 {q[98] / 1000:8.1f} µs"


async def measure(name: str, op: Callable[[int], Awaitable[object]], n: int) -> None:
    for i in range(min(n, 500)):  # warm-up: connections, script cache
        await op(i)
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        await op(i)
        samples.append(time.perf_counter_ns() - start)
    print(f"{name:<36} {percentiles(samples)}")


async def main(url: str, n: int) -> None:
    client = connect_redis(url)
    await measure("redis GET (floor)", lambda i: client.get("bench:floor"), n)

    for label, limiter in (("redis", RedisRateLimiter(client, POLICY)), ("memory", MemoryRateLimiter(POLICY))):
        await measure(
            f"rate limit, 3 buckets ({label})",
            lambda i, limiter=limiter: limiter.check("bench", user=f"u{i % 1000}", ip="10.0.0.1", tier="vip"),
            n,
        )

    with tempfile.TemporaryDirectory() as tmp:
        for label, keys in (
            ("redis", ApiKeys(RedisKeys(client), pepper="bench")),
            ("file", ApiKeys(FileKeys(Path(tmp) / "keys.json"), pepper="bench")),
        ):
            key, _ = await keys.create("bench", ["messages"], name="bench")
            await measure(f"api key verify ({label})", lambda i, keys=keys, key=key: keys.verify(key, "messages"), n)

        payload = {"text": "我的订单 ⟨ORDER_1⟩ 到哪了", "intent": "order_status", "rules": ["order-status"]}
        for label, backend in (("redis", RedisAudit(client, "bench")), ("file", FileAudit(Path(tmp) / "a.jsonl"))):
            log = AuditLog(backend, tenant="bench")
            await measure(
                f"audit append ({label})",
                lambda i, log=log: log.append("turn", actor="bench", payload=payload, subject=f"u{i % 1000}"),
                n,
            )
    await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("-n", type=int, default=5000, help="calls per measurement")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.n))
