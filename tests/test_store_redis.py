"""RedisStore beyond the shared contract: locks across workers and processes, fencing,
TTLs, erasure, tenants, hash slots, outages, Cluster and Sentinel — all against
real redis-server processes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import pytest
import redis
from redis.crc import key_slot
from redis_server import RedisSentinel, RedisServer

from frontdesk.errors import ConfigError, Conflict, FrontdeskError, InputError, ServiceUnavailable
from frontdesk.redis_client import connect_redis, parse_sentinel_url
from frontdesk.store_redis import RedisStore
from frontdesk.types import ConversationState

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(fresh_redis_url: str) -> AsyncIterator[RedisStore]:
    s = RedisStore.from_url(fresh_redis_url)
    yield s
    await s.aclose()


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis_server.client() as client:
        yield client


def state(conversation_id: str, user_id: str = "u1", turn: int = 0) -> ConversationState:
    return ConversationState(conversation_id, user_id=user_id, turn=turn, created_at=1.7e9, updated_at=1.7e9)


async def fill(store: RedisStore, conversation_id: str, user_id: str) -> None:
    """Write every kind of key a conversation can have."""
    async with store.lock(conversation_id) as fence:
        await store.save(state(conversation_id, user_id), fence=fence)
        await store.append_transcript(conversation_id, {"text": "hello"})
        await store.put_result(conversation_id, "m1", {"reply": "hi"})


def slot(key: str) -> int:
    return key_slot(key.encode())


# --- keys and hash slots -------------------------------------------------------------


ODD_IDS = ["c1", "", "a}b", "x{y}z", "}", "{}", "%7D", "我的会话", "wx:oAbC-12_3"]


@pytest.mark.parametrize("conversation_id", ODD_IDS)
def test_every_key_of_a_conversation_hashes_to_one_slot(conversation_id: str) -> None:
    keys = RedisStore(redis.asyncio.Redis()).keys(conversation_id)
    names = [keys.state, keys.transcript, keys.lock, keys.fence, keys.results]
    names += [keys.result("m1"), keys.result("m}2{"), keys.result("")]
    assert len({slot(name) for name in names}) == 1


def test_conversations_spread_over_slots_and_ids_cannot_collide() -> None:
    store = RedisStore(redis.asyncio.Redis(), tenant="acme")
    # the hash tag is per conversation, not per tenant: a tenant is not one hot slot
    assert len({slot(store.keys(f"c{i}").state) for i in range(100)}) > 90
    # an id containing "}:" cannot forge another conversation's key
    assert store.keys("x").result("m}:state") != store.keys("x}:result:m").state
    assert store.keys("a}b").state != store.keys("a%7Db").state


async def test_all_keys_written_for_a_conversation_share_its_slot(store: RedisStore, raw: redis.Redis) -> None:
    written: set[str] = {store.user_index_key("alice")}
    for cid in ("a}b", "c2"):
        await fill(store, cid, "alice")
        keys = store.keys(cid)
        one_conversation = {keys.state, keys.transcript, keys.fence, keys.results, keys.result("m1")}
        assert {slot(k) for k in one_conversation} == {slot(keys.state)}
        written |= one_conversation
    assert set(raw.scan_iter("*")) == written  # nothing was written outside these keys


# --- storage format and TTLs ---------------------------------------------------------


async def test_ttls_are_set_on_every_key(fresh_redis_url: str, raw: redis.Redis) -> None:
    store = RedisStore.from_url(fresh_redis_url, state_ttl=1000, transcript_ttl=2000, result_ttl=3000, lock_ttl=50)
    await fill(store, "c1", "alice")
    keys = store.keys("c1")
    expected = {
        keys.state: 1000,
        keys.transcript: 2000,
        keys.result("m1"): 3000,
        keys.results: 3000,
        keys.fence: 1000 + 50,
        store.user_index_key("alice"): 3000 * 1.5 + 50,  # longest TTL + refresh period + lock_ttl
    }
    for key, ttl in expected.items():
        assert ttl - 60 < raw.pttl(key) / 1000 <= ttl, key
    assert json.loads(raw.get(keys.state)) == state("c1", "alice").to_dict()
    await store.aclose()


async def test_idempotency_record_round_trip_with_day_long_ttl(store: RedisStore, raw: redis.Redis) -> None:
    result = {"reply": {"text": "订单已发货"}, "actions": ["tag"], "turn": 3}
    await store.put_result("c1", "msg-42", result)
    assert await store.get_result("c1", "msg-42") == result
    assert 86400 - 60 < raw.pttl(store.keys("c1").result("msg-42")) / 1000 <= 86400


async def test_result_index_drops_expired_message_ids(fresh_redis_url: str, raw: redis.Redis) -> None:
    store = RedisStore.from_url(fresh_redis_url, result_ttl=0.05)
    await store.put_result("c1", "old", {"n": 1})
    await asyncio.sleep(0.2)
    await store.put_result("c1", "new", {"n": 2})
    assert await store.get_result("c1", "old") is None
    assert raw.zrange(store.keys("c1").results, 0, -1) == ["new"]
    await store.aclose()


async def test_anonymous_conversations_are_not_indexed(store: RedisStore, raw: redis.Redis) -> None:
    await store.save(state("c1", "anonymous"))
    assert raw.exists(store.user_index_key("anonymous")) == 0
    with pytest.raises(InputError) as err:
        await store.erase_user("anonymous")
    assert err.value.code == "erase_anonymous"


# --- locks and fencing ---------------------------------------------------------------


async def test_two_workers_are_serialised(fresh_redis_url: str) -> None:
    workers = [RedisStore.from_url(fresh_redis_url) for _ in range(2)]
    fences: list[tuple[int, int]] = []

    async def turn(worker: int) -> None:
        store = workers[worker]
        async with store.lock("c1") as fence:
            current = await store.load("c1") or state("c1")
            await asyncio.sleep(0.001)  # a lost update shows if another turn slips in here
            current.turn += 1
            await store.save(current, fence=fence)
            fences.append((worker, fence))

    await asyncio.gather(*(turn(i % 2) for i in range(30)))
    loaded = await workers[0].load("c1")
    assert loaded is not None and loaded.turn == 30
    assert sorted(f for _, f in fences) == list(range(1, 31))
    assert {w for w, _ in fences} == {0, 1}
    for w in workers:
        await w.aclose()


WORKER = """
import asyncio, json, sys, time
from frontdesk.store_redis import RedisStore
from frontdesk.types import ConversationState

