"""The `frontdesk` command line. Each sub-command lives in its own module exposing
`add_parser(subparsers)`, which sets `func(args) -> int` as the parser default."""

from __future__ import annotations

import argparse
import importlib
import sys

from frontdesk.errors import FrontdeskError

COMMAND_MODULES = (
    "frontdesk.cli.chat",
    "frontdesk.cli.ruleset_cmd",
    "frontdesk.cli.eval_cmd",
    "frontdesk.cli.plugins_cmd",
    "frontdesk.cli.models_cmd",
    "frontdesk.cli.serve",
    "frontdesk.cli.keys_cmd",
    "frontdesk.cli.audit_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="frontdesk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for module_path in COMMAND_MODULES:
        importlib.import_module(module_path).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except FrontdeskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
