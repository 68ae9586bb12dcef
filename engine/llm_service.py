"""The engine's model service: the router with its cache, costs, health and degradation, built from Settings.

Turns find it as `turn.services["llm"]` (an `LLMService`); no LLM is configured
when it is absent, and the built-in LLM plugins then leave the offline result
and templates alone.

- Configuration: `FRONTDESK_LLM_BASE_URL` + `FRONTDESK_LLM_API_KEY` +
  `FRONTDESK_LLM_MODEL` (one OpenAI-compatible model in every tier), or
  `FRONTDESK_MODELS_FILE`. With `FRONTDESK_REDIS_URL` the answer cache and the
  cost tracker are shared by every worker through Redis.
- Time: a turn's model calls share one budget, `routing.deadline_seconds` of
  the models file, counted from the start of the turn.
- Degradation: the models file's `degradation` steps are evaluated on this
  process's recent vendor calls (p99 latency, error rate, as the router records
  them), at most every `EVALUATE_EVERY` seconds; the steps that hold give one
  `Degradation` (see `frontdesk.models_config`). Its `limit` is enforced by
  the service's `CallGate`, which every call passes.
- Streaming: `stream_turn` runs a turn and yields answer text while the model
  writes it, each piece released only after the output checks passed it.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import inspect
import math
import re
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from frontdesk.cost import MemoryCostTracker, RedisCostTracker
from frontdesk.errors import ConfigError
from frontdesk.llm_cache import AnswerCache
from frontdesk.llm_router import CallGate, LLMRouter, build_clients
from frontdesk.llm_types import ChatRequest, ChatResponse, StreamDelta
from frontdesk.models_config import (
    BudgetConfig,
    Degradation,
    ModelConfig,
    ModelsConfig,
    from_quickstart,
    load_models_config,
)
from frontdesk.settings import Settings
from frontdesk.types import Explain, Message, Reply, Turn

if TYPE_CHECKING:
    from frontdesk.pipeline import Engine
    from frontdesk.plugin_manager import Registry

COUNTED = frozenset({"ok", "error", "interrupted"})  # outcomes that say how the vendor is doing
HEALTH_CALLS = 1000  # the latest calls a p99 is taken over
EVALUATE_EVERY = 0.25  # seconds a degradation verdict is reused


class VendorHealth:
    """Latency and failures of this process's recent vendor calls, from the router's explain entries."""

    def __init__(self, window_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_seconds = window_seconds
        self._clock = clock
        self._calls: deque[tuple[float, float, bool]] = deque(maxlen=HEALTH_CALLS)  # (at, latency_ms, failed)

    def observe(self, entries: Iterable[dict[str, Any]]) -> None:
        now = self._clock()
        for entry in entries:
            if entry.get("model") and entry.get("outcome") in COUNTED:
                self._calls.append((now, float(entry.get("latency_ms") or 0.0), entry["outcome"] != "ok"))

    def figures(self) -> tuple[int, float, float]:
        """(calls, p99 latency in ms, error rate) over the window."""
        horizon = self._clock() - self.window_seconds
        while self._calls and self._calls[0][0] < horizon:
            self._calls.popleft()
        if not self._calls:
            return 0, 0.0, 0.0
        latencies = sorted(c[1] for c in self._calls)
        p99 = latencies[max(0, math.ceil(0.99 * len(latencies)) - 1)]
        return len(latencies), p99, sum(c[2] for c in self._calls) / len(latencies)


def ruleset_key(turn: Turn) -> str:
    """What the answer cache calls the ruleset: any change of it (not only of its version) invalidates."""
    ruleset = turn.ruleset
    return f"{ruleset.name}@{ruleset.version}#{ruleset.digest[:12]}"


@dataclass
class LLMService:
    router: LLMRouter
    tenant: str = "default"  # whose cost and budget every call counts against
    clock: Callable[[], float] = time.monotonic  # the router's clock: deadlines are compared on it
    redis: Any = None  # the client the cache and costs share, closed with the service
    health: VendorHealth = field(init=False)
    gate: CallGate = field(init=False)  # every call passes it: the `limit` action caps them there
    _verdict: tuple[float, Degradation | None, str] = field(init=False, default=(-math.inf, None, ""))

    def __post_init__(self) -> None:
        self.health = VendorHealth(self.config.degradation.window_seconds, self.clock)
        self.gate = CallGate(self.config.degradation.most_per_second, self.clock)

    @property
    def config(self) -> ModelsConfig:
        return self.router.config

    def deadline(self, turn: Turn) -> float:
        """The turn's model calls share `routing.deadline_seconds`, counted from the turn's first stage."""
        spent = sum(turn.explain.timings_us.values()) / 1e6  # the stages done so far
        return self.clock() + self.config.routing.deadline_seconds - spent

    def degradation(self, turn: Turn) -> Degradation | None:
        """What the policy says for the current vendor figures; recorded in the turn's explain.

        A `limit` shows as a note here, and as `llm:limit` on the turns it refuses."""
        plan, why = self._current()
        if plan is None:
            return None
        explain = turn.explain
        note = f"llm degraded to {plan.describe()}: {why}"
        if note not in explain.notes:
            explain.notes.append(note)
            label = plan.stop or ("light_tier" if plan.light_tier else None)
            if label is not None and f"llm:{label}" not in explain.degradations:
                explain.degradations.append(f"llm:{label}")
        return plan

    def _current(self) -> tuple[Degradation | None, str]:
        now = self.clock()
        at, plan, why = self._verdict
        if now - at >= EVALUATE_EVERY:
            plan, why = self._evaluate()
            self._verdict = (now, plan, why)
            self.gate.limit, self.gate.why = (plan.limit if plan is not None else None), why
        return plan, why

    def _evaluate(self) -> tuple[Degradation | None, str]:
        calls, p99, errors = self.health.figures()
        if calls < self.config.routing.breaker.min_calls:
            return None, ""
        plan = self.config.degradation.resolve(p99_latency_ms=p99, error_rate=errors)
        return plan, f"p99 {p99:.0f} ms, errors {errors:.0%} over the last {calls} vendor calls"

    def known_tier(self, turn: Turn, tier: str | None) -> str | None:
        """A tier the models file declares; an unknown one is noted and the file's routing decides instead."""
        if tier is None or tier in self.config.tiers:
            return tier
        if "llm:unknown_tier" not in turn.explain.degradations:
            turn.explain.degradations.append("llm:unknown_tier")
        turn.explain.notes.append(f"tier {tier!r} is not in the models file; its default routing is used")
        return None

    async def complete(self, turn: Turn, req: ChatRequest, tier: str | None) -> ChatResponse:
        calls = turn.explain.model_calls
        seen = len(calls)
        try:
            return await self.router.complete(req, **self._call_options(turn, tier))
        finally:
            self.health.observe(calls[seen:])

    async def stream(self, turn: Turn, req: ChatRequest, tier: str | None) -> AsyncGenerator[StreamDelta, None]:
        calls = turn.explain.model_calls
        seen = len(calls)
        try:
            async with aclosing(self.router.stream(req, **self._call_options(turn, tier))) as deltas:
                async for delta in deltas:
                    yield delta
        finally:
            self.health.observe(calls[seen:])

    def _call_options(self, turn: Turn, tier: str | None) -> dict[str, Any]:
        self._current()  # the gate's limit stays current even for callers that did not ask
        return {
            "tenant": self.tenant,
            "tier": tier,
            "deadline": self.deadline(turn),
            "conversation_id": turn.message.conversation_id,
            "ruleset_version": ruleset_key(turn),
            "explain": turn.explain.model_calls,
            "gate": self.gate,
        }

    async def cached(self, turn: Turn, req: ChatRequest, tiers: Iterable[str | None]) -> ChatResponse | None:
        """A cached answer to this request under the first of `tiers` that has one; no vendor is called."""
        cache = self.router.cache
        if cache is None or not req.cacheable:
            return None
        for name in dict.fromkeys(self.router.tier_for(req, tier) for tier in tiers):
            key = cache.key(req, tenant=self.tenant, ruleset_version=ruleset_key(turn), tier=name)
            hit = await cache.get(key)
            if hit is not None:
                turn.explain.model_calls.append(
                    {"vendor": hit.vendor, "model": None, "tier": name, "attempt": 0, "outcome": "cache_hit",
                     "error": None, "latency_ms": 0.0, "tokens": None, "cache_hit": True, "fallback_taken": False}
                )  # fmt: skip
                return hit
        return None

    async def aclose(self) -> None:
        await self.router.aclose()
        if self.redis is not None:
            await self.redis.aclose()