async def main(url, turns):
    store = RedisStore.from_url(url)
    await store.client.incr("test:ready")  # start together, so the two really contend
    while int(await store.client.get("test:ready")) < 2:
        await asyncio.sleep(0.001)
    fences, start = [], time.monotonic()
    for _ in range(turns):
        async with store.lock("shared") as fence:
            state = await store.load("shared") or ConversationState("shared", user_id="u1")
            await asyncio.sleep(0.001)
            state.turn += 1
            await store.save(state, fence=fence)
            fences.append(fence)
    print(json.dumps({"fences": fences, "start": start, "end": time.monotonic()}))
    await store.aclose()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_two_processes_are_serialised(fresh_redis_url: str) -> None:
    turns = 25
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, fresh_redis_url, str(turns)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        runs.append(json.loads(out))
    store = RedisStore.from_url(fresh_redis_url)
    loaded = await store.load("shared")
    await store.aclose()
    assert loaded is not None and loaded.turn == 2 * turns
    assert sorted(runs[0]["fences"] + runs[1]["fences"]) == list(range(1, 2 * turns + 1))
    # CLOCK_MONOTONIC is system-wide: the two runs overlapped, so they did contend
    assert max(r["start"] for r in runs) < min(r["end"] for r in runs)


async def test_busy_conversation_times_out_with_conflict(fresh_redis_url: str) -> None:
    holder = RedisStore.from_url(fresh_redis_url)
    waiter = RedisStore.from_url(fresh_redis_url, acquire_timeout=0.05)
    async with holder.lock("c1"):
        with pytest.raises(Conflict) as err:
            async with waiter.lock("c1"):
                pass
    assert err.value.code == "conversation_busy"
    assert err.value.status == 409 and "lock_ttl" in err.value.hint
    async with waiter.lock("c1") as fence:
        assert fence == 2
    await holder.aclose()
    await waiter.aclose()


