"""The ConversationStore contract (engine/store.py), run against MemoryStore and RedisStore.

Written once, parametrised over both stores: anything the pipeline may rely on
belongs here, store-specific behaviour in test_store_redis.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from manual_clock import ManualClock

from frontdesk.store import ConversationStore, MemoryStore
from frontdesk.store_redis import RedisStore
from frontdesk.types import ConversationState

pytestmark = pytest.mark.anyio

LIMIT = 5


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[ConversationStore]:
    if request.param == "memory":
        yield MemoryStore(transcript_limit=LIMIT)
        return
    redis_store = RedisStore.from_url(request.getfixturevalue("fresh_redis_url"), transcript_limit=LIMIT)
    yield redis_store
    await redis_store.aclose()


def full_state(conversation_id: str, user_id: str = "u1") -> ConversationState:
    return ConversationState(
        conversation_id=conversation_id,
        user_id=user_id,
        ruleset="shop-zh",
        status="handed_off",
        turn=3,
        slots={"order_id": "202401010001", "items": [1, 2.5, None, True], "nested": {"k": "值"}},
        expecting="order_id",
        reask_count=1,
        last_intent="order_status",
        rule_memory={"repeated-anger": [1700000000.5, 1700000060.25]},
        tags=["vip"],
        created_at=1700000000.0,
        updated_at=1700000100.0,
    )


async def test_load_missing_is_none(store: ConversationStore) -> None:
    assert await store.load("nope") is None


async def test_save_load_round_trip_keeps_every_field(store: ConversationStore) -> None:
    state = full_state("c1")
    await store.save(state)
    loaded = await store.load("c1")
    assert loaded == state
    assert loaded is not state


async def test_save_overwrites(store: ConversationStore) -> None:
    await store.save(full_state("c1"))
    changed = full_state("c1")
    changed.turn = 4
    changed.slots = {}
    await store.save(changed)
    assert await store.load("c1") == changed


async def test_transcript_keeps_order_and_is_capped(store: ConversationStore) -> None:
    assert await store.transcript("c1") == []
    for i in range(LIMIT + 3):
        await store.append_transcript("c1", {"i": i, "text": f"第{i}条"})
    entries = await store.transcript("c1")
    assert [e["i"] for e in entries] == list(range(3, LIMIT + 3))
    assert entries[-1]["text"] == f"第{LIMIT + 2}条"
    assert await store.transcript("c2") == []


async def test_results_are_per_conversation_and_message(store: ConversationStore) -> None:
    assert await store.get_result("c1", "m1") is None
    await store.put_result("c1", "m1", {"reply": "a", "actions": ["handoff"]})
    await store.put_result("c1", "m2", {"reply": "b"})
    await store.put_result("c2", "m1", {"reply": "c"})
    assert await store.get_result("c1", "m1") == {"reply": "a", "actions": ["handoff"]}
    assert await store.get_result("c1", "m2") == {"reply": "b"}
    assert await store.get_result("c2", "m1") == {"reply": "c"}
    assert await store.get_result("c2", "m2") is None


async def test_lock_yields_increasing_fences(store: ConversationStore) -> None:
    fences = []
    for _ in range(3):
        async with store.lock("c1") as fence:
            fences.append(fence)
    assert all(isinstance(f, int) for f in fences)
    assert fences == sorted(set(fences))


async def test_lock_serialises_turns_of_one_conversation(store: ConversationStore) -> None:
    # each task reads, yields to the others, then writes: without mutual
    # exclusion increments are lost and the final count is below 20
    async def turn() -> None:
        async with store.lock("c1"):
            state = await store.load("c1") or ConversationState("c1", user_id="u1")
            await asyncio.sleep(0.001)
            state.turn += 1
            await store.save(state)

    await asyncio.gather(*(turn() for _ in range(20)))
    loaded = await store.load("c1")
    assert loaded is not None and loaded.turn == 20


async def test_locks_of_different_conversations_are_independent(
    store: ConversationStore,
) -> None:
    async def nested() -> None:
        async with store.lock("c1"), store.lock("c2"):
            pass

    await asyncio.wait_for(nested(), timeout=5)


async def test_lock_is_released_when_the_turn_fails(store: ConversationStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.lock("c1"):
            raise RuntimeError("turn failed")

    async def next_turn() -> None:
        async with store.lock("c1"):
            pass

    await asyncio.wait_for(next_turn(), timeout=5)


async def test_a_turn_commits_state_transcript_and_result_together(store: ConversationStore) -> None:
    async with store.turn("c1", "m1") as held:
        assert held.state is None and held.result is None
        await held.commit(full_state("c1"), {"text": "hi"}, {"reply": "hello"})
    async with store.turn("c1", "m2") as held:
        assert held.state == full_state("c1") and held.result is None
    assert await store.transcript("c1") == [{"text": "hi"}]
    assert await store.get_result("c1", "m1") == {"reply": "hello"}


async def test_a_turn_reads_as_many_transcript_entries_as_asked(store: ConversationStore) -> None:
    for i in range(LIMIT + 2):  # the transcript keeps the last LIMIT
        async with store.turn("c1", f"m{i}", history=3) as held:
            assert held.history == [{"i": j} for j in range(max(0, i - 3), i)]  # oldest first
            await held.commit(full_state("c1"), {"i": i}, {"i": i})
    async with store.turn("c1", "next", history=LIMIT + 10) as held:
        assert [e["i"] for e in held.history] == list(range(2, LIMIT + 2))  # no more than is kept
    async with store.turn("c1", "next") as held:
        assert held.history == []  # the default: none read
    async with store.turn("c1", "m0", history=3) as held:
        assert held.result == {"i": 0} and held.history == []  # a retry gets its result only


async def test_a_repeated_message_gets_its_result_without_waiting_for_the_conversation(
    store: ConversationStore,
) -> None:
    async with store.turn("c1", "m1") as held:
        await held.commit(full_state("c1"), {"text": "hi"}, {"reply": "hello"})

    async def retry() -> dict | None:
        async with store.turn("c1", "m1") as again:
            return again.result

    async with store.lock("c1"):  # another turn is running
        assert await asyncio.wait_for(retry(), timeout=5) == {"reply": "hello"}


async def test_turns_of_one_conversation_are_serialised(store: ConversationStore) -> None:
    async def turn(i: int) -> None:
        async with store.turn("c1", f"m{i}") as held:
            state = held.state or ConversationState("c1", user_id="u1")
            await asyncio.sleep(0.001)
            state.turn += 1
            await held.commit(state, {"i": i}, {"i": i})

    await asyncio.gather(*(turn(i) for i in range(LIMIT)))
    loaded = await store.load("c1")
    assert loaded is not None and loaded.turn == LIMIT
    assert sorted(e["i"] for e in await store.transcript("c1")) == list(range(LIMIT))


async def test_a_turn_that_fails_before_commit_writes_nothing_and_frees_the_conversation(
    store: ConversationStore,
) -> None:
    with pytest.raises(RuntimeError):
        async with store.turn("c1", "m1"):
            raise RuntimeError("turn failed")

    async def next_turn() -> None:
        async with store.turn("c1", "m1") as held:
            assert held.state is None and held.result is None

    await asyncio.wait_for(next_turn(), timeout=5)
    assert await store.transcript("c1") == []


async def test_erase_user_removes_only_that_user(store: ConversationStore) -> None:
    for cid, user in [("a1", "alice"), ("a2", "alice"), ("b1", "bob")]:
        await store.save(full_state(cid, user))
        await store.append_transcript(cid, {"text": f"hi from {user}"})
        await store.put_result(cid, "m1", {"reply": "x"})
    await store.put_result("a1", "m2", {"reply": "y"})

    counts = await store.erase_user("alice")

    assert counts == {"conversations": 2, "transcripts": 2, "results": 3}
    for cid in ("a1", "a2"):
        assert await store.load(cid) is None
        assert await store.transcript(cid) == []
        assert await store.get_result(cid, "m1") is None
    assert await store.get_result("a1", "m2") is None
    assert await store.load("b1") == full_state("b1", "bob")
    assert await store.transcript("b1") == [{"text": "hi from bob"}]
    assert await store.get_result("b1", "m1") == {"reply": "x"}
    assert await store.erase_user("alice") == {"conversations": 0, "transcripts": 0, "results": 0}


async def test_ping(store: ConversationStore) -> None:
    assert await store.ping() is True


# --- MemoryStore only: expiry and copies, on a clock the test moves -------------------------


async def test_memory_store_expires_each_kind_after_its_ttl_from_the_last_write() -> None:
    clock = ManualClock()
    store = MemoryStore(state_ttl=100, transcript_ttl=50, result_ttl=10, clock=clock)
    async with store.turn("c1", "m1") as held:
        await held.commit(full_state("c1"), {"i": 1}, {"reply": 1})
    clock.now += 9
    assert await store.get_result("c1", "m1") == {"reply": 1}
    clock.now += 1  # result_ttl after the write: a retry now runs as a new message
    async with store.turn("c1", "m1") as held:
        assert held.result is None and held.state == full_state("c1")
        await held.commit(full_state("c1"), {"i": 2}, {"reply": 2})  # renews state and transcript
    clock.now += 49
    assert [e["i"] for e in await store.transcript("c1")] == [1, 2]
    clock.now += 1
    assert await store.transcript("c1") == [] and await store.load("c1") == full_state("c1")
    clock.now += 50
    assert await store.load("c1") is None


async def test_memory_store_drops_what_expired_as_it_writes() -> None:
    clock = ManualClock()
    store = MemoryStore(state_ttl=60, transcript_ttl=60, result_ttl=60, clock=clock)
    for i in range(1000):  # one new conversation a second: at most a minute of them is kept
        async with store.turn(f"c{i}", "m") as held:
            await held.commit(full_state(f"c{i}"), {"i": i}, {"i": i})
        clock.now += 1
    assert max(len(store._states), len(store._transcripts), len(store._results)) <= 61
    assert await store.load("c999") is not None and await store.load("c900") is None


async def test_memory_store_hands_out_copies() -> None:
    store = MemoryStore()
    result = {"reply": {"text": "hi"}}
    await store.put_result("c1", "m1", result)
    result["reply"]["text"] = "changed by the caller"
    got = await store.get_result("c1", "m1")
    assert got == {"reply": {"text": "hi"}}
    got["reply"]["text"] = "changed again"
    assert await store.get_result("c1", "m1") == {"reply": {"text": "hi"}}