# ---- building it from Settings


def models_config_from_settings(settings: Settings, vendor_kinds: Iterable[str] | None = None) -> ModelsConfig | None:
    """The models file, or the quick start's one model, or None when no LLM is configured."""
    quick = {
        "FRONTDESK_LLM_BASE_URL": settings.llm_base_url,
        "FRONTDESK_LLM_MODEL": settings.llm_model,
    }
    if settings.models_file is not None:
        if any(quick.values()):
            raise ConfigError(
                "both FRONTDESK_MODELS_FILE and the FRONTDESK_LLM_* quick start are set",
                code="llm_config_ambiguous",
                hint="keep one: the models file can declare the quick-start vendor too",
            )
        config = read_models_file(settings.models_file, vendor_kinds)
    elif all(quick.values()):
        config = _quickstart(settings)
    elif any(quick.values()):
        missing = ", ".join(name for name, value in quick.items() if not value)
        raise ConfigError(
            f"the LLM quick start is incomplete: {missing} not set",
            code="llm_config_incomplete",
            hint="set FRONTDESK_LLM_BASE_URL, FRONTDESK_LLM_MODEL (and FRONTDESK_LLM_API_KEY), or none of them",
        )
    else:
        return None
    budgets = config.budgets
    if settings.llm_daily_budget is not None and budgets.daily_default is None and not budgets.daily:
        budget = BudgetConfig.model_validate({**budgets.model_dump(), "daily_default": settings.llm_daily_budget})
        config = config.model_copy(update={"budgets": budget})
    return config


