"""The answer cache: key scoping, LRU with TTL, and the shared Redis tier (a real redis-server)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from manual_clock import ManualClock

from frontdesk.llm_cache import AnswerCache
from frontdesk.llm_types import ChatRequest, ChatResponse, Usage

pytestmark = pytest.mark.anyio

ANSWER = ChatResponse("您好，订单已发货。", Usage(12, 9), "m-1", "stop", "oa")


def key(
    cache: AnswerCache, req: ChatRequest, tenant: str = "acme", version: str = "1.0.0", tier: str = "primary"
) -> str:
    return cache.key(req, tenant=tenant, ruleset_version=version, tier=tier)


def test_equivalent_prompts_share_a_key() -> None:
    cache = AnswerCache()
    base = key(cache, ChatRequest.of("where is  my order?\n", system="be brief"))
    assert base == key(cache, ChatRequest.of(" where is my order? ", system="be  brief"))
    assert base == key(cache, ChatRequest.of("ｗｈｅｒｅ is my order？", system="be brief"))  # full-width forms
    assert base != key(cache, ChatRequest.of("Where is my order?", system="be brief"))  # case is meaning


def test_everything_that_changes_the_answer_changes_the_key() -> None:
    cache = AnswerCache()
    req = ChatRequest.of("where is my order", system="be brief")
    base = key(cache, req)
    variants = {
        key(cache, req, tenant="other"),
        key(cache, req, version="1.0.1"),
        key(cache, req, tier="light"),
        key(cache, ChatRequest.of("where is my order", system="be brief", customer_scope="cust-1")),
        key(cache, ChatRequest.of("where is my order", system="be brief", json_mode=True)),
        key(cache, ChatRequest.of("where is my order", system="be brief", max_tokens=10)),
        key(cache, ChatRequest.of("where is my order", system="be brief", temperature=0.5)),
        key(cache, ChatRequest.of("where is my order")),
    }
    assert base not in variants and len(variants) == 8
    assert key(cache, req).startswith("fd:llm:acme:")


def test_customers_never_share_a_scoped_entry() -> None:
    cache = AnswerCache()
    one = key(cache, ChatRequest.of("my balance?", customer_scope="cust-1"))
    two = key(cache, ChatRequest.of("my balance?", customer_scope="cust-2"))
    assert one != two


async def test_lru_hit_miss_and_ttl() -> None:
    clock = ManualClock()
    cache = AnswerCache(ttl=60, clock=clock)
    k = key(cache, ChatRequest.of("hi"))
    assert await cache.get(k) is None
    await cache.set(k, ANSWER)
    hit = await cache.get(k)
    assert hit is not None and hit.text == ANSWER.text and hit.cached
    clock.now += 59.9
    assert await cache.get(k) is not None
    clock.now += 0.1
    assert await cache.get(k) is None


async def test_lru_evicts_the_least_recently_used() -> None:
    cache = AnswerCache(max_entries=2)
    a, b, c = (key(cache, ChatRequest.of(t)) for t in "abc")
    await cache.set(a, ANSWER)
    await cache.set(b, ANSWER)
    assert await cache.get(a) is not None  # a is now the most recent
    await cache.set(c, ANSWER)
    assert await cache.get(b) is None
    assert await cache.get(a) is not None and await cache.get(c) is not None


@pytest.fixture
async def redis_client(fresh_redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(fresh_redis_url)
    yield client
    await client.aclose()


async def test_redis_shares_answers_between_workers(redis_client: aioredis.Redis) -> None:
    clock = ManualClock()
    worker_a = AnswerCache(ttl=60, redis=redis_client, clock=clock)
    worker_b = AnswerCache(ttl=60, redis=redis_client, clock=clock)
    k = key(worker_a, ChatRequest.of("hi"))
    await worker_a.set(k, ANSWER)
    assert 0 < await redis_client.pttl(k) <= 60_000
    hit = await worker_b.get(k)  # worker b's LRU is empty: the answer comes from Redis
    assert hit is not None and hit.cached
    assert (hit.text, hit.usage, hit.finish_reason, hit.vendor) == (ANSWER.text, ANSWER.usage, "stop", "oa")
    clock.now += 61  # Redis still holds it (its own clock), but the stored expiry has passed
    assert await AnswerCache(ttl=60, redis=redis_client, clock=clock).get(k) is None


async def test_redis_down_is_a_miss_not_an_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = aioredis.Redis(port=port, socket_connect_timeout=0.5)
    try:
        cache = AnswerCache(redis=client)
        k = key(cache, ChatRequest.of("hi"))
        assert await cache.get(k) is None
        await cache.set(k, ANSWER)  # logged, not raised
        assert await cache.get(k) is not None  # the LRU still serves this worker
    finally:
        await client.aclose()


async def test_erasing_a_scope_reaches_every_worker_and_nothing_else(redis_client: aioredis.Redis) -> None:
    worker_a, worker_b = AnswerCache(redis=redis_client), AnswerCache(redis=redis_client)
    ann = key(worker_a, ChatRequest.of("my balance?", customer_scope="user:ann"))
    ann_too = key(worker_a, ChatRequest.of("my orders?", customer_scope="user:ann"))
    bob = key(worker_a, ChatRequest.of("my balance?", customer_scope="user:bob"))
    shared = key(worker_a, ChatRequest.of("opening hours?"))
    other_tenant = key(worker_a, ChatRequest.of("my balance?", customer_scope="user:ann"), tenant="other")
    for k in (ann, ann_too, bob, shared, other_tenant):
        await worker_a.set(k, ANSWER)
    assert await worker_b.get(ann) is not None  # read through Redis: a customer's answer is not kept in process
    assert await worker_a.erase_scope("acme", "user:ann") == 2
    for cache in (worker_a, worker_b):
        assert await cache.get(ann) is None and await cache.get(ann_too) is None
        assert await cache.get(bob) is not None and await cache.get(shared) is not None
        assert await cache.get(other_tenant) is not None
    assert "user:ann" not in str(await redis_client.keys("*"))  # the scope itself is never written
    assert await worker_b.erase_scope("acme", "user:ann") == 0


async def test_erasing_a_scope_in_process() -> None:
    cache = AnswerCache()
    ann = key(cache, ChatRequest.of("my balance?", customer_scope="user:ann"))
    shared = key(cache, ChatRequest.of("my balance?"))
    await cache.set(ann, ANSWER)
    await cache.set(shared, ANSWER)
    assert await cache.erase_scope("acme", "user:ann") == 1
    assert await cache.get(ann) is None and await cache.get(shared) is not None
