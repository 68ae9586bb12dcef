"""The models file: which vendors and models exist, how tiers fall back, what they cost.

```yaml
vendors:
  openai: {kind: openai, base_url: https://api.openai.com/v1, api_key: $env:OPENAI_API_KEY, timeout: 20}
  claude: {kind: anthropic, base_url: https://api.anthropic.com, api_key: $env:ANTHROPIC_API_KEY}
models:
  gpt-mini: {vendor: openai, model: gpt-4o-mini, input_per_1k: 0.00015, output_per_1k: 0.0006,
             context_window: 128000}
  haiku:    {vendor: claude, model: claude-3-5-haiku-latest, input_per_1k: 0.0008,
             output_per_1k: 0.004, context_window: 200000}
tiers:                       # each an ordered fallback chain of model names
  primary: [gpt-mini, haiku]
  light: [gpt-mini]
  long: [haiku]
routing: {default_tier: primary, long_tier: long, long_context_tokens: 12000, deadline_seconds: 15}
degradation:
  window_seconds: 60
  steps:
    - {p99_latency_ms: 1500, error_rate: 0.1, match: all, action: [limit, serve_cached],
       limit: {concurrent: 8, per_second: 20}}
    - {p99_latency_ms: 4000, action: light_tier}
    - {error_rate: 0.5, action: templates_only}
budgets: {daily_default: 20, daily: {acme: 200}}
```

Degradation is judged per worker, on its vendor calls of the last
`window_seconds` (p99 latency, error rate; nothing before `routing.breaker.min_calls`
calls). A step holds when any of its thresholds is exceeded (`match: all`: every
one given). `action` is one name or a list; what every step that holds says applies:

- `templates_only`: no vendor call; replies come from the rules' fallbacks and
  the apology, understanding stays offline.
- `serve_cached`: no vendor call; a cached answer to the same prompt, else as above.
- `light_tier`: calls go to `routing.light_tier`.
- `limit` with `limit: {concurrent: N, per_second: M}` (one or both): this
  worker starts a model call (one turn's request with its retries and
  fallbacks; cache hits are free) only while fewer than N are in flight and
  fewer than M started in the last second. A turn over the cap is served
  without a vendor call, as the step's other actions say: a cached answer or
  the fallback (`serve_cached`, also when `limit` stands alone), or the
  fallback only (`templates_only`); its understanding stays offline. In a step
  with `limit`, these two apply to the turns over the cap only; several limits
  that hold at once combine to the tightest.

Every problem is reported at once as `file:line:col: CODE message — hint`, raised
as a `ConfigError` whose `problems` attribute lists the `Problem`s.
"""

from __future__ import annotations

import difflib
import functools
import os
import types
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from frontdesk.errors import ConfigError, Problem
from frontdesk.yaml_source import SourceDoc, parse_yaml

ENV_PREFIX = "$env:"
NANOS = 10**9  # costs are integer nano-units of the currency: exact, and Redis can add them


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VendorConfig(_Strict):
    kind: str  # a registered vendor kind: openai | anthropic | a plugin's
    base_url: str
    api_key: SecretStr = SecretStr("")
    timeout: PositiveFloat = 30.0  # seconds without a byte from the vendor (per chunk when streaming)
    connect_timeout: PositiveFloat = 5.0
    max_connections: PositiveInt = 100
    stream_usage: bool = True  # OpenAI-compatible: ask for usage in streams (stream_options)
    headers: dict[str, str] = Field(default_factory=dict)

    @field_validator("api_key", mode="before")
    @classmethod
    def _resolve_env(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str) or not value.startswith(ENV_PREFIX):
            return value
        name = value.removeprefix(ENV_PREFIX)
        env = (info.context or {}).get("env", os.environ)
        if name not in env:
            raise PydanticCustomError("env_missing", "environment variable {name} is not set", {"name": name})
        return env[name]


def _amount(decimals: int) -> Any:
    def check(value: Decimal) -> Decimal:
        if value < 0 or (value * 10**decimals) % 1:
            raise PydanticCustomError(
                "bad_amount",
                "amount must be >= 0 with at most {decimals} decimal places",
                {"decimals": decimals},
            )
        return value

    return AfterValidator(check)


# a price per 1k tokens with 6 decimals is a whole number of nano-units per token
Price = Annotated[Decimal, _amount(6)]
Amount = Annotated[Decimal, _amount(9)]


