"""Latency of the conversation store's hot-path calls, one caller, no concurrency.

    redis-server --port 6390 --save '' --appendonly no --daemonize yes
    .venv/bin/python ops/bench/bench_store.py --url redis://127.0.0.1:6390/0 [--uvloop]

Prints p50/p90/p99 in microseconds for: a bare redis-py GET (the floor), load+save (what every turn does to the
state), lock acquire+release, and a whole turn's store work (get_result, lock,
load, save, append_transcript, put_result, release); MemoryStore alongside
as the floor. Keys are written under the tenant "bench" and left to expire.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from frontdesk.store import ConversationStore, MemoryStore
from frontdesk.store_redis import RedisStore
from frontdesk.types import ConversationState


def percentiles(samples_ns: list[int]) -> str:
    q = statistics.quantiles(samples_ns, n=100)
    return f"p50 {q[49] / 1000:8.1f}  p90 {q[89] / 1000:8.1f}  p99 {q[98] / 1000:8.1f} µs"


async def measure(op: Callable[[int], Awaitable[None]], n: int) -> list[int]:
    for i in range(min(n, 500)):  # warm-up: connections, script cache
        await op(-i - 1)
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        await op(i)
        samples.append(time.perf_counter_ns() - start)
    return samples


def sample_state(conversation_id: str) -> ConversationState:
    return ConversationState(
        conversation_id,
        user_id="bench-user",
        turn=7,
        slots={"order_id": "202401010001", "city": "上海"},
        rule_memory={"repeated-anger": [1700000000.0, 1700000060.0]},
        history=[{"role": "user", "text": "我的订单到哪了"}] * 10,
    )


async def bench(name: str, store: ConversationStore, n: int) -> None:
    state = sample_state("bench-conv")
    run = uuid.uuid4().hex[:8]  # fresh message ids, so no turn is answered from a stored result

    async def load_save(i: int) -> None:
        loaded = await store.load("bench-conv") or state
        await store.save(loaded)

    async def lock_cycle(i: int) -> None:
        async with store.lock("bench-conv"):
            pass

    async def turn(i: int) -> None:
        message_id = f"{run}-{i}"
        if await store.get_result("bench-conv", message_id) is not None:
            return
        async with store.lock("bench-conv") as fence:
            loaded = await store.load("bench-conv") or state
            if isinstance(store, RedisStore):
                await store.save(loaded, fence=fence)
            else:
                await store.save(loaded)
            await store.append_transcript("bench-conv", {"role": "user", "text": "hi"})
            await store.put_result("bench-conv", message_id, {"reply": "hello"})

    async def bare_get(i: int) -> None:  # the floor: one redis-py round trip
        await store.client.get(store.keys("bench-conv").state)  # type: ignore[attr-defined]

    ops = [("load+save", load_save), ("lock+unlock", lock_cycle), ("turn", turn)]
    if isinstance(store, RedisStore):
        ops.insert(0, ("bare GET", bare_get))
    await store.save(state)
    for label, op in ops:
        counter = count_round_trips(store)
        line = f"{name:6} {label:12} {percentiles(await measure(op, n))}"
        if counter:
            line += f"  {counter[0] / (n + min(n, 500)):.1f} round trips/op"
        print(line)


def count_round_trips(store: ConversationStore) -> list[int]:
    """Count the commands the Redis client sends (each one a round trip); [] for memory."""
    if not isinstance(store, RedisStore):
        return []
    counter = [0]
    vars(store.client).pop("execute_command", None)  # drop the previous operation's counter
    send = store.client.execute_command

    async def counted(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return await send(*args, **kwargs)

    store.client.execute_command = counted  # type: ignore[method-assign]
    return counter


async def main(url: str, n: int) -> None:
    await bench("memory", MemoryStore(), n)
    store = RedisStore.from_url(url, tenant="bench", state_ttl=600, transcript_ttl=600, result_ttl=600)
    await bench("redis", store, n)
    await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="redis://host:port/db of a scratch server")
    parser.add_argument("-n", type=int, default=5000, help="timed calls per operation")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (as the HTTP service does)")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main(args.url, args.n))