async def test_lock_of_a_killed_holder_expires(fresh_redis_url: str) -> None:
    killed = RedisStore.from_url(fresh_redis_url, lock_ttl=0.3)
    successor = RedisStore.from_url(fresh_redis_url, acquire_timeout=5)
    abandoned = killed.lock("c1")
    old_fence = await abandoned.__aenter__()  # acquired, then the worker "dies"
    async with successor.lock("c1") as fence:
        assert fence == old_fence + 1
    await killed.aclose()
    await successor.aclose()


async def test_stale_fence_cannot_overwrite_newer_state(fresh_redis_url: str) -> None:
    slow = RedisStore.from_url(fresh_redis_url, lock_ttl=0.2)
    fast = RedisStore.from_url(fresh_redis_url, acquire_timeout=5)
    probe = RedisStore.from_url(fresh_redis_url, acquire_timeout=0.05)

    slow_lock = slow.lock("c1")
    slow_fence = await slow_lock.__aenter__()
    async with fast.lock("c1") as fast_fence:  # granted once the slow lock expired
        await fast.save(state("c1", turn=2), fence=fast_fence)
        with pytest.raises(Conflict) as err:
            await slow.save(state("c1", turn=1), fence=slow_fence)
        assert err.value.code == "conversation_lock_lost"
        # the stale holder's release must not free the lock it no longer owns
        await slow_lock.__aexit__(None, None, None)
        with pytest.raises(Conflict):
            async with probe.lock("c1"):
                pass
    loaded = await fast.load("c1")
    assert loaded is not None and loaded.turn == 2
    await fast.save(state("c1", turn=3), fence=fast_fence)  # current fence: accepted
    await fast.save(state("c1", turn=4))  # unfenced writes are not checked
    loaded = await fast.load("c1")
    assert loaded is not None and loaded.turn == 4
    for s in (slow, fast, probe):
        await s.aclose()


async def test_a_turn_is_two_round_trips_plus_indexing_once_per_period(store: RedisStore, raw: redis.Redis) -> None:
    async def turn(conversation_id: str, message_id: str, updated_at: float) -> None:
        async with store.turn(conversation_id, message_id) as held:
            current = held.state or state(conversation_id, "alice")
            current.updated_at = updated_at
            await held.commit(current, {"m": message_id}, {"m": message_id})

    period = store.state_ttl / 2
    await turn("warm-up", "m0", 1.0)  # the server learns the scripts (SCRIPT LOAD after NOSCRIPT)
    sent: list[str] = []
    execute = store.calls.execute

    async def counted(command: Sequence[object], timeout: float | None) -> object:
        sent.append(str(command[0]))
        return await execute(command, timeout)  # type: ignore[arg-type]

    store.calls.execute = counted  # type: ignore[method-assign]
    await turn("c1", "m1", 10 * period + 1)  # new conversation: begin, index, commit
    await turn("c1", "m2", 10 * period + 2)  # same period: begin, commit
    await turn("c1", "m3", 11 * period + 1)  # first turn of a new period: the index is refreshed
    assert sent == ["EVALSHA"] * (3 + 2 + 3)
    assert raw.smembers(store.user_index_key("alice")) == {"c1", "warm-up"}


async def test_a_state_saved_by_an_older_version_still_loads(store: RedisStore, raw: redis.Redis) -> None:
    # before the transcript served as history, states carried a copy of the last turns
    older = {**state("c1", "alice", turn=3).to_dict(), "history": [{"user": "你好", "bot": "您好", "intent": "greet"}]}
    raw.set(store.keys("c1").state, json.dumps(older))
    async with store.turn("c1", "m4") as held:
        assert held.state == state("c1", "alice", turn=3)
        await held.commit(held.state, {"user": "hi"}, {"ok": True})
    assert "history" not in json.loads(raw.get(store.keys("c1").state))


async def test_a_turn_that_lost_its_lock_writes_nothing(store: RedisStore, raw: redis.Redis) -> None:
    with pytest.raises(Conflict) as err:
        async with store.turn("c1", "m1") as held:
            raw.delete(store.keys("c1").lock)  # expired; another worker takes the conversation
            async with store.lock("c1"):
                pass
            await held.commit(state("c1"), {"text": "late"}, {"reply": "late"})
    assert err.value.code == "conversation_lock_lost"
    assert await store.load("c1") is None
    assert await store.transcript("c1") == [] and await store.get_result("c1", "m1") is None


