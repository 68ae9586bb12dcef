"""`frontdesk ruleset check|test|import-intents`: the analyst's tools."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path

from frontdesk.plugin_manager import build_plugin_manager, collect_registry
from frontdesk.ruleset import build_ruleset
from frontdesk.ruleset_check import check_path, expand_ruleset_paths
from frontdesk.ruleset_testing import run_tests

PATHS_HELP = "a ruleset folder or file, or a folder of ruleset folders"

SUBCOMMAND_MODULES = ("frontdesk.cli.ruleset_import",)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ruleset", help="check, test and build rulesets")
    ruleset_sub = parser.add_subparsers(dest="ruleset_command", required=True)
    check = ruleset_sub.add_parser("check", help="validate rulesets; every problem as file:line:col")
    check.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=PATHS_HELP)
    check.set_defaults(func=run_check)
    test = ruleset_sub.add_parser("test", help="run the conversation tests declared in rulesets")
    test.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=PATHS_HELP)
    test.add_argument("-k", dest="match", help="only tests whose name contains this text")
    test.set_defaults(func=run_test)
    for module_path in SUBCOMMAND_MODULES:
        importlib.import_module(module_path).add_parser(ruleset_sub)


def run_check(args: argparse.Namespace) -> int:
    registry = collect_registry(build_plugin_manager())
    failed = False
    for path in expand_ruleset_paths(args.paths):
        parsed, problems = check_path(path, registry)
        for problem in problems:
            print(problem)
        if parsed is None:
            failed = True
        else:
            spec = parsed.spec
            print(
                f"{path}: ok — {spec.ruleset} {spec.version}: {len({i for _, i in parsed.examples})} intents, "
                f"{len(spec.rules)} rules, {len(spec.tests)} tests"
            )
    return 1 if failed else 0


def run_test(args: argparse.Namespace) -> int:
    pm = build_plugin_manager()
    registry = collect_registry(pm)
    passed = failed = 0
    for path in expand_ruleset_paths(args.paths):
        parsed, problems = check_path(path, registry)
        if parsed is None:
            for problem in problems:
                print(problem)
            failed += 1
            print(f"{path}: not loaded, {len(problems)} problem(s)")
            continue
        if args.match:
            parsed.spec.tests = [t for t in parsed.spec.tests if args.match in t.name]
        ruleset = build_ruleset(parsed, registry)
        for outcome in asyncio.run(run_tests(ruleset, pm)):
            if outcome.passed:
                passed += 1
                continue
            failed += 1
            print(f"FAIL {outcome.location} {outcome.name}")
            for line in outcome.failures:
                print(f"    {line}")
    print(f"{passed} passed, {failed} failed")
    sys.stdout.flush()
    return 1 if failed else 0
