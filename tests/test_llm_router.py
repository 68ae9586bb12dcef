"""The router against the mock vendor: tiers, fallback, retries, deadlines, breakers, cache, budgets."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from decimal import Decimal
from typing import Any

import pluggy
import pytest
from llm_support import Clock
from mock_vendor import Fault, MockVendor

import frontdesk.adapters.anthropic as anthropic_adapter
import frontdesk.adapters.openai_compat as openai_adapter
from frontdesk import hookspecs
from frontdesk.cost import MemoryCostTracker
from frontdesk.errors import ConfigError, PluginError, VendorError
from frontdesk.llm_cache import AnswerCache
from frontdesk.llm_router import LLMRouter, build_clients
from frontdesk.llm_types import ChatRequest, StreamDelta
from frontdesk.models_config import BudgetConfig, ModelsConfig
from frontdesk.retry import RetryPolicy, retry

pytestmark = pytest.mark.anyio

KEY = "sk-router-test"
REQ = ChatRequest.of("where is my order", system="You are a shop assistant.")
ANSWER = "echo: where is my order"
TOKENS = {"input": len("You are a shop assistant.") + len("where is my order"), "output": len(ANSWER)}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockVendor]:
    with MockVendor(api_key=KEY) as mv:
        yield mv


@pytest.fixture(autouse=True)
def _clean(mock: MockVendor) -> None:
    mock.reset()


def config(mock: MockVendor, *, timeout: float = 5.0, **routing: Any) -> ModelsConfig:
    retry = {"max_attempts": 2, "base_delay": 0.01, "max_delay": 0.05, **routing.pop("retry", {})}
    vendor = {"api_key": KEY, "timeout": timeout}
    return ModelsConfig.model_validate(
        {
            "vendors": {
                "oa": {"kind": "openai", "base_url": mock.openai_base_url, **vendor},
                "an": {"kind": "anthropic", "base_url": mock.anthropic_base_url, **vendor},
            },
            "models": {
                "a": {
                    "vendor": "oa",
                    "model": "model-a",
                    "input_per_1k": "0.001",
                    "output_per_1k": "0.002",
                    "context_window": 8000,
                },
                "b": {
                    "vendor": "an",
                    "model": "model-b",
                    "input_per_1k": "0.003",
                    "output_per_1k": "0.015",
                    "context_window": 200_000,
                },
                "c": {"vendor": "oa", "model": "model-c", "context_window": 8000},
                "tiny": {"vendor": "oa", "model": "model-tiny", "context_window": 64},
            },
            "tiers": {"primary": ["a", "b"], "light": ["c"], "long": ["b"], "solo": ["a"], "cramped": ["tiny", "c"]},
            "routing": {"retry": retry, **routing},
        }
    )


def factories() -> dict[str, Any]:
    pm = pluggy.PluginManager("frontdesk")
    pm.add_hookspecs(hookspecs)
    pm.register(openai_adapter)
    pm.register(anthropic_adapter)
    found: dict[str, Any] = {}
    pm.hook.register_models(register=found.__setitem__)
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def make_router(mock: MockVendor, clock: Clock) -> AsyncIterator[Any]:
    routers: list[LLMRouter] = []

    def make(cfg: ModelsConfig | None = None, **kw: Any) -> LLMRouter:
        cfg = cfg or config(mock)
        router = LLMRouter(
            cfg, build_clients(cfg, factories()), clock=clock, sleep=clock.sleep, rng=random.Random(7), **kw
        )
        routers.append(router)
        return router

    yield make
    for router in routers:
        await router.aclose()


def brief(explain: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return [(e["model"], e["attempt"], e["outcome"], e["error"], e["fallback_taken"]) for e in explain]


async def collect(stream: AsyncIterator[StreamDelta]) -> list[StreamDelta]:
    async with aclosing(stream):  # type: ignore[type-var]
        return [d async for d in stream]


async def test_the_first_model_answers_and_is_explained(mock: MockVendor, make_router: Any) -> None:
    explain: list[dict[str, Any]] = []
    resp = await make_router().complete(REQ, tenant="acme", explain=explain)
    assert (resp.text, resp.vendor, resp.model) == (ANSWER, "oa", "model-a")
    (entry,) = explain
    assert entry.pop("latency_ms") >= 0
    assert entry == {
        "vendor": "oa",
        "model": "a",
        "tier": "primary",
        "attempt": 1,
        "outcome": "ok",
        "error": None,
        "tokens": TOKENS,
        "cache_hit": False,
        "fallback_taken": False,
    }
    assert [r.model for r in mock.requests] == ["model-a"]


async def test_fallback_chain_is_walked_in_order(mock: MockVendor, make_router: Any) -> None:
    mock.set_default(Fault.error(500), model="model-a")
    costs = MemoryCostTracker(BudgetConfig())
    explain: list[dict[str, Any]] = []
    resp = await make_router(costs=costs).complete(REQ, tenant="acme", explain=explain)
    assert (resp.text, resp.vendor) == (ANSWER, "an")
    assert [r.model for r in mock.requests] == ["model-a", "model-a", "model-b"]
    assert brief(explain) == [
        ("a", 1, "error", "vendor_unavailable", False),
        ("a", 2, "error", "vendor_unavailable", False),
        ("b", 1, "ok", None, True),
    ]
    # a's reservation was released, b's settled at b's prices
    b = config(mock).models["b"]
    assert await costs.held("acme") == (b.cost_nanos(TOKENS["input"], TOKENS["output"]), 0)


async def test_a_non_retryable_error_falls_back_at_once(mock: MockVendor, make_router: Any, clock: Clock) -> None:
    mock.script(Fault.error(400), model="model-a")
    explain: list[dict[str, Any]] = []
    await make_router().complete(REQ, explain=explain)
    assert [r.model for r in mock.requests] == ["model-a", "model-b"]
    assert brief(explain)[0] == ("a", 1, "error", "vendor_bad_request", False)
    assert clock.sleeps == []


async def test_all_vendors_failed(mock: MockVendor, make_router: Any) -> None:
    mock.set_default(Fault.error(503))
    explain: list[dict[str, Any]] = []
    with pytest.raises(VendorError) as info:
        await make_router().complete(REQ, explain=explain)
    assert (info.value.code, info.value.retryable) == ("all_vendors_failed", False)
    assert "a: vendor_unavailable; b: vendor_unavailable" in info.value.message
    assert [e["outcome"] for e in explain] == ["error"] * 4
    assert mock.count() == 4


async def test_retry_after_seconds_is_honoured(mock: MockVendor, make_router: Any, clock: Clock) -> None:
    mock.script(Fault.error(429, retry_after="1.5"), model="model-a")
    resp = await make_router().complete(REQ)
    assert resp.vendor == "oa"
    assert clock.sleeps == [1.5]  # the jitter (at most 0.01 s here) is below the vendor's wish
    assert mock.count(model="model-a") == 2


async def test_retry_after_http_date_is_honoured(mock: MockVendor, make_router: Any, clock: Clock) -> None:
    mock.script(Fault.error(503, retry_after=email.utils.formatdate(time.time() + 3, usegmt=True)), model="model-a")
    await make_router().complete(REQ)
    (wait,) = clock.sleeps
    assert 1.5 < wait <= 3.0  # the date has whole seconds
    assert mock.count(model="model-a") == 2


async def test_retry_after_beyond_the_deadline_falls_back_at_once(
    mock: MockVendor, make_router: Any, clock: Clock
) -> None:
    mock.script(Fault.error(429, retry_after="30"), model="model-a")
    resp = await make_router().complete(REQ, deadline=clock() + 5)
    assert resp.vendor == "an"
    assert clock.sleeps == []
    assert mock.count(model="model-a") == 1


async def test_retries_stop_at_the_deadline(mock: MockVendor, make_router: Any, clock: Clock) -> None:
    mock.set_default(Fault.error(500))
    retry = {"max_attempts": 100, "base_delay": 0.2, "max_delay": 1.0}
    router = make_router(config(mock, retry=retry, breaker={"min_calls": 100}))
    start = clock()
    with pytest.raises(VendorError) as info:
        await router.complete(REQ, tier="solo", deadline=start + 3.0)
    assert info.value.code == "all_vendors_failed"
    assert len(clock.sleeps) >= 2  # it did retry...
    assert sum(clock.sleeps) < 3.0  # ...but never waited past the deadline
    assert mock.count() == len(clock.sleeps) + 1 < 100


async def test_a_hanging_vendor_times_out_then_falls_back(mock: MockVendor, make_router: Any) -> None:
    mock.set_default(Fault.hanging(), model="model-a")
    explain: list[dict[str, Any]] = []
    resp = await make_router(config(mock, timeout=0.3, retry={"max_attempts": 1})).complete(REQ, explain=explain)
    assert resp.vendor == "an"
    assert brief(explain) == [("a", 1, "error", "vendor_timeout", False), ("b", 1, "ok", None, True)]


async def test_the_deadline_cuts_a_slow_call(mock: MockVendor, make_router: Any, clock: Clock) -> None:
    mock.set_default(Fault.latency(5.0), model="model-a")
    explain: list[dict[str, Any]] = []
    router = make_router(config(mock, timeout=10))
    with pytest.raises(VendorError) as info:
        await router.complete(REQ, deadline=clock() + 0.3, explain=explain)
    assert info.value.code == "all_vendors_failed"
    assert brief(explain) == [("a", 1, "error", "deadline_exceeded", False), ("b", 0, "deadline_exceeded", None, True)]
    assert mock.count(model="model-b") == 0
    assert router.breakers["a"].state == "closed"  # our deadline is not the vendor's fault


async def test_breaker_opens_on_errors_then_recovers(mock: MockVendor, make_router: Any, clock: Clock) -> None:
    breaker = {"min_calls": 3, "error_rate": 0.5, "open_seconds": 30, "half_open_probes": 1}
    router = make_router(config(mock, retry={"max_attempts": 1}, breaker=breaker))
    mock.set_default(Fault.error(500), model="model-a")
    for _ in range(3):
        assert (await router.complete(REQ)).vendor == "an"
    assert router.breakers["a"].state == "open"
    explain: list[dict[str, Any]] = []
    assert (await router.complete(REQ, explain=explain)).vendor == "an"
    assert brief(explain) == [("a", 0, "breaker_open", None, False), ("b", 1, "ok", None, True)]
    assert mock.count(model="model-a") == 3  # the open breaker spared the vendor
    mock.set_default(None, model="model-a")  # the vendor heals
    clock.offset += 30
    assert router.breakers["a"].state == "half_open"
    assert (await router.complete(REQ)).vendor == "oa"  # the probe
    assert router.breakers["a"].state == "closed"
    assert mock.count(model="model-a") == 4


async def test_retries_end_when_the_breaker_opens(mock: MockVendor, make_router: Any, clock: Clock) -> None:
    router = make_router(config(mock, retry={"max_attempts": 10}, breaker={"min_calls": 3, "error_rate": 0.5}))
    mock.set_default(Fault.error(500), model="model-a")
    explain: list[dict[str, Any]] = []
    assert (await router.complete(REQ, explain=explain)).vendor == "an"
    assert mock.count(model="model-a") == 3  # not 10: the third failure opened the breaker
    assert len(clock.sleeps) == 2  # and no wait was spent after it
    assert [e["model"] for e in explain] == ["a", "a", "a", "b"]


async def test_breaker_opens_on_slow_answers(mock: MockVendor, make_router: Any) -> None:
    breaker = {"min_calls": 2, "slow_call_seconds": 0.05, "slow_rate": 0.5}
    router = make_router(config(mock, breaker=breaker))
    mock.set_default(Fault.latency(0.1), model="model-a")
    for _ in range(2):
        assert (await router.complete(REQ)).vendor == "oa"  # slow, but answered
    assert router.breakers["a"].state == "open"
    assert (await router.complete(REQ)).vendor == "an"
    assert mock.count(model="model-a") == 2


async def test_tiers_explicit_and_by_prompt_length(mock: MockVendor, make_router: Any) -> None:
    router = make_router(config(mock, long_context_tokens=100))
    long_req = ChatRequest.of("order " * 80)
    explain: list[dict[str, Any]] = []
    assert (await router.complete(long_req, explain=explain)).vendor == "an"
    assert explain[0]["tier"] == "long"
    assert (await router.complete(long_req, tier="primary")).vendor == "oa"  # a rule's tier wins
    assert (await router.complete(REQ, tier="light")).model == "model-c"
    assert [r.model for r in mock.requests] == ["model-b", "model-a", "model-c"]
    with pytest.raises(ConfigError) as info:
        await router.complete(REQ, tier="premium")
    assert info.value.code == "unknown_tier"


async def test_a_model_whose_context_is_too_small_is_skipped(mock: MockVendor, make_router: Any) -> None:
    explain: list[dict[str, Any]] = []
    resp = await make_router().complete(REQ, tier="cramped", explain=explain)
    assert resp.model == "model-c"
    assert brief(explain) == [("tiny", 0, "context_too_small", None, False), ("c", 1, "ok", None, True)]
    assert mock.count(model="model-tiny") == 0


def test_a_vendor_kind_without_plugin_is_refused(mock: MockVendor) -> None:
    with pytest.raises(PluginError) as info:
        build_clients(config(mock), {"openai": factories()["openai"]})
    assert info.value.code == "vendor_kind_unknown" and "anthropic" in info.value.message


# -- the retry policy alone ----------------------------------------------------


class Flaky:
    """Fails with the given errors in turn, then answers."""

    def __init__(self, *errors: VendorError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def flaky_error(retry_after: float | None = None, retryable: bool = True) -> VendorError:
    return VendorError("boom", code="vendor_unavailable", retryable=retryable, retry_after=retry_after)


async def test_retry_waits_with_full_jitter_and_honours_retry_after(clock: Clock) -> None:
    attempt = Flaky(flaky_error(), flaky_error(), flaky_error(retry_after=4.0), flaky_error())
    policy = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=1.5)
    result = await retry(
        attempt, policy=policy, deadline=clock() + 60, clock=clock, sleep=clock.sleep, rng=random.Random(3)
    )
    assert (result, attempt.calls) == ("ok", 5)
    first, second, third, fourth = clock.sleeps
    assert 0 <= first <= 0.5 and 0 <= second <= 1.0  # uniform in [0, base * 2**n]
    assert third == 4.0  # the vendor's Retry-After is a floor
    assert 0 <= fourth <= 1.5  # capped at max_delay


async def test_retry_stops_on_final_errors_attempts_deadline_and_give_up(clock: Clock) -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=0.1)
    cases = [
        (Flaky(flaky_error(retryable=False), flaky_error()), {}, 1),  # not retryable
        (Flaky(*[flaky_error()] * 5), {}, 3),  # out of attempts
        (Flaky(flaky_error(retry_after=10.0), flaky_error()), {}, 1),  # the wait would pass the deadline
        (Flaky(*[flaky_error()] * 5), {"give_up": lambda: True}, 1),  # e.g. the breaker opened
    ]
    for attempt, extra, calls in cases:
        with pytest.raises(VendorError):
            await retry(attempt, policy=policy, deadline=clock() + 5, clock=clock, sleep=clock.sleep, **extra)
        assert attempt.calls == calls


# -- streaming ---------------------------------------------------------------


async def test_stream_through_the_router(mock: MockVendor, make_router: Any) -> None:
    explain: list[dict[str, Any]] = []
    deltas = await collect(make_router().stream(REQ, explain=explain))
    assert "".join(d.text for d in deltas) == ANSWER
    assert deltas[-1].usage is not None and deltas[-1].usage.output_tokens == len(ANSWER)
    (entry,) = explain
    assert (entry["outcome"], entry["tokens"], entry["first_token_ms"] <= entry["latency_ms"]) == ("ok", TOKENS, True)


async def test_stream_falls_back_before_the_first_text(mock: MockVendor, make_router: Any) -> None:
    mock.set_default(Fault.error(500), model="model-a")
    explain: list[dict[str, Any]] = []
    deltas = await collect(make_router().stream(REQ, explain=explain))
    assert "".join(d.text for d in deltas) == ANSWER
    assert [r.model for r in mock.requests] == ["model-a", "model-a", "model-b"]
    assert brief(explain)[-1] == ("b", 1, "ok", None, True)


async def test_stream_broken_after_text_is_not_retried(mock: MockVendor, make_router: Any) -> None:
    mock.script(Fault.aborted(after=1), model="model-a")
    costs = MemoryCostTracker(BudgetConfig())
    explain: list[dict[str, Any]] = []
    got: list[str] = []
    with pytest.raises(VendorError) as info:
        async with aclosing(make_router(costs=costs).stream(REQ, tenant="acme", explain=explain)) as stream:
            async for delta in stream:
                got.append(delta.text)
    assert info.value.code == "vendor_stream_interrupted"
    assert got == ["echo"]  # the customer saw this much: no other model may start over
    assert mock.count() == 1
    assert brief(explain) == [("a", 1, "interrupted", "vendor_stream_interrupted", False)]
    spent, reserved = await costs.held("acme")
    assert spent > 0 and reserved == 0  # the partial answer is charged at an estimate


async def test_a_stream_abandoned_by_its_reader_is_settled(mock: MockVendor, make_router: Any) -> None:
    costs = MemoryCostTracker(BudgetConfig())
    explain: list[dict[str, Any]] = []
    async with aclosing(make_router(costs=costs).stream(REQ, tenant="acme", explain=explain)) as stream:
        async for _ in stream:
            break
    assert brief(explain) == [("a", 1, "abandoned", None, False)]
    spent, reserved = await costs.held("acme")
    assert spent > 0 and reserved == 0


# -- cache and budgets ---------------------------------------------------------


async def test_a_cache_hit_makes_no_upstream_call(mock: MockVendor, make_router: Any) -> None:
    router = make_router(cache=AnswerCache())
    first = await router.complete(REQ, tenant="acme", ruleset_version="1")
    explain: list[dict[str, Any]] = []
    again = await router.complete(REQ, tenant="acme", ruleset_version="1", explain=explain)
    assert (again.text, again.cached, first.cached) == (ANSWER, True, False)
    assert brief(explain) == [(None, 0, "cache_hit", None, False)] and explain[0]["cache_hit"]
    deltas = await collect(router.stream(REQ, tenant="acme", ruleset_version="1"))
    assert "".join(d.text for d in deltas) == ANSWER
    assert mock.count() == 1
    await router.complete(REQ, tenant="acme", ruleset_version="2")  # a new ruleset version: a miss
    await router.complete(REQ, tenant="other", ruleset_version="1")  # another tenant: a miss
    assert mock.count() == 3


async def test_cache_respects_customer_scope_and_opt_out(mock: MockVendor, make_router: Any) -> None:
    router = make_router(cache=AnswerCache())
    for scope in ("cust-1", "cust-2", "cust-1"):
        await router.complete(ChatRequest.of("my balance?", customer_scope=scope))
    assert mock.count() == 2
    for _ in range(2):
        await router.complete(ChatRequest.of("my balance?", cacheable=False))
    assert mock.count() == 4


async def test_a_streamed_answer_fills_the_cache(mock: MockVendor, make_router: Any) -> None:
    router = make_router(cache=AnswerCache())
    await collect(router.stream(REQ))
    assert (await router.complete(REQ)).cached
    assert mock.count() == 1


async def test_an_exhausted_budget_fails_closed(mock: MockVendor, make_router: Any) -> None:
    costs = MemoryCostTracker(BudgetConfig(daily={"acme": Decimal("0.000001")}))
    explain: list[dict[str, Any]] = []
    with pytest.raises(VendorError) as info:
        await make_router(costs=costs).complete(REQ, tenant="acme", explain=explain)
    assert info.value.code == "budget_exhausted"
    assert [e["outcome"] for e in explain] == ["budget_exhausted", "budget_exhausted"]
    assert mock.count() == 0


async def test_costs_are_settled_per_tenant_model_and_conversation(mock: MockVendor, make_router: Any) -> None:
    costs = MemoryCostTracker(BudgetConfig(daily_default=Decimal(1)))
    router = make_router(costs=costs)
    for _ in range(3):
        await router.complete(REQ, tenant="acme", conversation_id="conv-1")
    a = config(mock).models["a"]
    one = a.cost_nanos(TOKENS["input"], TOKENS["output"])
    day = await costs.totals("acme")
    assert (day.calls, day.input_tokens, day.output_tokens, day.cost_nanos) == (
        3,
        3 * TOKENS["input"],
        3 * TOKENS["output"],
        3 * one,
    )
    assert (await costs.totals("acme", model="a")).cost_nanos == 3 * one
    assert (await costs.totals("acme", conversation_id="conv-1")).calls == 3
    assert await costs.held("acme") == (3 * one, 0)