def read_models_file(path: Path, vendor_kinds: Iterable[str] | None = None) -> ModelsConfig:
    try:
        return load_models_config(path, vendor_kinds=None if vendor_kinds is None else list(vendor_kinds))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the models file {path}: {exc.strerror or exc}",
            code="models_file_unreadable",
            hint="check FRONTDESK_MODELS_FILE (or the path given) and its permissions",
        ) from exc


def _quickstart(settings: Settings) -> ModelsConfig:
    assert settings.llm_base_url and settings.llm_model
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else ""
    config = from_quickstart(settings.llm_base_url, key, settings.llm_model, context_window=settings.llm_context_window)
    priced = {
        name: ModelConfig.model_validate(
            {
                **model.model_dump(),
                "input_per_1k": settings.llm_input_per_1k,
                "output_per_1k": settings.llm_output_per_1k,
            }
        )
        for name, model in config.models.items()
    }
    return config.model_copy(update={"models": priced})


def build_llm_service(settings: Settings, registry: Registry) -> LLMService | None:
    config = models_config_from_settings(settings, registry.models)
    if config is None:
        return None
    redis = None
    if settings.redis_url is not None:
        from frontdesk.redis_client import connect_redis

        redis = connect_redis(settings.redis_url.get_secret_value(), settings.redis_mode)
    cache = AnswerCache(ttl=settings.llm_cache_ttl, max_entries=settings.llm_cache_entries, redis=redis)
    costs = RedisCostTracker(redis, config.budgets) if redis is not None else MemoryCostTracker(config.budgets)
    router = LLMRouter(config, build_clients(config, registry.models), cache=cache, costs=costs)
    return LLMService(router, tenant=settings.tenant, redis=redis)


def services_from_settings(settings: Settings, registry: Registry) -> dict[str, Any]:
    service = build_llm_service(settings, registry)
    return {} if service is None else {"llm": service}


