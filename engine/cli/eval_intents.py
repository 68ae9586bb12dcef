"""`frontdesk eval intents DATA --ruleset DIR`: how well a ruleset's intent classifier
does on labelled messages it was not trained on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from frontdesk.intent_data import read_labelled
from frontdesk.intent_eval import evaluate


def add_parser(eval_sub: argparse._SubParsersAction) -> None:
    parser = eval_sub.add_parser(
        "intents",
        help="accuracy, macro-F1, confusions and out-of-scope detection of a ruleset's intents",
        description=__doc__,
    )
    parser.add_argument("data", type=Path, metavar="DATA", help="labelled messages: .csv with a header, or .jsonl")
    parser.add_argument("--ruleset", required=True, type=Path, metavar="DIR", help="the ruleset to measure")
    parser.add_argument("--text-col", default="text", metavar="COL", help="column holding the message (text)")
    parser.add_argument("--label-col", default="intent", metavar="COL", help="column holding the intent (intent)")
    parser.add_argument("--oos-label", metavar="LABEL", help="the label of out-of-scope messages in DATA")
    parser.add_argument(
        "--threshold", type=float, metavar="P", help="out-of-scope below this probability (default: the ruleset's)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from frontdesk.ruleset import load_ruleset  # loads every plugin: only when the command runs

    rows = read_labelled(args.data, args.text_col, args.label_col)
    ruleset = load_ruleset(args.ruleset)
    threshold = ruleset.intent_threshold if args.threshold is None else args.threshold
    report = evaluate(ruleset.classifier, rows, threshold=threshold, oos_label=args.oos_label)
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return 0


def format_report(report: dict[str, Any]) -> str:
    """The report as a few aligned lines an analyst reads at a glance."""
    in_scope = "in-scope accuracy" if report["oos_label"] is not None else "accuracy"
    lines = [
        f"messages           {report['count']}",
        f"{in_scope:<19}{_pct(report['accuracy'])}",
        f"macro-F1           {report['macro_f1']:.4f}",
        f"below threshold    {_pct(report['below_threshold'])} of in-scope messages (threshold {report['threshold']})",
    ]
    oos = report["oos"]
    if oos is not None:
        lines.append(
            f"out of scope       recall {_pct(oos['recall'])}, precision {_pct(oos['precision'])}"
            f" ({oos['count']} messages labelled {report['oos_label']!r})"
        )
    timing = report["us_per_message"]
    lines.append(f"time per message   {timing['p50']:.0f} µs median, {timing['mean']:.0f} µs mean")
    if report["confused"]:
        lines.append("most confused (expected -> answered):")
        width = max(len(pair["expected"]) for pair in report["confused"])
        lines += [
            f"  {pair['count']:>5}  {pair['expected']:<{width}} -> {pair['answered']}" for pair in report["confused"]
        ]
    return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"
