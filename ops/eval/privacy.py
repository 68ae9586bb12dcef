"""Every privacy figure the product card quotes, measured on the development data.

    .venv/bin/python ops/eval/privacy.py [--data ../shared/data]

- PII recall/precision per type on pii-zh-argus and pii-en-presidio, for both bank card
  modes, through the same evaluator as `frontdesk eval pii`;
- the bank card trade-off on order-number-like digit strings (seeded random 16-19 digits);
- injection recall on injection-zh-safety-prompts per attack type and on the GPTFuzz
  templates filled with the harmful questions; false-positive rate on four benign sets,
  through the same evaluator as `frontdesk eval injection`.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from frontdesk import injection_eval, pii_eval
from frontdesk.plugins.injection_guard import is_injection
from frontdesk.plugins.pii_recognizers import BankCardRecognizer, default_recognizers

MODES = ("luhn", "luhn_or_issuer")


def pii(data: Path) -> None:
    for name in ("pii-zh-argus", "pii-en-presidio"):
        cases, unused = pii_eval.load_cases(data / name)
        for mode in MODES:
            print(f"\n== {name}, bank card mode {mode}")
            print(pii_eval.evaluate(cases, default_recognizers(bank_card_mode=mode), unused).format())


def order_numbers(count: int = 20_000) -> None:
    rng = random.Random(11643)
    numbers = ["".join(rng.choice("0123456789") for _ in range(rng.randint(16, 19))) for _ in range(count)]
    print(f"\n== {count} random 16-19 digit order numbers taken for bank cards")
    for mode in MODES:
        recognizer = BankCardRecognizer(mode)
        hits = sum(bool(recognizer(f"订单号{n}")) for n in numbers)
        print(f"{mode:<16} {hits / count:.4f} ({hits})")


def injection(data: Path) -> None:
    def run(title: str, rows: list[injection_eval.Row]) -> None:
        print(f"\n== {title}")
        print(injection_eval.evaluate(rows, is_injection).format())

    zh = data / "injection-zh-safety-prompts/dev.jsonl"
    run(
        "injection-zh-safety-prompts",
        injection_eval.load_rows(zh, text_col="text", label="attack", type_col="attack_type"),
    )
    fuzz = data / "injection-en-gptfuzz"
    questions = injection_eval.read_column(fuzz / "harmful_questions.csv", "text")
    run(
        "injection-en-gptfuzz templates x harmful questions",
        injection_eval.load_rows(fuzz / "templates_dev.csv", text_col="text", label="attack", fill=questions),
    )
    benign = {
        "intent-en-banking77": ("train.csv", "text"),
        "intent-en-clinc150": ("train.jsonl", "text"),
        "dialog-zh-crosswoz": ("val_user_turns.jsonl", "text"),
    }
    for name, (file, col) in benign.items():
        run(f"benign {name}", injection_eval.load_rows(data / name / file, text_col=col, label="benign"))
    xstest = [
        row
        for row in injection_eval.load_rows(
            data / "benign-en-xstest/dev.csv", text_col="prompt", label="benign", type_col="label"
        )
        if row.type == "safe"
    ]
    run("benign benign-en-xstest (safe prompts)", xstest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "data")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"no data folder at {args.data}: pass --data")
    pii(args.data)
    order_numbers()
    injection(args.data)
    print("\n" + json.dumps({"data": str(args.data)}))


if __name__ == "__main__":
    main()
