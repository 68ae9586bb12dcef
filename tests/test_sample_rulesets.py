"""The sample rulesets shipped in rulesets/: they load, their own tests pass, and they stay substantial."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from frontdesk.plugin_manager import build_plugin_manager, collect_registry
from frontdesk.ruleset import Ruleset, load_ruleset
from frontdesk.ruleset_check import check_path
from frontdesk.ruleset_testing import run_tests

ROOT = Path(__file__).resolve().parents[1]
RULESETS = ROOT / "rulesets"
SHOP = RULESETS / "shop-zh"
BANK = RULESETS / "bank-en"


@pytest.fixture(scope="module")
def pm():
    return build_plugin_manager()


@pytest.fixture(scope="module")
def registry(pm):
    return collect_registry(pm)


@pytest.fixture(scope="module")
def shop(registry) -> Ruleset:
    return load_ruleset(SHOP, registry)


@pytest.fixture(scope="module")
def bank(registry) -> Ruleset:
    return load_ruleset(BANK, registry)


def _examples_per_intent(path: Path, registry) -> Counter[str]:
    parsed, problems = check_path(path, registry)
    assert parsed is not None, "\n".join(map(str, problems))
    return Counter(intent for _, intent in parsed.examples)


def _run(ruleset: Ruleset, pm) -> None:
    outcomes = asyncio.run(run_tests(ruleset, pm))
    failed = [o for o in outcomes if not o.passed]
    report = "\n".join(f"{o.location} {o.name}\n    " + "\n    ".join(o.failures) for o in failed)
    assert not failed, f"{len(failed)} of {len(outcomes)} embedded tests failed:\n{report}"


def test_shop_zh_embedded_tests_pass(shop, pm):
    _run(shop, pm)


def test_bank_en_embedded_tests_pass(bank, pm):
    _run(bank, pm)


def test_shop_zh_is_substantial(shop, registry):
    assert shop.name == "shop-zh"
    assert shop.spec.language == "zh"
    assert shop.spec.business_hours.timezone == "Asia/Shanghai"
    counts = _examples_per_intent(SHOP, registry)
    assert len(counts) >= 10, counts
    thin = {name: n for name, n in counts.items() if n < 15}
    assert not thin, f"intents with fewer than 15 examples: {thin}"
    assert len(shop.spec.tests) >= 25
    assert any(len(test.turns) > 1 for test in shop.spec.tests), "no multi-turn test"
    assert any(rule.window for rule in shop.spec.rules), "no temporal (window) rule"


def test_bank_en_is_substantial(bank, registry):
    assert bank.name == "bank-en"
    assert bank.spec.language == "en"
    counts = _examples_per_intent(BANK, registry)
    assert len(counts) >= 10, counts
    assert len(bank.spec.tests) >= 10
    csv_file = BANK / "intents.csv"
    assert csv_file.stat().st_size < 300_000
    assert csv_file.read_text(encoding="utf-8").splitlines()[0] == "text,intent"


# `python -m frontdesk.cli` needs frontdesk/cli/__main__.py; calling main() is the same entry point.
CLI = [sys.executable, "-c", "import sys; from frontdesk.cli import main; sys.exit(main())"]


def test_cli_check_accepts_both_samples():
    result = subprocess.run(
        [*CLI, "ruleset", "check", str(SHOP), str(BANK)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": ok — ") == 2, result.stdout