class ModelConfig(_Strict):
    vendor: str
    model: str  # the vendor's model id
    input_per_1k: Price = Decimal(0)
    output_per_1k: Price = Decimal(0)
    context_window: PositiveInt
    max_output_tokens: PositiveInt = 1024

    @cached_property
    def _nanos_per_token(self) -> tuple[int, int]:
        return int(self.input_per_1k * 10**6), int(self.output_per_1k * 10**6)

    def cost_nanos(self, input_tokens: int, output_tokens: int) -> int:
        per_in, per_out = self._nanos_per_token
        return input_tokens * per_in + output_tokens * per_out


class RetryConfig(_Strict):
    max_attempts: PositiveInt = 3  # per model, first try included
    base_delay: NonNegativeFloat = 0.2
    max_delay: NonNegativeFloat = 2.0


class BreakerConfig(_Strict):
    window_calls: PositiveInt = 20
    window_seconds: PositiveFloat = 60.0
    min_calls: PositiveInt = 5
    error_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    slow_call_seconds: PositiveFloat = 5.0
    slow_rate: Annotated[float, Field(gt=0, le=1)] = 0.8
    open_seconds: PositiveFloat = 30.0
    half_open_probes: PositiveInt = 2


class RoutingConfig(_Strict):
    default_tier: str = "primary"
    light_tier: str = "light"  # used by the `light_tier` degradation action
    long_tier: str = "long"
    # prompts estimated above this many tokens go to `long_tier` (unless a rule names a tier)
    long_context_tokens: PositiveInt | None = None
    deadline_seconds: PositiveFloat = 15.0  # when the caller gives no deadline
    retry: RetryConfig = RetryConfig()
    breaker: BreakerConfig = BreakerConfig()


DegradationAction = Literal["limit", "serve_cached", "light_tier", "templates_only"]
Stop = Literal["serve_cached", "templates_only"]  # what a turn without a vendor call is served


