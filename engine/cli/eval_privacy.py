"""`frontdesk eval pii` and `frontdesk eval injection`: measure masking and the injection guard.

    frontdesk eval pii DATA [--json]
    frontdesk eval injection DATA --text-col C (--label-col C | --label attack|benign)
                             [--type-col C] [--fill FILE [--fill-col C] [--slot S]]
                             [--threshold X] [--json]

`eval pii` measures the PII recognizers the loaded plugins register; `eval injection`
measures the built-in injection guard (module path below: the pipeline will reach it
through its stage hook).
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from frontdesk import injection_eval, pii_eval
from frontdesk.errors import PluginError
from frontdesk.masking import Recognizer
from frontdesk.plugin_manager import build_plugin_manager

INJECTION_GUARD = "frontdesk.plugins.injection_guard"


def add_parser(eval_sub: argparse._SubParsersAction) -> None:
    pii = eval_sub.add_parser("pii", help="recall and precision of the PII recognizers, per type")
    pii.add_argument("data", help="a .json/.jsonl file or a folder of them")
    pii.add_argument("--json", action="store_true", help="print the report as JSON")
    pii.set_defaults(func=run_pii)

    inj = eval_sub.add_parser("injection", help="recall, precision and false-positive rate of the injection guard")
    inj.add_argument("data", help="a .jsonl, .json or .csv file")
    inj.add_argument("--text-col", required=True, help="column holding the message")
    labels = inj.add_mutually_exclusive_group(required=True)
    labels.add_argument("--label-col", help="column saying attack or benign (1/0, true/false, unsafe/safe...)")
    labels.add_argument("--label", choices=("attack", "benign"), help="one label for every row")
    inj.add_argument("--type-col", help="column naming the attack type: figures per type")
    inj.add_argument("--fill", help="file of fillers for templates holding --slot (one row per template and filler)")
    inj.add_argument("--fill-col", default="text", help="column of --fill holding the filler (default: text)")
    inj.add_argument("--slot", default=injection_eval.DEFAULT_SLOT, help="placeholder filled in templates")
    inj.add_argument("--threshold", type=float, help="score at which a message counts as flagged")
    inj.add_argument("--json", action="store_true", help="print the report as JSON")
    inj.set_defaults(func=run_injection)


def registered_pii_recognizers() -> dict[str, Recognizer]:
    """The recognizers of every loaded plugin, through the `register_pii_recognizers` hook."""
    found: dict[str, Recognizer] = {}

    def register(name: str, recognizer: Recognizer) -> None:
        if name in found:
            raise PluginError(f"PII recognizer {name!r} registered twice", code="plugin_duplicate")
        found[name] = recognizer

    build_plugin_manager().hook.register_pii_recognizers(register=register)
    if not found:
        raise PluginError(
            "no PII recognizer is registered",
            hint="load frontdesk.plugins.pii_recognizers (DEFAULT_PLUGINS, or FRONTDESK_PLUGINS if set)",
        )
    return found


def _emit(report: Any, as_json: bool) -> None:
    print(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if as_json else report.format())


def run_pii(args: argparse.Namespace) -> int:
    cases, unused = pii_eval.load_cases(args.data)
    _emit(pii_eval.evaluate(cases, registered_pii_recognizers(), unused), args.json)
    return 0


def run_injection(args: argparse.Namespace) -> int:
    fill = injection_eval.read_column(args.fill, args.fill_col) if args.fill else []
    rows = injection_eval.load_rows(
        args.data,
        text_col=args.text_col,
        label_col=args.label_col,
        label=args.label,
        type_col=args.type_col,
        fill=fill,
        slot=args.slot,
    )
    guard = importlib.import_module(INJECTION_GUARD)
    threshold = guard.DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    _emit(injection_eval.evaluate(rows, lambda text: guard.is_injection(text, threshold)), args.json)
    return 0