async def close_services(services: Mapping[str, Any]) -> None:
    for service in services.values():
        close = getattr(service, "aclose", None)
        if close is not None:
            await close()


# ---- streaming a turn's answer

_SINK: contextvars.ContextVar[ReplySink | None] = contextvars.ContextVar("frontdesk_reply_sink", default=None)
_BACKGROUND: set[asyncio.Task[Any]] = set()  # turns whose listener left: they still finish and save
_BOUNDARY = re.compile(r"[。！？!?;；\n]|[.,，、:：](?=\s)")
HOLD_CHARS = 120  # without a boundary, text is released at a space once this much waits


def current_sink() -> ReplySink | None:
    """Where the running turn streams its answer, when its caller asked for a stream."""
    return _SINK.get()


class ReplySink:
    """Receives an answer as it grows; releases text up to a safe boundary once the output checks passed it.

    A check runs the `guard_output` hooks on a scratch copy of the turn over the
    whole text so far. When a check changes text already released (a blocked
    term, a masked leak) nothing more is released: the turn's final result holds
    the reply as the real output stage leaves it."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.released = ""  # checked text handed out
        self.withheld = False
        self._upto = 0  # how much of the model's text the released part covers

    async def offer(self, turn: Turn, text: str, *, final: bool = False) -> None:
        """`text` is the whole answer so far; `final` once the model finished."""
        if self.withheld:
            return
        cut = len(text) if final else self._cut(text)
        if cut <= self._upto:
            return
        checked = await self._check(turn, text[:cut])
        if not checked.startswith(self.released):
            self.withheld = True
            return
        piece = checked[len(self.released) :]
        self._upto = cut
        if piece:
            self.released = checked
            self.queue.put_nowait(piece)

    def _cut(self, text: str) -> int:
        ends = [m.end() for m in _BOUNDARY.finditer(text, self._upto)]
        cut = ends[-1] if ends else 0
        if not ends and len(text) - self._upto >= HOLD_CHARS:
            cut = text.rfind(" ", self._upto) + 1
        # never inside a placeholder the model is still writing (⟨PHONE_1⟩ is restored whole)
        opened = max(text.rfind("⟨", 0, cut), text.rfind("<", 0, cut))
        if opened >= 0 and max(text.rfind("⟩", opened, cut), text.rfind(">", opened, cut)) < 0:
            cut = opened
        return cut

    async def _check(self, turn: Turn, text: str) -> str:
        scratch = dataclasses.replace(
            turn, reply=Reply(text, source="llm"), masked_reply=None, flags=dict(turn.flags), explain=Explain()
        )
        for result in self.pm.hook.guard_output(turn=scratch):
            if inspect.isawaitable(result):
                await result
        return scratch.reply.text if scratch.reply is not None else ""


async def _finish(turn: Awaitable[dict[str, Any]], sink: ReplySink) -> dict[str, Any]:
    try:
        return await turn
    finally:
        sink.queue.put_nowait(None)


async def stream_turn(
    engine: Engine, message: Message, ruleset_name: str | None = None, **options: Any
) -> AsyncGenerator[tuple[str, Any], None]:
    """Run one turn: ("delta", text) events as checked answer text is ready, then ("result", turn result).

    The result's reply text is authoritative: it equals the joined deltas unless
    the output stage or a failed stream replaced the reply. A reply that was not
    streamed (a template, a cached answer) comes as one delta before the result.
    A listener that stops early does not stop the turn: it finishes and is saved.
    `options` go to `engine.handle` (e.g. the audit trail's `actor`)."""
    sink = ReplySink(engine.pm)
    context = contextvars.copy_context()
    context.run(_SINK.set, sink)
    task = asyncio.create_task(_finish(engine.handle(message, ruleset_name, **options), sink), context=context)
    try:
        while (piece := await sink.queue.get()) is not None:
            yield "delta", piece
        result = await task
    finally:
        if not task.done():
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)
    reply = result.get("reply")
    if not sink.released and reply:
        yield "delta", reply["text"]
    yield "result", result
