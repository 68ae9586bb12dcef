"""The models file: shape, `$env` secrets, cross references, located problems."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

import frontdesk.models_config as mc
from frontdesk.errors import ConfigError, Problem
from frontdesk.models_config import Degradation, from_quickstart, load_models_config, parse_models_config

ENV = {"OPENAI_API_KEY": "sk-open-secret", "ANTHROPIC_API_KEY": "sk-ant-secret"}

GOOD = """\
vendors:
  openai:
    kind: openai
    base_url: https://api.openai.com/v1
    api_key: $env:OPENAI_API_KEY
    timeout: 20
models:
  gpt-mini:
    vendor: openai
    model: gpt-4o-mini
    input_per_1k: 0.00015
    output_per_1k: 0.0006
    context_window: 128000
tiers:
  primary: [gpt-mini]
"""


def problems(text: str, **kw: object) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse_models_config(textwrap.dedent(text), file="models.yaml", env=ENV, **kw)  # type: ignore[arg-type]
    assert info.value.code == "models_config_invalid"
    found: list[Problem] = info.value.problems  # type: ignore[attr-defined]
    # every problem is also in the message, one per line, as `file:line:col: CODE ...`
    for p in found:
        assert str(p) in info.value.message
    return found


def test_module_docstring_example_is_valid() -> None:
    example = mc.__doc__.split("```yaml\n")[1].split("```")[0]
    cfg = parse_models_config(example, env=ENV)
    assert cfg.tiers["primary"] == ["gpt-mini", "haiku"]
    assert cfg.vendors["claude"].api_key.get_secret_value() == "sk-ant-secret"
    assert cfg.routing.long_context_tokens == 12000
    assert cfg.budgets.daily_limit_nanos("acme") == 200 * 10**9
    assert cfg.budgets.daily_limit_nanos("other") == 20 * 10**9
    limited = cfg.degradation.resolve(p99_latency_ms=2000, error_rate=0.2)
    assert limited is not None and limited.limit == mc.CallLimit(concurrent=8, per_second=20)


def test_load_from_file_resolves_env_and_keeps_prices_exact(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(GOOD, encoding="utf-8")
    cfg = load_models_config(path, env=ENV)
    model = cfg.models["gpt-mini"]
    assert model.input_per_1k == Decimal("0.00015")
    # 1,234 input tokens at 0.00015/1k and 56 output at 0.0006/1k, in nano-units: exact integers
    assert model.cost_nanos(1234, 56) == 1234 * 150 + 56 * 600
    assert cfg.vendors["openai"].timeout == 20
    assert cfg.routing.default_tier == "primary"


def test_api_key_is_secret_everywhere() -> None:
    cfg = parse_models_config(GOOD, env=ENV)
    vendor = cfg.vendors["openai"]
    assert vendor.api_key.get_secret_value() == "sk-open-secret"
    for text in (repr(cfg), str(cfg), repr(vendor), vendor.model_dump_json()):
        assert "sk-open-secret" not in text


def test_missing_env_variable_is_located_at_the_key() -> None:
    (p,) = problems(GOOD.replace("$env:OPENAI_API_KEY", "$env:NOPE_KEY"))
    assert (p.file, p.line, p.code) == ("models.yaml", 5, "env-missing")
    assert "NOPE_KEY" in p.message


def test_unknown_key_suggests_the_right_one() -> None:
    (p,) = problems(GOOD.replace("    timeout: 20", "    timeot: 20"))
    assert (p.line, p.col, p.code) == (6, 5, "unknown-key")
    assert "did you mean `timeout`" in p.hint


def test_every_problem_is_reported_in_one_run() -> None:
    text = """\
    vendors:
      openai: {kind: openai, base_url: http://x, api_key: $env:MISSING}
    models:
      m1: {vendor: openai, model: m, input_per_1k: 0.0000001, context_window: 1000}
      m2: {vendor: openai, context_window: -5}
    tiers:
      primary: []
    routing: {retry: {max_attempts: 0}}
    """
    found = problems(text)
    by_code = sorted((p.line, p.code) for p in found)
    assert by_code == [
        (2, "env-missing"),
        (4, "bad-amount"),  # more than 6 decimals per 1k tokens
        (5, "bad-value"),  # context_window must be > 0
        (5, "missing-field"),  # model
        (7, "bad-value"),  # an empty fallback chain
        (8, "bad-value"),  # max_attempts must be > 0
    ]


def test_cross_references_are_checked_with_locations() -> None:
    text = GOOD + "  light: [gpt-mini, gpt-huge]\nrouting:\n  default_tier: main\n"
    text = text.replace("    vendor: openai", "    vendor: opnai")
    found = problems(text, vendor_kinds={"anthropic"})
    assert [(p.line, p.code) for p in found] == [
        (3, "unknown-vendor-kind"),
        (9, "unknown-vendor"),
        (16, "unknown-model"),
        (18, "unknown-tier"),
    ]
    assert "one of: light, primary" in found[3].hint


def test_long_and_light_tiers_must_exist_when_used() -> None:
    text = GOOD + (
        "routing: {long_context_tokens: 8000}\n"
        "degradation:\n  steps:\n    - {error_rate: 0.5, action: light_tier}\n    - {action: templates_only}\n"
    )
    found = problems(text)
    assert sorted(p.code for p in found) == ["threshold-missing"]  # shape errors come first
    found = problems(text.replace("    - {action: templates_only}\n", ""))
    assert sorted(p.message for p in found) == [
        "`routing.light_tier` names tier `light`",
        "`routing.long_tier` names tier `long`",
    ]


def test_yaml_syntax_error_is_located() -> None:
    (p,) = problems("vendors:\n  openai: {kind: openai\nmodels: {}\n")
    assert p.code == "yaml-syntax"
    assert p.line == 3


def test_degradation_actions_follow_thresholds() -> None:
    text = GOOD + (
        "  light: [gpt-mini]\n"
        "degradation:\n  steps:\n"
        "    - {p99_latency_ms: 4000, action: light_tier}\n"
        "    - {error_rate: 0.25, action: serve_cached}\n"
        "    - {error_rate: 0.5, p99_latency_ms: 9000, action: templates_only}\n"
    )
    policy = parse_models_config(text, env=ENV).degradation
    assert policy.resolve(p99_latency_ms=100, error_rate=0.0) is None
    assert policy.resolve(p99_latency_ms=4500, error_rate=0.0) == Degradation(light_tier=True)
    assert policy.resolve(p99_latency_ms=100, error_rate=0.3) == Degradation(stop="serve_cached")
    # no vendor call at all: the light tier does not matter any more
    assert policy.resolve(p99_latency_ms=9500, error_rate=0.1) == Degradation(stop="templates_only")
    assert policy.resolve(p99_latency_ms=100, error_rate=0.6) == Degradation(stop="templates_only")


def test_limit_and_serve_cached_when_every_threshold_is_exceeded() -> None:
    text = GOOD + (
        "  light: [gpt-mini]\n"
        "degradation:\n  steps:\n"
        "    - {p99_latency_ms: 1500, error_rate: 0.1, match: all, action: [limit, serve_cached],\n"
        "       limit: {concurrent: 8, per_second: 20}}\n"
        "    - {p99_latency_ms: 3000, action: [limit, light_tier, templates_only], limit: {concurrent: 2}}\n"
        "    - {error_rate: 0.5, action: templates_only}\n"
    )
    policy = parse_models_config(text, env=ENV).degradation
    assert policy.most_per_second == 20
    assert policy.resolve(p99_latency_ms=2000, error_rate=0.05) is None  # `all`: errors are fine
    assert policy.resolve(p99_latency_ms=1000, error_rate=0.2) is None  # `all`: latency is fine
    limited = policy.resolve(p99_latency_ms=2000, error_rate=0.2)
    assert limited == Degradation(limit=mc.CallLimit(concurrent=8, per_second=20), overflow="serve_cached")
    assert limited.describe() == "limit (concurrent 8, per_second 20; over it: serve_cached)"
    # two limits hold: the tightest caps; templates_only in a limit step is for the calls over the cap only
    both = policy.resolve(p99_latency_ms=3500, error_rate=0.2)
    assert both == Degradation(
        limit=mc.CallLimit(concurrent=2, per_second=20), overflow="templates_only", light_tier=True
    )
    assert policy.resolve(p99_latency_ms=3500, error_rate=0.6) == Degradation(stop="templates_only")


def test_limit_problems_are_located() -> None:
    def steps(*lines: str) -> str:
        return GOOD + "degradation:\n  steps:\n" + "".join(f"    - {line}\n" for line in lines)

    found = problems(
        steps(
            "{p99_latency_ms: 1500, action: limit}",
            "{p99_latency_ms: 1500, action: [limit, serve_cached], limit: {}}",
            "{p99_latency_ms: 1500, action: limit, limit: {concurent: 4}}",
            "{error_rate: 0.1, action: serve_cached, limit: {concurrent: 4}}",
            "{error_rate: 0.1, match: most, action: [limit, throttle], limit: {concurrent: 0, per_second: x}}",
        )
    )
    assert [(p.line, p.code) for p in found] == [
        (18, "limit-missing"),  # the action without its numbers
        (19, "limit-missing"),  # an empty limit
        (20, "unknown-key"),
        (21, "limit-unused"),
        (22, "bad-value"),  # match
        (22, "bad-value"),  # throttle
        (22, "bad-value"),  # concurrent must be > 0
        (22, "bad-value"),  # per_second a number
    ]
    assert "concurrent" in found[0].hint and "did you mean `concurrent`" in found[2].hint
    assert found[1].col > found[0].col  # at the `limit` key


def test_quickstart_builds_one_vendor_in_every_tier() -> None:
    cfg = from_quickstart("http://localhost:11434/v1", "sk-quick", "qwen2.5")
    assert cfg.vendors["default"].kind == "openai"
    assert cfg.vendors["default"].api_key.get_secret_value() == "sk-quick"
    assert cfg.tiers == {"primary": ["qwen2.5"], "light": ["qwen2.5"], "long": ["qwen2.5"]}
    assert cfg.models["qwen2.5"].model == "qwen2.5"
    assert cfg.models["qwen2.5"].cost_nanos(1000, 1000) == 0