async def test_a_retried_acquire_returns_the_same_grant(store: RedisStore) -> None:
    lock = store.lock("c1")
    first = await lock.__aenter__()
    assert await lock.__aenter__() == first  # what a redis-py retry after a lost reply sees
    await lock.__aexit__(None, None, None)
    async with store.lock("c1") as fence:
        assert fence == first + 1


async def test_acquire_cancelled_after_the_grant_hands_the_lock_back(store: RedisStore, fresh_redis_url: str) -> None:
    run = store._script
    calls = 0

    async def grant_then_cancel(*args: Any) -> Any:
        nonlocal calls
        calls += 1
        reply = await run(*args)
        if calls == 1:  # the acquire: the reply is lost to a cancellation
            raise asyncio.CancelledError
        return reply

    store._script = grant_then_cancel  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        async with store.lock("c1"):
            pass
    probe = RedisStore.from_url(fresh_redis_url, acquire_timeout=0.05)
    async with probe.lock("c1") as fence:
        assert fence == 2
    await probe.aclose()


# --- commands pipelined on one connection ---------------------------------------------


def script_clients(raw: redis.Redis) -> int:
    """Connections that have run a script (the test's own raw client never does)."""
    return sum(1 for c in raw.client_list() if c["cmd"] in ("evalsha", "script|load"))


async def test_concurrent_calls_share_one_connection_and_each_gets_its_reply(
    store: RedisStore, raw: redis.Redis
) -> None:
    async def turn(i: int) -> tuple[int, int]:
        conversation_id = f"c{i % 20}"
        async with store.turn(conversation_id, f"m{i}") as held:
            current = held.state or state(conversation_id, "alice")
            current.turn += 1
            await held.commit(current, {"i": i}, {"i": i})
        return i, current.turn

    done = await asyncio.gather(*(turn(i) for i in range(200)))
    assert [i for i, _ in done] == list(range(200))
    for c in range(20):  # ten turns each, one at a time: nothing lost, no reply crossed over
        loaded = await store.load(f"c{c}")
        assert loaded is not None and loaded.turn == 10
        assert sorted(e["i"] for e in await store.transcript(f"c{c}")) == list(range(c, 200, 20))
    assert await store.get_result("c7", "m127") == {"i": 127}
    assert script_clients(raw) == 1


async def test_a_caller_that_gives_up_leaves_the_connection_to_the_others(store: RedisStore, raw: redis.Redis) -> None:
    await store.save(state("c1", "alice"))
    calls = [asyncio.create_task(store.save(state(f"c{i}", "alice", turn=i))) for i in range(30)]
    await asyncio.sleep(0)  # all sent, none answered yet
    for call in calls[::3]:
        call.cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results[::3])
    assert all(r is None for i, r in enumerate(results) if i % 3)
    loaded = await store.load("c29")
    assert loaded is not None and loaded.turn == 29
    assert script_clients(raw) == 1  # the late replies were skipped, the connection kept


async def test_a_failing_script_fails_only_its_caller(store: RedisStore, raw: redis.Redis) -> None:
    raw.set(store.keys("c1").transcript, "not a list")  # RPUSH meets WRONGTYPE
    failing = store.append_transcript("c1", {"text": "hi"})
    fine = [store.append_transcript(f"c{i}", {"text": "hi"}) for i in range(2, 6)]
    results = await asyncio.gather(failing, *fine, return_exceptions=True)
    assert isinstance(results[0], ServiceUnavailable) and results[0].code == "redis_error"
    assert results[1:] == [None] * 4
    assert await store.transcript("c5") == [{"text": "hi"}]
    assert script_clients(raw) == 1


async def test_scripts_are_loaded_again_after_a_script_flush(store: RedisStore, raw: redis.Redis) -> None:
    await store.save(state("c1", "alice"))
    raw.script_flush()  # what a restarted or failed-over server has forgotten
    await asyncio.gather(*(store.save(state("c1", "alice", turn=i)) for i in range(5)))
    async with store.turn("c1", "m1") as held:
        assert held.state is not None
        await held.commit(held.state, {}, {"ok": True})
    assert await store.get_result("c1", "m1") == {"ok": True}


