"""When vendors fail or slow down: degraded replies, breakers, time budgets, the policy, costs and budgets."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pytest
from llm_support import MAIN_MODEL, PRICES, SMALL_MODEL, Clock, engine, model_calls, say, service
from mock_vendor import Fault, MockVendor

from frontdesk.cost import MemoryCostTracker
from frontdesk.llm_types import estimate_tokens
from frontdesk.models_config import NANOS

pytestmark = pytest.mark.anyio
QUESTION = "do you sell umbrellas"
BUSY = {"text": "Our assistant is busy; please try again in a minute.", "template": "try_later", "source": "fallback"}


@pytest.fixture(autouse=True)
def _clean(mock: MockVendor) -> None:
    mock.reset()


async def test_an_outage_during_a_burst_degrades_every_reply_as_declared(mock: MockVendor) -> None:
    svc = service(mock)
    eng = engine(svc)
    try:
        warm = await say(eng, QUESTION, "warm")  # cached under the light tier
        mock.set_default(Fault.error(500))
        turns = [say(eng, QUESTION, f"vip-{i}", customer={"level": "VIP"}) for i in range(10)]
        turns += [say(eng, "is the red jacket in stock", f"product-{i}") for i in range(10)]
        turns += [say(eng, f"where is my order 1234567{i}", f"order-{i}") for i in range(10)]
        results = await asyncio.gather(*turns, return_exceptions=True)
    finally:
        await svc.aclose()
    assert [r for r in results if isinstance(r, BaseException)] == []
    vip, product, order = results[:10], results[10:20], results[20:]
    for r in vip:  # the primary tier failed; the light tier's cached answer to the same prompt stands in
        assert r["reply"] == {**warm["reply"], "source": "cache"}
        assert "llm:cached_answer" in r["explain"]["degradations"]
    for r in product:  # the rule's fallback
        assert r["reply"] == BUSY
        assert "llm:fallback_reply" in r["explain"]["degradations"]
    for r in order:  # no fallback: the ruleset's apology with a hand-off
        assert r["reply"]["text"] == "Sorry for the wait; a colleague will answer you shortly."
        assert r["handoff"] == {"queue": "llm-outage", "priority": "high", "rule": "order-known"}
        assert [a["type"] for a in r["actions"]] == ["handoff"] and r["status"] == "handed_off"
        assert "llm:apology_handoff" in r["explain"]["degradations"]


async def test_the_breaker_opens_and_recovers(mock: MockVendor) -> None:
    clock = Clock()
    breaker = {"min_calls": 2, "error_rate": 0.5, "open_seconds": 30, "half_open_probes": 1}
    svc = service(mock, clock=clock, routing={"breaker": breaker})
    eng = engine(svc)
    state = svc.router.breakers["small"]
    try:
        mock.set_default(Fault.error(500), model=SMALL_MODEL)
        failing = await say(eng, QUESTION, "a")
        assert model_calls(failing) == [("small", "error", "vendor_unavailable")] * 2
        assert state.state == "open"
        refused = await say(eng, QUESTION, "b")
        assert model_calls(refused) == [("small", "breaker_open", None)]
        assert mock.received == 2 and refused["reply"] == BUSY
        mock.set_default(None, model=SMALL_MODEL)
        clock.offset += 31  # open_seconds later: one probe may pass
        probe = await say(eng, QUESTION, "c")
    finally:
        await svc.aclose()
    assert model_calls(probe) == [("small", "ok", None)] and probe["reply"]["source"] == "llm"
    assert state.state == "closed" and mock.received == 3


async def test_retries_stop_at_the_turns_time_budget(mock: MockVendor) -> None:
    clock = Clock()
    routing = {"deadline_seconds": 2.5, "retry": {"max_attempts": 10, "base_delay": 0, "max_delay": 0}}
    svc = service(mock, clock=clock, routing=routing)
    try:
        mock.set_default(Fault.error(429, retry_after="1"))
        result = await say(engine(svc), QUESTION)
    finally:
        await svc.aclose()
    # tries at 0 s, 1 s and 2 s; a fourth could only start at 3 s, past the 2.5 s budget
    assert mock.received == 3 and clock.sleeps == [1.0, 1.0]
    assert model_calls(result) == [("small", "error", "vendor_rate_limited")] * 3
    assert result["reply"] == BUSY and "llm:all_vendors_failed" in result["explain"]["degradations"]


async def test_slow_vendors_degrade_to_cached_answers_and_recover(mock: MockVendor) -> None:
    clock = Clock()
    svc = service(
        mock,
        clock=clock,
        routing={"breaker": {"min_calls": 3, "slow_call_seconds": 30}},
        degradation={"window_seconds": 10, "steps": [{"p99_latency_ms": 200, "action": "serve_cached"}]},
    )
    eng = engine(svc)
    try:
        mock.set_default(Fault.latency(0.25))
        for i, text in enumerate([QUESTION, "is the red jacket in stock", "are the gloves waterproof"]):
            assert (await say(eng, text, f"slow-{i}"))["reply"]["source"] == "llm"
        clock.offset += 1  # past the moment a verdict is reused
        cached = await say(eng, QUESTION, "cached")
        uncached = await say(eng, "do you have wool socks", "uncached")
        unsure = await say(eng, "hmm", "unsure")
        assert mock.received == 3  # no vendor call while degraded
        clock.offset += 11  # the slow calls leave the 10 s window
        recovered = await say(eng, "do you have wool socks", "recovered")
    finally:
        await svc.aclose()
    assert cached["reply"]["source"] == "cache" and uncached["reply"] == BUSY
    for r in (cached, uncached, unsure):
        assert "llm:serve_cached" in r["explain"]["degradations"]
    note = next(n for n in cached["explain"]["notes"] if n.startswith("llm degraded to serve_cached"))
    assert note.endswith("over the last 3 vendor calls") and "errors 0%" in note
    assert any("vendor calls are suspended (serve_cached)" in n for n in unsure["explain"]["notes"])
    assert recovered["reply"]["source"] == "llm" and recovered["explain"]["degradations"] == []
    assert mock.received == 4


async def test_errors_degrade_to_templates_and_latency_to_the_light_tier(mock: MockVendor) -> None:
    clock = Clock()
    # the breaker opens after the first failure (1 of 2 calls), so 1 of the 4 calls failed
    steps = [{"error_rate": 0.2, "action": "templates_only"}, {"p99_latency_ms": 1, "action": "light_tier"}]
    svc = service(mock, clock=clock, routing={"breaker": {"min_calls": 2}}, degradation={"steps": steps})
    eng = engine(svc)
    vip = {"level": "VIP"}
    try:
        await say(eng, "are the gloves waterproof", "ok-1", customer=vip)
        await say(eng, "is the red jacket in stock", "ok-2", customer=vip)
        clock.offset += 1
        light = await say(eng, QUESTION, "light", customer=vip)  # any call takes over 1 ms
        mock.set_default(Fault.error(500))
        await say(eng, "do you have wool socks", "failing", customer=vip)
        clock.offset += 1
        seen = mock.received
        templates = await say(eng, "how big is the backpack", "templates", customer=vip)
    finally:
        await svc.aclose()
    assert [r.model for r in mock.requests[:3]] == [MAIN_MODEL, MAIN_MODEL, SMALL_MODEL]
    assert "llm:light_tier" in light["explain"]["degradations"]
    assert mock.received == seen and templates["reply"] == BUSY
    assert "llm:templates_only" in templates["explain"]["degradations"]


def mock_answer(body: dict[str, Any]) -> str:
    """What the mock vendor answers (see tests/mock_vendor.py)."""
    last = next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")
    json_mode = (body.get("response_format") or {}).get("type") == "json_object"
    return json.dumps({"echo": last}, ensure_ascii=False) if json_mode else f"echo: {last}"


def nanos(model: str, input_tokens: int, output_tokens: int) -> int:
    per_in, per_out = (Decimal(str(p)) * 10**6 for p in PRICES[model])  # nano-units per token
    return int(input_tokens * per_in + output_tokens * per_out)


async def test_cost_accounting_adds_up_exactly(mock: MockVendor) -> None:
    svc = service(mock)
    eng = engine(svc)
    turns = [
        ("hmm", "c1", {}),  # understanding (primary) and its repair
        (QUESTION, "c1", {}),  # an answer on the light tier
        (QUESTION, "c2", {"level": "VIP"}),  # on the primary tier
        ("where is my order 12345678", "c2", {}),
        (QUESTION, "c3", {}),  # a cache hit costs nothing
    ]
    expected: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    names = {MAIN_MODEL: "main", SMALL_MODEL: "small"}
    try:
        for text, conversation, customer in turns:
            seen = len(mock.requests)
            result = await say(eng, text, conversation, customer=customer)
            calls = [c for c in result["explain"]["model_calls"] if c["outcome"] == "ok"]
            for request, call in zip(mock.requests[seen:], calls, strict=True):
                model = names[request.model]
                tokens = sum(len(m["content"]) for m in request.body["messages"]), len(mock_answer(request.body))
                assert (call["tokens"]["input"], call["tokens"]["output"]) == tokens
                for key in ((model, ""), ("", conversation), ("", "")):
                    totals = expected[key]
                    totals[0] += 1
                    totals[1] += tokens[0]
                    totals[2] += tokens[1]
                    totals[3] += nanos(model, *tokens)
        costs = svc.router.costs
        assert isinstance(costs, MemoryCostTracker)
        assert mock.received == 5
        for (model, conversation), (calls, input_tokens, output_tokens, cost) in expected.items():
            got = await costs.totals("acme", model=model or None, conversation_id=conversation or None)
            assert (got.calls, got.input_tokens, got.output_tokens, got.cost_nanos) == (
                calls,
                input_tokens,
                output_tokens,
                cost,
            )
        assert await costs.held("acme") == (expected["", ""][3], 0)
        assert (await costs.totals("acme")).cost == Decimal(expected["", ""][3]) / NANOS
    finally:
        await svc.aclose()


def worst_case(body: dict[str, Any], model: str) -> int:
    """What the router reserves: the estimated prompt and the full reply allowance at the model's prices."""
    prompt = sum(estimate_tokens(m["content"]) + 4 for m in body["messages"])
    return nanos(model, prompt, body["max_tokens"])