class CallLimit(_Strict):
    """The `limit` action's cap on this worker's model calls."""

    concurrent: PositiveInt | None = None  # calls in flight at once
    per_second: PositiveInt | None = None  # calls started in any one second

    @model_validator(mode="after")
    def _has_cap(self) -> CallLimit:
        if self.concurrent is None and self.per_second is None:
            raise PydanticCustomError("limit_missing", "a limit needs `concurrent` and/or `per_second`")
        return self

    def describe(self) -> str:
        return ", ".join(f"{name} {cap}" for name, cap in self.model_dump(exclude_none=True).items())

    def tighter(self, other: CallLimit) -> CallLimit:
        def low(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else min(a, b)

        return CallLimit(
            concurrent=low(self.concurrent, other.concurrent), per_second=low(self.per_second, other.per_second)
        )


def _one_or_more(value: Any) -> Any:
    """`action: limit` means `action: [limit]`; repeated names count once."""
    return (value,) if isinstance(value, str) else tuple(dict.fromkeys(value)) if isinstance(value, list) else value


class DegradationStep(_Strict):
    """Applies when any of its thresholds is exceeded (`match: all`: every threshold given)."""

    p99_latency_ms: PositiveFloat | None = None
    error_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    match: Literal["any", "all"] = "any"
    action: Annotated[tuple[DegradationAction, ...], BeforeValidator(_one_or_more), Field(min_length=1)]
    limit: CallLimit | None = Field(None, validate_default=True)  # required by, and only with, `limit`

    @field_validator("limit")
    @classmethod
    def _limit_matches_action(cls, value: CallLimit | None, info: ValidationInfo) -> CallLimit | None:
        actions = info.data.get("action")
        if actions is None:
            return value  # the action is reported already
        if value is None and "limit" in actions:
            raise PydanticCustomError("limit_missing", "the limit action needs `limit: {concurrent: N, per_second: M}`")
        if value is not None and "limit" not in actions:
            raise PydanticCustomError("limit_unused", "`limit` is set but `limit` is not among the actions")
        return value

    @model_validator(mode="after")
    def _has_threshold(self) -> DegradationStep:
        if self.p99_latency_ms is None and self.error_rate is None:
            raise PydanticCustomError("threshold_missing", "a degradation step needs p99_latency_ms or error_rate")
        return self

    def describe(self) -> str:
        """The step in words, e.g. `p99 > 1500 ms and errors > 10% → limit (concurrent 8), serve_cached`."""
        thresholds = [f"p99 > {self.p99_latency_ms:g} ms"] if self.p99_latency_ms is not None else []
        thresholds += [f"errors > {self.error_rate:.0%}"] if self.error_rate is not None else []
        actions = [f"limit ({self.limit.describe()})" if a == "limit" and self.limit else a for a in self.action]
        return f"{(' and ' if self.match == 'all' else ' or ').join(thresholds)} → {', '.join(actions)}"

    def holds(self, p99_latency_ms: float, error_rate: float) -> bool:
        exceeded = [
            measured > threshold
            for measured, threshold in ((p99_latency_ms, self.p99_latency_ms), (error_rate, self.error_rate))
            if threshold is not None
        ]
        return all(exceeded) if self.match == "all" else any(exceeded)


@dataclass(frozen=True)
class Degradation:
    """What the steps that hold say together: no vendor call (`stop`), or calls capped, or on the light tier."""

    stop: Stop | None = None
    limit: CallLimit | None = None
    overflow: Stop = "serve_cached"  # what a turn over the limit is served
    light_tier: bool = False

    def describe(self) -> str:
        if self.stop is not None:
            return self.stop
        parts = []
        if self.limit is not None:
            parts.append(f"limit ({self.limit.describe()}; over it: {self.overflow})")
        if self.light_tier:
            parts.append("light_tier")
        return " and ".join(parts)


class DegradationPolicy(_Strict):
    window_seconds: PositiveFloat = 60.0
    steps: list[DegradationStep] = Field(default_factory=list)

    def resolve(self, *, p99_latency_ms: float, error_rate: float) -> Degradation | None:
        """What the steps whose thresholds the measured figures exceed say, or None when none holds."""
        held = [step for step in self.steps if step.holds(p99_latency_ms, error_rate)]
        if not held:
            return None
        # serve_cached and templates_only stop every call, unless their step limits: then only calls over the cap
        stops = {a for step in held if step.limit is None for a in step.action if a != "light_tier"}
        if stops:
            return Degradation(stop="templates_only" if "templates_only" in stops else "serve_cached")
        light = any("light_tier" in step.action for step in held)
        limited = [step for step in held if step.limit is not None]
        if not limited:
            return Degradation(light_tier=light)
        limit = functools.reduce(CallLimit.tighter, (step.limit for step in limited if step.limit is not None))
        templates = any("templates_only" in step.action for step in limited)
        return Degradation(limit=limit, overflow="templates_only" if templates else "serve_cached", light_tier=light)

    @cached_property
    def most_per_second(self) -> int:
        """The largest `limit.per_second` declared (0: none): how many call starts a worker remembers."""
        return max((step.limit.per_second or 0 for step in self.steps if step.limit is not None), default=0)


class BudgetConfig(_Strict):
    """Per-tenant daily spend limits in currency units; no limit when neither applies."""

    currency: str = "USD"
    daily_default: Amount | None = None
    daily: dict[str, Amount] = Field(default_factory=dict)

    def daily_limit_nanos(self, tenant: str) -> int | None:
        limit = self.daily.get(tenant, self.daily_default)
        return None if limit is None else int(limit * NANOS)


class ModelsConfig(_Strict):
    vendors: dict[str, VendorConfig]
    models: dict[str, ModelConfig]
    tiers: dict[str, Annotated[list[str], Field(min_length=1)]]
    routing: RoutingConfig = RoutingConfig()
    degradation: DegradationPolicy = DegradationPolicy()
    budgets: BudgetConfig = BudgetConfig()


def from_quickstart(base_url: str, api_key: str, model: str, *, context_window: int = 128_000) -> ModelsConfig:
    """One OpenAI-compatible vendor and one model in every tier (FRONTDESK_LLM_* quick start)."""
    return ModelsConfig(
        vendors={"default": VendorConfig(kind="openai", base_url=base_url, api_key=SecretStr(api_key))},
        models={model: ModelConfig(vendor="default", model=model, context_window=context_window)},
        tiers={"primary": [model], "light": [model], "long": [model]},
    )


def load_models_config(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    vendor_kinds: Collection[str] | None = None,
) -> ModelsConfig:
    path = Path(path)
    return parse_models_config(path.read_text(encoding="utf-8"), file=str(path), env=env, vendor_kinds=vendor_kinds)


def parse_models_config(
    text: str,
    *,
    file: str = "<models>",
    env: Mapping[str, str] | None = None,
    vendor_kinds: Collection[str] | None = None,
) -> ModelsConfig:
    """Validate a models file; `vendor_kinds` (the registered ones) also checks each `kind`."""
    doc, problems = parse_yaml(text, file)
    if doc is None:
        _fail(problems)
    if not isinstance(doc.data, dict):
        _fail([doc.problem((), "not-a-mapping", "the models file must be a mapping", "start with `vendors:`")])
    try:
        cfg = ModelsConfig.model_validate(doc.data, context={"env": os.environ if env is None else env})
    except ValidationError as exc:
        _fail([_problem(doc, err) for err in exc.errors()])
    problems = _cross_check(cfg, doc, vendor_kinds)
    if problems:
        _fail(problems)
    return cfg


def _fail(problems: list[Problem]) -> NoReturn:
    err = ConfigError(
        f"{len(problems)} problem(s) in the models file:\n" + "\n".join(map(str, problems)),
        code="models_config_invalid",
        hint="fix every listed line",
    )
    err.problems = problems  # type: ignore[attr-defined]
    raise err


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The pydantic model describing the mapping at `loc` (for the allowed-keys hint)."""
    tp: Any = ModelsConfig
    for part in loc:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part)
            if field is None:
                return None
            tp = field.annotation
        elif typing.get_origin(tp) in (dict, list):
            tp = typing.get_args(tp)[-1]
        else:
            return None
        while typing.get_origin(tp) in (typing.Union, types.UnionType, typing.Annotated):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


_HINTS = {  # our own error kinds
    "env_missing": "export it before starting, or write the key itself",
    "bad_amount": "",
    "threshold_missing": "",
    "limit_missing": "e.g. `limit: {concurrent: 8, per_second: 20}`: calls per worker at once, started per second",
    "limit_unused": "add `limit` to the step's `action`, or remove `limit`",
}


def _problem(doc: SourceDoc, err: Any) -> Problem:
    loc, kind = tuple(err["loc"]), err["type"]
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        hint = (f"did you mean `{close[0]}`? " if close else "") + "allowed: " + ", ".join(allowed)
        return doc.problem(loc, "unknown-key", f"unknown key `{loc[-1]}`", hint)
    if kind == "missing":
        return doc.problem(loc, "missing-field", f"`{_dotted(loc)}` is required", "add it here")
    if kind in _HINTS:
        return doc.problem(loc, kind.replace("_", "-"), f"`{_dotted(loc)}`: {err['msg']}", _HINTS[kind])
    return doc.problem(loc, "bad-value", f"`{_dotted(loc)}`: {err['msg']}")


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc) or "(root)"


def _cross_check(cfg: ModelsConfig, doc: SourceDoc, vendor_kinds: Collection[str] | None) -> list[Problem]:
    problems: list[Problem] = []

    def add(loc: tuple[str | int, ...], code: str, message: str, choices: Collection[str]) -> None:
        problems.append(doc.problem(loc, code, message, "one of: " + ", ".join(sorted(choices))))

    for name, vendor in cfg.vendors.items():
        if vendor_kinds is not None and vendor.kind not in vendor_kinds:
            add(
                ("vendors", name, "kind"),
                "unknown-vendor-kind",
                f"vendor kind `{vendor.kind}` is not registered",
                vendor_kinds,
            )
    for name, model in cfg.models.items():
        if model.vendor not in cfg.vendors:
            add(
                ("models", name, "vendor"),
                "unknown-vendor",
                f"model `{name}` names vendor `{model.vendor}`",
                cfg.vendors,
            )
    for tier, chain in cfg.tiers.items():
        for i, model_name in enumerate(chain):
            if model_name not in cfg.models:
                add(("tiers", tier, i), "unknown-model", f"tier `{tier}` names model `{model_name}`", cfg.models)
    needed = {"default_tier": cfg.routing.default_tier}
    if cfg.routing.long_context_tokens is not None:
        needed["long_tier"] = cfg.routing.long_tier
    if any("light_tier" in step.action for step in cfg.degradation.steps):
        needed["light_tier"] = cfg.routing.light_tier
    for key, tier in needed.items():
        if tier not in cfg.tiers:
            add(("routing", key), "unknown-tier", f"`routing.{key}` names tier `{tier}`", cfg.tiers)
    return problems
