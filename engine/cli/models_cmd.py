"""`frontdesk models check [FILE]`: validate the models file as rulesets are validated."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from frontdesk.errors import ConfigError
from frontdesk.llm_service import models_config_from_settings, read_models_file
from frontdesk.models_config import ModelsConfig
from frontdesk.plugin_manager import Registry, build_plugin_manager, collect_registry
from frontdesk.ruleset_check import ParsedRuleset, check_path, expand_ruleset_paths
from frontdesk.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("models", help="check the model vendors configuration")
    models_sub = parser.add_subparsers(dest="models_command", required=True)
    check = models_sub.add_parser("check", help="validate a models file; every problem as file:line:col")
    check.add_argument(
        "file", nargs="?", type=Path, help="default: FRONTDESK_MODELS_FILE, or the FRONTDESK_LLM_* quick start"
    )
    check.add_argument(
        "--rulesets", nargs="+", type=Path, default=[], metavar="PATH", help="also check the tiers these rulesets name"
    )
    check.set_defaults(func=run_check)


def named_tiers(parsed: ParsedRuleset) -> Iterator[tuple[str, str]]:
    """(where, tier) for every tier a ruleset names."""
    llm = parsed.spec.llm
    if llm.tier:
        yield "llm.tier", llm.tier
    if llm.understand_tier:
        yield "llm.understand_tier", llm.understand_tier
    for level, tier in llm.customer_tiers.items():
        yield f"llm.customer_tiers.{level}", tier
    for rule_id, actions in parsed.actions.items():
        for name, params in actions:
            if tier := getattr(params, "tier", None):
                yield f"rule {rule_id}: {name}", tier


def check_rulesets(paths: list[Path], config: ModelsConfig, registry: Registry) -> int:
    problems = 0
    for path in expand_ruleset_paths(paths):
        parsed, found = check_path(path, registry)
        for problem in found:
            print(problem)
        if parsed is None:
            problems += len(found)
            continue
        for where, tier in named_tiers(parsed):
            if tier not in config.tiers:
                problems += 1
                print(
                    f"{path}: unknown-tier ruleset {parsed.spec.ruleset} names tier `{tier}` ({where})"
                    f" — the models file declares: {', '.join(sorted(config.tiers))}"
                )
    return problems


def run_check(args: argparse.Namespace) -> int:
    registry = collect_registry(build_plugin_manager())
    try:
        if args.file is not None:
            config = read_models_file(args.file, registry.models)
            source = str(args.file)
        else:
            settings = Settings()
            found = models_config_from_settings(settings, registry.models)
            if found is None:
                raise ConfigError(
                    "no model vendor is configured",
                    code="llm_not_configured",
                    hint="pass a models file, or set FRONTDESK_MODELS_FILE or the FRONTDESK_LLM_* quick start",
                )
            config, source = found, str(settings.models_file or "quick start")
    except ConfigError as exc:
        problems = getattr(exc, "problems", None)
        if not problems:
            raise
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s)")
        return 1
    if check_rulesets(args.rulesets, config, registry):
        return 1
    chains = "; ".join(f"{tier}: {' -> '.join(chain)}" for tier, chain in config.tiers.items())
    print(f"{source}: ok — {len(config.vendors)} vendor(s), {len(config.models)} model(s); tiers {chains}")
    for step in config.degradation.steps:
        print(f"  degradation: {step.describe()}")
    return 0