# --- erasure and tenants -------------------------------------------------------------


async def test_erase_user_leaves_other_users_and_tenants(fresh_redis_url: str, raw: redis.Redis) -> None:
    acme = RedisStore.from_url(fresh_redis_url, tenant="acme")
    other = RedisStore.from_url(fresh_redis_url, tenant="other")
    for tenant_store in (acme, other):
        await fill(tenant_store, "c1", "alice")
        await fill(tenant_store, "c2", "alice")
        await fill(tenant_store, "c3", "bob")
    before_other = {k: raw.dump(k) for k in raw.scan_iter("fd:other:*")}

    counts = await acme.erase_user("alice")

    assert counts == {"conversations": 2, "transcripts": 2, "results": 2}
    # all that is left of alice in acme: fence counters, expiring within lock_ttl
    for key in raw.scan_iter("fd:acme:*"):
        if "{conv:c3}" not in key and "{user:bob}" not in key:
            assert key.endswith(":fence") and raw.pttl(key) <= acme.lock_ttl * 1000, key
    assert await acme.load("c3") == state("c3", "bob")
    assert await acme.get_result("c3", "m1") == {"reply": "hi"}
    assert {k: raw.dump(k) for k in raw.scan_iter("fd:other:*")} == before_other
    assert await other.load("c1") == state("c1", "alice")
    for s in (acme, other):
        await s.aclose()


async def test_erase_skips_a_conversation_now_owned_by_another_user(store: RedisStore, raw: redis.Redis) -> None:
    await store.save(state("c1", "alice"))
    await store.save(state("c1", "bob"))  # the customer identified as bob
    assert await store.erase_user("alice") == {"conversations": 0, "transcripts": 0, "results": 0}
    assert await store.load("c1") == state("c1", "bob")
    assert raw.exists(store.user_index_key("alice")) == 0


async def test_erase_waits_for_the_running_turn(store: RedisStore) -> None:
    await store.save(state("c1", "alice"))
    async with store.lock("c1") as fence:
        task = asyncio.create_task(store.erase_user("alice"))
        await asyncio.sleep(0.05)
        assert not task.done()
        await store.save(state("c1", "alice", turn=1), fence=fence)
    # erased after the turn, including what the turn saved
    assert await task == {"conversations": 1, "transcripts": 0, "results": 0}
    assert await store.load("c1") is None


def test_tenant_must_be_key_safe() -> None:
    with pytest.raises(ConfigError):
        RedisStore(redis.asyncio.Redis(), tenant="a{b}")


# --- outages -------------------------------------------------------------------------


async def test_outage_raises_service_unavailable_then_recovers() -> None:
    with RedisServer() as server:
        store = RedisStore.from_url(server.url, acquire_timeout=1)
        await store.save(state("c1", "alice"))
        async with store.lock("c1"):
            server.stop()  # the release fails quietly: the lock expires by itself

        calls = {
            "load": store.load("c1"),
            "save": store.save(state("c1", "alice")),
            "append_transcript": store.append_transcript("c1", {"t": 1}),
            "transcript": store.transcript("c1"),
            "get_result": store.get_result("c1", "m1"),
            "put_result": store.put_result("c1", "m1", {}),
            "lock": store.lock("c1").__aenter__(),
            "erase_user": store.erase_user("alice"),
        }
        for name, call in calls.items():
            with pytest.raises(ServiceUnavailable) as err:
                await call
            assert err.value.code == "redis_unavailable", name
            assert err.value.hint and err.value.to_dict()["error"]["code"] == "redis_unavailable"
            assert isinstance(err.value.__cause__, redis.exceptions.ConnectionError), name
        assert await store.ping() is False

        server.start()  # same port, same store object
        assert await store.ping() is True
        await store.save(state("c1", "alice", turn=5))
        loaded = await store.load("c1")
        assert loaded is not None and loaded.turn == 5
        async with store.lock("c1") as fence:
            assert fence == 1  # the restarted server kept nothing (no persistence)
        await store.aclose()