async def test_budgets_fail_closed_under_concurrent_turns(mock: MockVendor) -> None:
    probe = service(mock, tenant="probe")
    try:
        await say(engine(probe), QUESTION)
    finally:
        await probe.aclose()
    small, main = worst_case(mock.requests[0].body, "small"), worst_case(mock.requests[0].body, "main")
    limit = 3 * small + small // 2  # three light answers fit at once, a primary one never
    assert main > limit
    budgets = {"daily": {"acme": str(Decimal(limit) / NANOS)}}
    svc = service(mock, cache=False, budgets=budgets)
    eng = engine(svc)
    try:
        mock.set_default(Fault.latency(0.5))  # every turn reserves before any settles
        results = await asyncio.gather(*(say(eng, QUESTION, f"burst-{i}") for i in range(10)))
        costs = svc.router.costs
        assert isinstance(costs, MemoryCostTracker)
        spent, reserved = await costs.held("acme")
        totals = await costs.totals("acme")
    finally:
        await svc.aclose()
    answered = [r for r in results if r["reply"]["source"] == "llm"]
    refused = [r for r in results if r["reply"]["source"] == "fallback"]
    assert (len(answered), len(refused)) == (3, 7)
    for r in refused:
        assert r["reply"] == BUSY and "llm:budget_exhausted" in r["explain"]["degradations"]
        assert model_calls(r) == [("small", "budget_exhausted", None)]
    assert reserved == 0 and spent == totals.cost_nanos and totals.calls == 3


async def test_a_spent_budget_routes_to_the_light_tier(mock: MockVendor) -> None:
    probe = service(mock, tenant="probe")
    try:
        await say(engine(probe), QUESTION)
    finally:
        await probe.aclose()
    small, main = worst_case(mock.requests[0].body, "small"), worst_case(mock.requests[0].body, "main")
    svc = service(mock, budgets={"daily": {"acme": str(Decimal((small + main) // 2) / NANOS)}})
    try:
        result = await say(engine(svc), QUESTION, customer={"level": "VIP"})
    finally:
        await svc.aclose()
    assert model_calls(result) == [("main", "budget_exhausted", None), ("small", "ok", None)]
    assert result["reply"]["source"] == "llm"
    assert result["explain"]["degradations"] == ["llm:budget_exhausted"]
    assert any("the budget cannot pay for tier primary; trying light" in n for n in result["explain"]["notes"])
