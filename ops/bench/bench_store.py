"""CPU and latency of the store's and the audit trail's hot paths on Redis.

    redis-server --port 6390 --save '' --appendonly no --daemonize yes
    .venv/bin/python ops/bench/bench_store.py --url redis://127.0.0.1:6390/0 [--uvloop] [-n 5000] [-c 32]

For each operation it prints the CPU time this process spends per operation
(`time.process_time`: it holds when other work shares the cores, which latency
does not), alone and with `-c` concurrent callers (each on its own
conversation), the latency percentiles of the lone caller, and the Lua scripts
Redis ran per operation (counted by the server, so whatever the client code).

Operations: a bare redis-py GET (the floor), a turn (`store.turn`: begin and
commit, what the engine does per message), an audit append, a turn with its
audit record (the engine's whole store work), load+save, lock+unlock; the
turn on MemoryStore alongside as the floor. Keys are written under the tenant
"bench" and left to expire; the audit chain "bench" grows by every append.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import redis

from frontdesk.audit import AuditLog, RedisAudit
from frontdesk.store import ConversationStore, MemoryStore
from frontdesk.store_redis import RedisStore
from frontdesk.types import ConversationState

Op = Callable[[int, int], Awaitable[None]]  # (lane, call number): a lane is one caller's conversation


def sample_state(conversation_id: str) -> ConversationState:
    return ConversationState(
        conversation_id,
        user_id="bench-user",
        turn=7,
        slots={"order_id": "202401010001", "city": "上海"},
        rule_memory={"repeated-anger": [1700000000.0, 1700000060.0]},
    )


ENTRY = {"message_id": "m", "at": "2024-01-01T00:00:00+00:00", "user": "我的订单到哪了", "bot": "配送中", "actions": []}
RESULT = {
    "reply": {"text": "您的订单正在配送中。", "template": "order_status", "source": "template"},
    "intent": {"name": "order_status", "confidence": 0.93},
    "slots": {"order_id": "202401010001"},
    "explain": {"timings_us": {"understand": 120.5, "decide": 80.1}, "rules": [{"id": "order-status", "stop": True}]},
}
AUDIT = {
    "conversation_id": "bench-0",
    "ruleset": "shop-zh@1",
    "text": "我的订单到哪了 ⟨PHONE_1⟩",
    "reply": "您的订单正在配送中。",
    "intent": "order_status",
    "confidence": 0.93,
    "rules": ["order-status"],
    "actions": [],
    "trace_id": "0af7651916cd43dd8448eb211c80319c",
}


async def cpu_per_op(op: Op, n: int, lanes: int) -> float:
    """µs of this process's CPU per call, `lanes` callers at once."""

    async def caller(lane: int) -> None:
        for i in range(lane, n, lanes):
            await op(lane, i)

    start = time.process_time()
    await asyncio.gather(*(caller(lane) for lane in range(lanes)))
    return (time.process_time() - start) * 1e6 / n


async def latencies(op: Op, n: int) -> str:
    samples = []
    for i in range(n):
        start = time.perf_counter_ns()
        await op(0, i)
        samples.append(time.perf_counter_ns() - start)
    q = statistics.quantiles(samples, n=100)
    return f"p50 {q[49] / 1000:7.1f}  p90 {q[89] / 1000:7.1f}  p99 {q[98] / 1000:7.1f} µs"


def scripts_run(server: redis.Redis | None) -> int:
    """Scripts Redis has run so far (EVALSHA, EVAL and SCRIPT LOAD calls)."""
    if server is None:
        return 0
    stats = server.info("commandstats")
    return sum(stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval", "script|load"))


def operations(store: ConversationStore, audit: AuditLog | None) -> dict[str, Op]:
    run = uuid.uuid4().hex[:8]
    ids = itertools.count()  # fresh message ids, so no turn is answered from a stored result

    async def turn(lane: int, i: int) -> None:
        async with store.turn(f"bench-{lane}", f"{run}-{next(ids)}") as held:
            state = held.state or sample_state(f"bench-{lane}")
            state.turn += 1
            await held.commit(state, ENTRY, RESULT)

    async def audit_append(lane: int, i: int) -> None:
        assert audit is not None
        await audit.append("turn", actor="bench", subject="bench-user", payload=AUDIT)

    async def turn_and_audit(lane: int, i: int) -> None:
        async with store.turn(f"bench-{lane}", f"{run}-{next(ids)}") as held:
            state = held.state or sample_state(f"bench-{lane}")
            state.turn += 1
            await audit_append(lane, i)  # before the commit, as the engine does
            await held.commit(state, ENTRY, RESULT)

    async def load_save(lane: int, i: int) -> None:
        await store.save(await store.load(f"bench-{lane}") or sample_state(f"bench-{lane}"))

    async def lock_cycle(lane: int, i: int) -> None:
        async with store.lock(f"bench-{lane}"):
            pass

    ops: dict[str, Op] = {"turn": turn}
    if audit is not None:
        ops |= {"audit append": audit_append, "turn + audit": turn_and_audit}
    return ops | {"load+save": load_save, "lock+unlock": lock_cycle}


async def bench(name: str, store: ConversationStore, audit: AuditLog | None, args: argparse.Namespace) -> None:
    server = redis.Redis.from_url(args.url) if isinstance(store, RedisStore) else None
    ops = operations(store, audit)
    if isinstance(store, RedisStore):
        client = store.client

        async def bare_get(lane: int, i: int) -> None:  # the floor: one redis-py round trip
            await client.get(f"bench-get:{lane}")

        ops = {"bare GET": bare_get} | ops
    for label, op in ops.items():
        await cpu_per_op(op, min(args.n, 500), args.c)  # warm-up: connections, script cache, conversations
        before = scripts_run(server)
        alone = await cpu_per_op(op, args.n, 1)
        scripts = (scripts_run(server) - before) / args.n
        together = await cpu_per_op(op, args.n, args.c)
        spread = await latencies(op, args.n)
        line = f"{name:6} {label:13} CPU {alone:6.1f} µs/op ({args.c} callers: {together:6.1f})  {spread}"
        if server is not None:
            line += f"  {scripts:.2f} scripts/op"
        print(line, flush=True)
    if server is not None:
        server.close()


async def main(args: argparse.Namespace) -> None:
    await bench("memory", MemoryStore(), None, args)
    store = RedisStore.from_url(args.url, tenant="bench", state_ttl=600, transcript_ttl=600, result_ttl=600)
    await bench("redis", store, AuditLog(RedisAudit(store.client, "bench"), tenant="bench"), args)
    await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="redis://host:port/db of a scratch server")
    parser.add_argument("-n", type=int, default=5000, help="timed calls per operation and measurement")
    parser.add_argument("-c", type=int, default=32, help="concurrent callers in the second CPU measurement")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (as the HTTP service does)")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    asyncio.run(main(args))