async def test_a_hung_redis_fails_calls_instead_of_hanging_them() -> None:
    with RedisServer() as server:
        store = RedisStore.from_url(server.url, command_timeout=0.2)
        await store.save(state("c1", "alice"))
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)  # alive, connected, silent
        try:
            for call in (store.load("c1"), store.turn("c1", "m1").__aenter__()):
                with pytest.raises(ServiceUnavailable) as err:
                    await asyncio.wait_for(call, timeout=30)  # guards the test, not the store
                assert err.value.code == "redis_unavailable" and "did not answer" in err.value.message
            assert await store.ping() is False
        finally:
            server.proc.send_signal(signal.SIGCONT)
        loaded = await store.load("c1")  # the timed-out connections were dropped, not reused mid-reply
        assert loaded == state("c1", "alice")
        await store.aclose()


async def test_callers_queued_behind_a_hung_handshake_fail_within_their_timeout() -> None:
    with RedisServer() as server:
        store = RedisStore.from_url(server.url, command_timeout=0.3)  # no connection yet
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            started = time.monotonic()
            calls = [store.save(state(f"c{i}", "alice")) for i in range(10)]
            results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), timeout=30)
            elapsed = time.monotonic() - started
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert [getattr(r, "code", r) for r in results] == ["redis_unavailable"] * 10
        assert elapsed < 2  # one timeout each, not one after another
        await store.save(state("c1", "alice"))  # and it connects once the server is back
        assert await store.load("c1") == state("c1", "alice")
        await store.aclose()


# --- deployment modes ----------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster_node() -> Iterator[RedisServer]:
    with RedisServer(cluster=True) as node:
        yield node


async def test_every_operation_runs_on_a_real_cluster(cluster_node: RedisServer) -> None:
    store = RedisStore.from_url(cluster_node.url, mode="cluster", tenant="t1")
    # control: this node enforces Cluster's one-slot rule for scripts (CROSSSLOT)
    with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
        await store.client.eval("return 1", 2, store.keys("c1").state, store.keys("c2").state)
    await fill(store, "c1", "alice")
    await fill(store, "c2", "alice")
    async with store.turn("c3", "m1") as held:
        await held.commit(state("c3", "alice"), {"text": "hello"}, {"reply": "hi"})
    loaded = await store.load("c1")
    assert loaded == state("c1", "alice")
    assert await store.transcript("c1") == [{"text": "hello"}]
    assert await store.get_result("c2", "m1") == {"reply": "hi"}
    async with store.turn("c3", "m1") as held:
        assert held.result == {"reply": "hi"}
    assert await store.erase_user("alice") == {"conversations": 3, "transcripts": 3, "results": 3}
    assert await store.load("c2") is None
    assert await store.ping() is True
    await store.aclose()


async def test_sentinel_url_reaches_the_monitored_master(
    redis_server: RedisServer, fresh_redis_url: str, raw: redis.Redis
) -> None:
    with RedisSentinel(redis_server) as sentinel:
        store = RedisStore.from_url(sentinel.url, tenant="s1")
        await store.save(state("c1", "alice"))
        assert raw.exists(store.keys("c1").state) == 1
        assert await store.load("c1") == state("c1", "alice")
        await store.aclose()


def test_parse_sentinel_url() -> None:
    hosts, service, options = parse_sentinel_url(
        "rediss+sentinel://app:p%40ss@s1:26380,[::1]:26381,s3/mymaster/2?sentinel_password=x"
    )
    assert hosts == [("s1", 26380), ("::1", 26381), ("s3", 26379)]
    assert service == "mymaster"
    assert options == {
        "db": 2,
        "username": "app",
        "password": "p@ss",
        "ssl": True,
        "sentinel_password": "x",
    }


@pytest.mark.parametrize(
    ("url", "mode"),
    [
        ("redis://localhost:6379/0", "sentinel"),
        ("redis+sentinel://localhost:26379/mymaster", "cluster"),
        ("redis+sentinel://localhost:26379", None),
        ("redis://localhost:6379/0", "replicated"),
        ("http://localhost", None),
    ],
)
def test_connect_redis_rejects_bad_settings(url: str, mode: str | None) -> None:
    with pytest.raises(ConfigError) as err:
        connect_redis(url, mode)  # type: ignore[arg-type]
    assert isinstance(err.value, FrontdeskError) and err.value.hint
