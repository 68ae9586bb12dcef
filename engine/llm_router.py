"""Model calls with routing, fallback, retries, circuit breakers, budgets and the answer cache.

For one request:
1. the tier: the one a rule named, else `routing.long_tier` when the estimated
   prompt passes `routing.long_context_tokens`, else `routing.default_tier`;
2. the answer cache: a hit calls no vendor;
3. the tier's models in order: a model is skipped when its breaker is open,
   its context window is too small, or the tenant's budget cannot cover its
   worst case; otherwise it is tried, retryable errors retried within the
   deadline, and on failure the next model is tried;
4. when every model failed: `VendorError` code `all_vendors_failed`
   (`budget_exhausted` when the budget alone stopped every model).

A `CallGate` passed with the call counts it from its cache miss to its end
(retries and fallbacks included) and refuses it, `VendorError` code `limit`,
while a `limit` degradation caps this worker's calls.

Each attempt and skip is appended to `explain` (the turn's `model_calls`) as a
dict: vendor, model, tier, attempt, outcome, error, latency_ms, tokens,
cache_hit, fallback_taken. Streaming retries and falls back only until the
first piece of text has been passed on; after that an error ends the stream.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from frontdesk.circuit_breaker import CircuitBreaker
from frontdesk.cost import CostTracker, Reservation
from frontdesk.errors import ConfigError, PluginError, VendorError
from frontdesk.llm_cache import AnswerCache
from frontdesk.llm_types import ChatClient, ChatRequest, ChatResponse, StreamDelta, Usage, estimate_tokens
from frontdesk.models_config import CallLimit, ModelConfig, ModelsConfig, VendorConfig
from frontdesk.retry import RetryPolicy, retry

T = TypeVar("T")
NOT_CACHED = frozenset({"length", "max_tokens"})  # cut-off answers are not worth repeating


def build_clients(
    config: ModelsConfig, factories: Mapping[str, Callable[[VendorConfig], ChatClient]]
) -> dict[str, ChatClient]:
    """One client per configured vendor, from the factories plugins registered by kind."""
    missing = sorted({v.kind for v in config.vendors.values()} - set(factories))
    if missing:
        raise PluginError(
            f"no model vendor plugin for kind(s) {', '.join(missing)}",
            code="vendor_kind_unknown",
            hint="install the plugin providing it, or check FRONTDESK_PLUGINS",
        )
    return {name: factories[v.kind](v) for name, v in config.vendors.items()}


def _counts_against_vendor(exc: VendorError) -> bool | None:
    # a request the vendor rightly refused says nothing about its health
    return None if exc.code == "vendor_bad_request" else True


def _deadline_error(name: str) -> VendorError:
    return VendorError(f"{name}: the deadline passed", code="deadline_exceeded", retryable=False)


class CallGate:
    """This worker's model calls in flight and recently started; past `limit` (when set) new ones are refused."""

    def __init__(self, remember: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit: CallLimit | None = None
        self.why = ""  # why the limit is in force, for the refusal's message
        self.in_flight = 0
        self._clock = clock
        # the start times of the last `remember` calls (the largest per_second declared)
        self._starts: deque[float] | None = deque(maxlen=remember) if remember else None

    def enter(self) -> None:
        limit = self.limit
        if limit is not None:
            refusal = self._refusal(limit)
            if refusal:
                raise VendorError(
                    f"over the llm limit: {refusal} ({self.why})",
                    code="limit",
                    retryable=False,
                    hint="the models file's degradation steps set this limit while vendors are slow or failing",
                )
        self.in_flight += 1
        if self._starts is not None:
            self._starts.append(self._clock())

    def exit(self) -> None:
        self.in_flight -= 1

    def _refusal(self, limit: CallLimit) -> str:
        if limit.concurrent is not None and self.in_flight >= limit.concurrent:
            return f"{self.in_flight} model calls in flight on this worker, limit.concurrent {limit.concurrent}"
        starts, most = self._starts, limit.per_second
        if most is not None and starts is not None and len(starts) >= most and starts[-most] > self._clock() - 1:
            return f"{most} model calls started on this worker in the last second, limit.per_second {most}"
        return ""


@dataclass
class _Candidate:
    """One model of the chain, admitted for trying."""

    name: str
    model: ModelConfig
    client: ChatClient
    breaker: CircuitBreaker
    reservation: Reservation | None
    position: int
    attempts: itertools.count[int]


class LLMRouter:
    def __init__(
        self,
        config: ModelsConfig,
        clients: Mapping[str, ChatClient],
        *,
        cache: AnswerCache | None = None,
        costs: CostTracker | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clients = dict(clients)
        self.cache = cache
        self.costs = costs
        self.breakers = {name: CircuitBreaker(config.routing.breaker, clock=clock) for name in config.models}
        self.policy = RetryPolicy(**config.routing.retry.model_dump())
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def tier_for(self, req: ChatRequest, tier: str | None = None) -> str:
        routing = self.config.routing
        if tier is None:
            long = routing.long_context_tokens is not None and req.estimated_prompt_tokens > routing.long_context_tokens
            tier = routing.long_tier if long else routing.default_tier
        if tier not in self.config.tiers:
            raise ConfigError(
                f"tier {tier!r} is not declared in the models file",
                code="unknown_tier",
                hint="declared tiers: " + ", ".join(sorted(self.config.tiers)),
            )
        return tier

    async def complete(
        self,
        req: ChatRequest,
        *,
        tenant: str = "default",
        tier: str | None = None,
        deadline: float | None = None,  # on this router's clock (time.monotonic)
        conversation_id: str | None = None,
        ruleset_version: str = "",
        explain: list[dict[str, Any]] | None = None,
        gate: CallGate | None = None,
    ) -> ChatResponse:
        calls = explain if explain is not None else []
        tier = self.tier_for(req, tier)
        deadline = self._deadline(deadline)
        key = self._cache_key(req, tenant, ruleset_version, tier)
        hit = await self._lookup(key, tier, calls)
        if hit is not None:
            return hit
        if gate is not None:
            gate.enter()
        try:
            return await self._complete(req, tenant, tier, deadline, conversation_id, calls, key)
        finally:
            if gate is not None:
                gate.exit()

    async def _complete(
        self,
        req: ChatRequest,
        tenant: str,
        tier: str,
        deadline: float,
        conversation_id: str | None,
        calls: list[dict[str, Any]],
        key: str | None,
    ) -> ChatResponse:
        failures: list[str] = []
        for position, name in enumerate(self.config.tiers[tier]):
            cand = await self._admit(name, position, req, tier, tenant, deadline, calls, failures)
            if cand is None:
                continue
            resp: ChatResponse | None = None
            try:
                resp = await self._retry(cand, partial(self._call, cand, req, tier, deadline, calls), deadline)
            except VendorError as exc:
                failures.append(f"{name}: {exc.code}")
            finally:
                await self._settle(cand, resp.usage if resp else None, conversation_id)
            if resp is None:
                continue
            resp = resp.from_vendor(cand.model.vendor)
            if key is not None and self.cache is not None and resp.finish_reason not in NOT_CACHED:
                await self.cache.set(key, resp)
            return resp
        raise self._all_failed(tier, failures)

    async def stream(
        self,
        req: ChatRequest,
        *,
        tenant: str = "default",
        tier: str | None = None,
        deadline: float | None = None,  # for the first piece of text; the rest runs on vendor timeouts
        conversation_id: str | None = None,
        ruleset_version: str = "",
        explain: list[dict[str, Any]] | None = None,
        gate: CallGate | None = None,
    ) -> AsyncGenerator[StreamDelta, None]:
        calls = explain if explain is not None else []
        tier = self.tier_for(req, tier)
        deadline = self._deadline(deadline)
        key = self._cache_key(req, tenant, ruleset_version, tier)
        hit = await self._lookup(key, tier, calls)
        if hit is not None:
            yield StreamDelta(text=hit.text)
            yield StreamDelta(finish_reason=hit.finish_reason, usage=Usage())
            return
        if gate is not None:
            gate.enter()
        try:
            async with aclosing(self._stream(req, tenant, tier, deadline, conversation_id, calls, key)) as deltas:
                async for delta in deltas:
                    yield delta
        finally:
            if gate is not None:
                gate.exit()

    async def _stream(
        self,
        req: ChatRequest,
        tenant: str,
        tier: str,
        deadline: float,
        conversation_id: str | None,
        calls: list[dict[str, Any]],
        key: str | None,
    ) -> AsyncGenerator[StreamDelta, None]:
        failures: list[str] = []
        for position, name in enumerate(self.config.tiers[tier]):
            cand = await self._admit(name, position, req, tier, tenant, deadline, calls, failures)
            if cand is None:
                continue
            opened = None
            try:
                opened = await self._retry(cand, partial(self._open_stream, cand, req, tier, deadline, calls), deadline)
            except VendorError as exc:
                failures.append(f"{name}: {exc.code}")
                continue
            finally:
                if opened is None:
                    await self._settle(cand, None, conversation_id)
            agen, first, permit, start, attempt = opened
            relay = self._relay(cand, req, tier, agen, first, permit, start, attempt, calls, key, conversation_id)
            async with aclosing(relay):
                async for delta in relay:
                    yield delta
            return
        raise self._all_failed(tier, failures)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    # -- steps --------------------------------------------------------------

    def _deadline(self, deadline: float | None) -> float:
        return deadline if deadline is not None else self._clock() + self.config.routing.deadline_seconds

    async def _retry(self, cand: _Candidate, attempt: Callable[[], Awaitable[T]], deadline: float) -> T:
        return await retry(
            attempt,
            policy=self.policy,
            deadline=deadline,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
            give_up=lambda: cand.breaker.state == "open",
        )

    async def _lookup(self, key: str | None, tier: str, calls: list[dict[str, Any]]) -> ChatResponse | None:
        if key is None or self.cache is None:
            return None
        start = self._clock()
        hit = await self.cache.get(key)
        if hit is not None:
            calls.append(self._entry(tier, None, "cache_hit", start, cache_hit=True))
        return hit

    def _cache_key(self, req: ChatRequest, tenant: str, ruleset_version: str, tier: str) -> str | None:
        if self.cache is None or not req.cacheable:
            return None
        return self.cache.key(req, tenant=tenant, ruleset_version=ruleset_version, tier=tier)

    async def _admit(
        self,
        name: str,
        position: int,
        req: ChatRequest,
        tier: str,
        tenant: str,
        deadline: float,
        calls: list[dict[str, Any]],
        failures: list[str],
    ) -> _Candidate | None:
        model = self.config.models[name]
        cand = _Candidate(
            name, model, self.clients[model.vendor], self.breakers[name], None, position, itertools.count(1)
        )
        prompt = req.estimated_prompt_tokens
        max_out = req.max_tokens or model.max_output_tokens
        skip = None
        if self._clock() >= deadline:
            skip = "deadline_exceeded"
        elif prompt + max_out > model.context_window:
            skip = "context_too_small"
        elif cand.breaker.state == "open":
            skip = "breaker_open"
        elif self.costs is not None:
            try:
                cand.reservation = await self.costs.reserve(tenant, model.cost_nanos(prompt, max_out))
            except VendorError as exc:
                skip = exc.code
        if skip is None:
            return cand
        failures.append(f"{name}: {skip}")
        calls.append(self._entry(tier, cand, skip, self._clock()))
        return None

    async def _call(
        self, cand: _Candidate, req: ChatRequest, tier: str, deadline: float, calls: list[dict[str, Any]]
    ) -> ChatResponse:
        attempt = next(cand.attempts)
        permit = cand.breaker.acquire()
        start = self._clock()
        if permit is None:
            calls.append(self._entry(tier, cand, "breaker_open", start, attempt=attempt))
            raise VendorError(f"{cand.name}: circuit open", code="breaker_open", retryable=False)
        failed: bool | None = None  # None: says nothing about the vendor (deadline, cancellation)
        resp: ChatResponse | None = None
        error: VendorError | None = None
        try:
            async with asyncio.timeout(deadline - start):
                resp = await cand.client.complete(req.for_model(cand.model.model))
            failed = False
            return resp
        except TimeoutError as exc:
            error = _deadline_error(cand.name)
            raise error from exc
        except VendorError as exc:
            error, failed = exc, _counts_against_vendor(exc)
            raise
        finally:
            cand.breaker.release(permit, failed=failed, duration=self._clock() - start)
            outcome = "ok" if resp is not None else ("error" if error else "cancelled")
            usage = resp.usage if resp is not None else None
            calls.append(self._entry(tier, cand, outcome, start, attempt=attempt, error=error, usage=usage))

    async def _open_stream(
        self, cand: _Candidate, req: ChatRequest, tier: str, deadline: float, calls: list[dict[str, Any]]
    ) -> tuple[AsyncGenerator[StreamDelta, None], StreamDelta, int, float, int]:
        """Start a stream and wait for its first item: until then, failures may be retried."""
        attempt = next(cand.attempts)
        permit = cand.breaker.acquire()
        start = self._clock()
        if permit is None:
            calls.append(self._entry(tier, cand, "breaker_open", start, attempt=attempt))
            raise VendorError(f"{cand.name}: circuit open", code="breaker_open", retryable=False)
        agen = cand.client.stream(req.for_model(cand.model.model))
        failed: bool | None = None
        error: VendorError | None = None
        handed_over = False
        try:
            async with asyncio.timeout(deadline - start):
                first = await anext(agen)
            handed_over = True  # the permit now travels with the stream
            return agen, first, permit, start, attempt
        except TimeoutError as exc:
            error = _deadline_error(cand.name)
            raise error from exc
        except StopAsyncIteration as exc:
            error, failed = VendorError(f"{cand.name}: empty stream", code="vendor_bad_response", retryable=False), True
            raise error from exc
        except VendorError as exc:
            error, failed = exc, _counts_against_vendor(exc)
            raise
        finally:
            if not handed_over:
                await agen.aclose()
                cand.breaker.release(permit, failed=failed, duration=self._clock() - start)
                calls.append(
                    self._entry(tier, cand, "error" if error else "cancelled", start, attempt=attempt, error=error)
                )

    async def _relay(
        self,
        cand: _Candidate,
        req: ChatRequest,
        tier: str,
        agen: AsyncGenerator[StreamDelta, None],
        first: StreamDelta,
        permit: int,
        start: float,
        attempt: int,
        calls: list[dict[str, Any]],
        key: str | None,
        conversation_id: str | None,
    ) -> AsyncGenerator[StreamDelta, None]:
        """Pass the committed stream on; settle, cache and account for it however it ends."""
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        failed: bool | None = None  # stays None when the consumer stops early
        error: VendorError | None = None
        first_ms = (self._clock() - start) * 1000
        try:
            delta: StreamDelta | None = first
            while delta is not None:
                parts.append(delta.text)
                usage = delta.usage or usage
                finish = delta.finish_reason or finish
                yield delta
                delta = await anext(agen, None)
            failed = False
        except VendorError as exc:
            error, failed = exc, _counts_against_vendor(exc)
            raise
        finally:
            await agen.aclose()
            text = "".join(parts)
            if usage is None:
                usage = Usage(req.estimated_prompt_tokens, estimate_tokens(text), estimated=True)
            # breaker latency = time to first text: the rest grows with the answer's length
            cand.breaker.release(permit, failed=failed, duration=first_ms / 1000)
            outcome = "ok" if failed is False else ("interrupted" if error else "abandoned")
            entry = self._entry(tier, cand, outcome, start, attempt=attempt, error=error, usage=usage)
            calls.append({**entry, "first_token_ms": round(first_ms, 1)})
            await self._settle(cand, usage, conversation_id)
            if failed is False and key is not None and self.cache is not None and finish not in NOT_CACHED:
                await self.cache.set(key, ChatResponse(text, usage, cand.model.model, finish, cand.model.vendor))

    async def _settle(self, cand: _Candidate, usage: Usage | None, conversation_id: str | None) -> None:
        if self.costs is None or cand.reservation is None:
            return
        cost = cand.model.cost_nanos(usage.input_tokens, usage.output_tokens) if usage else 0
        await self.costs.settle(
            cand.reservation, usage=usage, cost=cost, model=cand.name, conversation_id=conversation_id
        )
        cand.reservation = None

    def _entry(
        self,
        tier: str,
        cand: _Candidate | None,
        outcome: str,
        start: float,
        *,
        attempt: int = 0,
        error: VendorError | None = None,
        usage: Usage | None = None,
        cache_hit: bool = False,
    ) -> dict[str, Any]:
        return {
            "vendor": cand.model.vendor if cand else None,
            "model": cand.name if cand else None,
            "tier": tier,
            "attempt": attempt,
            "outcome": outcome,
            "error": error.code if error else None,
            "latency_ms": round((self._clock() - start) * 1000, 1),
            "tokens": {"input": usage.input_tokens, "output": usage.output_tokens} if usage else None,
            "cache_hit": cache_hit,
            "fallback_taken": bool(cand and cand.position > 0),
        }

    @staticmethod
    def _all_failed(tier: str, failures: list[str]) -> VendorError:
        budget_only = bool(failures) and all(f.endswith(": budget_exhausted") for f in failures)
        return VendorError(
            f"no model of tier {tier!r} answered: " + "; ".join(failures),
            code="budget_exhausted" if budget_only else "all_vendors_failed",
            retryable=False,
            hint="see the turn's explain.model_calls; degrade to templates or the offline answer",
        )
