"""The model service built from Settings (quick start, models file, Redis) and `frontdesk models check`."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from llm_support import FIXTURE, KEY, registry, say
from mock_vendor import Fault, MockVendor

from frontdesk.bootstrap import build_engine
from frontdesk.cli import main
from frontdesk.cost import MemoryCostTracker, RedisCostTracker
from frontdesk.errors import ConfigError
from frontdesk.llm_service import LLMService, build_llm_service, close_services, models_config_from_settings
from frontdesk.models_config import NANOS
from frontdesk.settings import Settings

pytestmark = pytest.mark.anyio
QUESTION = "do you sell umbrellas"


@pytest.fixture(autouse=True)
def _clean(mock: MockVendor) -> None:
    mock.reset()


def quick_start(mock: MockVendor, **kw: object) -> Settings:
    return Settings(
        llm_base_url=mock.openai_base_url,
        llm_api_key=KEY,
        llm_model="quick-model",
        llm_input_per_1k=Decimal("0.001"),
        llm_output_per_1k=Decimal("0.003"),
        **kw,
    )


def models_file(folder: Path, mock: MockVendor, extra: str = "") -> Path:
    path = folder / "models.yaml"
    path.write_text(
        "vendors:\n"
        f"  mock: {{kind: openai, base_url: '{mock.openai_base_url}', api_key: $env:MOCK_KEY}}\n"
        "models:\n"
        "  m: {vendor: mock, model: file-model, context_window: 8000, input_per_1k: 0.001}\n"
        "tiers: {primary: [m], light: [m]}\n" + extra,
        encoding="utf-8",
    )
    return path


async def test_three_settings_turn_the_llm_on(mock: MockVendor) -> None:
    eng = build_engine([FIXTURE], settings=quick_start(mock))
    llm = eng.services["llm"]
    try:
        mock.script(Fault(text="Yes, we do."))
        result = await say(eng, QUESTION)
        costs = llm.router.costs
        assert isinstance(costs, MemoryCostTracker)
        totals = await costs.totals("default")  # FRONTDESK_TENANT
    finally:
        await close_services(eng.services)
    assert result["reply"]["text"] == "Yes, we do."
    (request,) = mock.requests
    assert request.model == "quick-model" and request.headers["authorization"] == f"Bearer {KEY}"
    input_tokens = sum(len(m["content"]) for m in request.body["messages"])
    assert (totals.input_tokens, totals.output_tokens) == (input_tokens, len("Yes, we do."))
    assert totals.cost_nanos == input_tokens * 1000 + len("Yes, we do.") * 3000


def test_no_llm_settings_mean_no_llm_service() -> None:
    assert build_engine([FIXTURE], settings=Settings()).services == {}


def test_a_models_file_from_settings_with_a_budget_from_settings(mock: MockVendor, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("MOCK_KEY", KEY)
    settings = Settings(models_file=models_file(tmp_path, mock), llm_daily_budget=Decimal("2.5"))
    config = models_config_from_settings(settings, registry().models)
    assert config is not None and config.vendors["mock"].api_key.get_secret_value() == KEY
    assert config.budgets.daily_limit_nanos("anyone") == 2_500_000_000
    own = Settings(models_file=models_file(tmp_path, mock, "budgets: {daily: {acme: 1}}\n"), llm_daily_budget=9)
    config = models_config_from_settings(own, registry().models)
    assert config is not None  # the file's own budgets win
    assert (config.budgets.daily_limit_nanos("acme"), config.budgets.daily_limit_nanos("other")) == (NANOS, None)


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"llm_base_url": "http://x/v1"}, "llm_config_incomplete"),
        ({"llm_model": "m", "models_file": "models.yaml"}, "llm_config_ambiguous"),
        ({"models_file": "/nonexistent/models.yaml"}, "models_file_unreadable"),
    ],
)
def test_wrong_llm_settings_are_clear_errors(settings: dict[str, str], code: str) -> None:
    with pytest.raises(ConfigError) as info:
        models_config_from_settings(Settings(**settings), registry().models)
    assert info.value.code == code


async def test_with_redis_workers_share_cached_answers_and_costs(mock: MockVendor, fresh_redis_url: str) -> None:
    settings = quick_start(mock, redis_url=fresh_redis_url, tenant="shared")
    workers = [build_llm_service(settings, registry()) for _ in range(2)]
    assert all(isinstance(w, LLMService) for w in workers)
    first, second = (build_engine([FIXTURE], services={"llm": w}) for w in workers)
    try:
        answered = await say(first, QUESTION, "one")
        cached = await say(second, QUESTION, "two")  # another worker: its own LRU is empty
        costs = workers[1].router.costs  # type: ignore[union-attr]
        assert isinstance(costs, RedisCostTracker)
        totals = await costs.totals("shared")
    finally:
        for engine in (first, second):
            await close_services(engine.services)
    assert mock.received == 1
    assert cached["reply"] == {**answered["reply"], "source": "cache"}
    assert totals.calls == 1 and totals.cost_nanos > 0


def test_models_check_reports_every_problem_with_its_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "vendors:\n"
        "  oa: {kind: openai, base_url: 'http://x/v1'}\n"
        "  odd: {kind: carrier-pigeon, base_url: 'http://y'}\n"
        "models:\n"
        "  a: {vendor: oa, model: m, context_window: 8000, input_per_1k: 0.0000001}\n"
        "tiers: {primary: [a, b]}\n",
        encoding="utf-8",
    )
    assert main(["models", "check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 problem(s)"
    assert lines[0].startswith(f"{path}:5:") and "bad-amount" in lines[0]
    path.write_text(path.read_text().replace("0.0000001", "0.001"), encoding="utf-8")
    assert main(["models", "check", str(path)]) == 1
    found = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1].split(" ")[0] for line in found[:-1]] == ["unknown-vendor-kind", "unknown-model"]
    assert [line.split(":")[1] for line in found[:-1]] == ["3", "6"]


def test_models_check_accepts_a_good_file_and_checks_ruleset_tiers(
    mock: MockVendor, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("MOCK_KEY", KEY)
    path = models_file(tmp_path, mock)
    assert main(["models", "check", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: ok — 1 vendor(s), 1 model(s); tiers primary: m; light: m"
    assert main(["models", "check", str(path), "--rulesets", str(FIXTURE)]) == 0
    capsys.readouterr()
    path.write_text(path.read_text().replace(", light: [m]", ""), encoding="utf-8")
    assert main(["models", "check", str(path), "--rulesets", str(FIXTURE)]) == 1
    out = capsys.readouterr().out
    assert "unknown-tier ruleset llm-shop names tier `light` (llm.tier)" in out


def test_the_example_models_file_is_valid_for_the_sample_rulesets(capsys, monkeypatch) -> None:
    root = Path(__file__).resolve().parents[1]
    example = root / "ops" / "models.example.yaml"
    for name in ("DEEPSEEK_API_KEY", "DASHSCOPE_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert main(["models", "check", str(example)]) == 1  # keys come from the environment only
    assert capsys.readouterr().out.count("env-missing") == 3
    for name in ("DEEPSEEK_API_KEY", "DASHSCOPE_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.setenv(name, "sk-test")
    assert main(["models", "check", str(example), "--rulesets", str(root / "rulesets")]) == 0
    assert capsys.readouterr().out.startswith(f"{example}: ok — 4 vendor(s), 4 model(s)")
