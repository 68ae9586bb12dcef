"""`frontdesk eval ...`: measure understanding, masking and guards on labelled data."""

from __future__ import annotations

import argparse
import importlib

EVAL_MODULES = ("frontdesk.cli.eval_intents", "frontdesk.cli.eval_privacy")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("eval", help="measure quality on labelled data")
    eval_sub = parser.add_subparsers(dest="eval_command", required=True)
    for module_path in EVAL_MODULES:
        importlib.import_module(module_path).add_parser(eval_sub)
