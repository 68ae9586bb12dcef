"""`frontdesk ruleset import-intents DATA --into DIR`: labelled data -> a ruleset's intents.csv."""

from __future__ import annotations

import argparse
from pathlib import Path

from frontdesk.intent_data import read_labelled
from frontdesk.intent_import import import_intents


def add_parser(ruleset_sub: argparse._SubParsersAction) -> None:
    parser = ruleset_sub.add_parser(
        "import-intents",
        help="write labelled data as a ruleset's intents.csv (and a minimal ruleset.yaml if there is none)",
        description=__doc__,
    )
    parser.add_argument("data", type=Path, metavar="DATA", help="labelled messages: .csv with a header, or .jsonl")
    parser.add_argument("--text-col", default="text", metavar="COL", help="column holding the message (text)")
    parser.add_argument("--label-col", default="intent", metavar="COL", help="column holding the intent (intent)")
    parser.add_argument("--into", required=True, type=Path, metavar="DIR", help="the ruleset folder")
    parser.add_argument("--per-intent", type=int, metavar="K", help="keep at most K examples of each intent")
    parser.add_argument("--language", choices=("zh", "en"), help="of a new ruleset.yaml (default: guessed)")
    parser.add_argument("--name", help="of a new ruleset.yaml (default: from the folder name)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="which K examples are kept (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    rows = read_labelled(args.data, args.text_col, args.label_col)
    summary = import_intents(
        rows, args.into, per_intent=args.per_intent, language=args.language, name=args.name, seed=args.seed
    )
    print(f"read {summary.read:,} rows from {args.data}")
    print(f"wrote {summary.written:,} examples of {summary.intents:,} intents to {summary.csv_path}")
    capped = f", {summary.over_cap:,} over the cap of {args.per_intent} per intent" if args.per_intent else ""
    print(
        f"dropped {summary.duplicates:,} duplicates, {summary.conflicting:,} repeated with another intent, "
        f"{summary.empty:,} empty{capped}"
    )
    if summary.ruleset_created:
        print(f"created {summary.ruleset_path} (ruleset {summary.name}, language {summary.language})")
    else:
        print(
            f"{summary.ruleset_path} exists: left unchanged, only {summary.csv_path.name} rewritten; "
            f"it must list `intents_csv: {summary.csv_path.name}`"
        )
    return 0
