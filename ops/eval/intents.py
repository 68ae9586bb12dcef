"""The offline intent classifier's figures, measured on held-out splits of the development data.

    .venv/bin/python ops/eval/intents.py [--data ../shared/data] [--via cli|python]
        [--sets banking77,clinc150,crosswoz] [--thresholds 0,0.45] [--baseline] [--speed] [--keep DIR]

Splits are made in a temporary folder (nothing is copied into the repository):
- banking77: train.csv split 80/20, stratified by intent (seed 0);
- clinc150: train.jsonl + oos_train.jsonl to train, val.jsonl + oos_val.jsonl to test;
  "oos" is the out-of-scope label;
- crosswoz (Chinese): user turns labelled with their main dialogue act (Request, Select or
  Inform with its domain; else the General act: greet, thank, bye), split 80/20 stratified.

Each set becomes two rulesets, from every training example and from 10 per intent, made
with `frontdesk ruleset import-intents` and measured with `frontdesk eval intents --json`
(`--via cli`, the default), or with the same modules called directly (`--via python`:
no ruleset loader involved, and training time is reported). `--baseline` adds the plain
TF-IDF (char 1-4 + word 1-2) + LinearSVC pipeline with scikit-learn defaults, trained and
tested on the same split, for comparison. `--speed` only times one 20-character message
through the fitted sklearn pipeline and through the classifier's lean path.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from frontdesk.intent_data import read_labelled
from frontdesk.intent_eval import evaluate
from frontdesk.intent_import import import_intents
from frontdesk.plugin_manager import build_plugin_manager, collect_registry

FEW = 10  # examples per intent of the few-shot rulesets
SEED = 0
COLUMNS = (
    "set",
    "per intent",
    "threshold",
    "accuracy %",
    "below threshold %",
    "macro-F1",
    "OOS recall %",
    "OOS precision %",
    "µs p50",
    "µs mean",
    "µs p50 warm, 20 chars",
    "train s",
    "baseline accuracy %",
)
# a typical 20-character message per set, predicted over and over with warm caches
SPEED_MESSAGES = {
    "banking77": "where is my new card",
    "clinc150": "set an alarm for 7am",
    "crosswoz": "请帮我推荐一家人均消费一百元左右的餐馆吧",
}


def split_stratified(rows: list[tuple[str, str]], test_share: float, seed: int) -> tuple[list, list]:
    by_label: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        by_label[row[1]].append(row)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        cut = round(len(group) * test_share)
        test += group[:cut]
        train += group[cut:]
    return train, test


def crosswoz_rows(path: Path) -> list[tuple[str, str]]:
    """One label per user turn: its main act (Request > Select > Inform, with the domain)."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        turn = json.loads(line)
        acts = turn["dialog_acts"]
        for kind in ("Request", "Select", "Inform"):
            domains = [act["domain"] for act in acts if act["intent"] == kind]
            if domains:
                rows.append((turn["text"], f"{kind.lower()}-{domains[0]}"))
                break
        else:
            general = [act["domain"] for act in acts if act["intent"] == "General"]
            if general:
                rows.append((turn["text"], f"general-{general[-1]}"))
    return rows


def write_jsonl(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for text, label in rows:
            handle.write(json.dumps({"text": text, "intent": label}, ensure_ascii=False) + "\n")


def make_splits(data: Path, work: Path, sets: list[str]) -> dict[str, tuple[Path, Path, str | None]]:
    """name -> (train file, test file, out-of-scope label); files use columns text, intent."""
    splits = {}
    if "banking77" in sets:
        rows = read_labelled(data / "intent-en-banking77/train.csv", "text", "category")
        train, test = split_stratified(rows, 0.2, SEED)
        write_jsonl(work / "banking77-train.jsonl", train)
        write_jsonl(work / "banking77-test.jsonl", test)
        splits["banking77"] = (work / "banking77-train.jsonl", work / "banking77-test.jsonl", None)
    if "clinc150" in sets:
        clinc = data / "intent-en-clinc150"

        def read(name: str) -> list[tuple[str, str]]:
            return read_labelled(clinc / name, "text", "intent")

        write_jsonl(work / "clinc150-train.jsonl", read("train.jsonl") + read("oos_train.jsonl"))
        write_jsonl(work / "clinc150-test.jsonl", read("val.jsonl") + read("oos_val.jsonl"))
        splits["clinc150"] = (work / "clinc150-train.jsonl", work / "clinc150-test.jsonl", "oos")
    if "crosswoz" in sets:
        train, test = split_stratified(crosswoz_rows(data / "dialog-zh-crosswoz/val_user_turns.jsonl"), 0.2, SEED)
        write_jsonl(work / "crosswoz-train.jsonl", train)
        write_jsonl(work / "crosswoz-test.jsonl", test)
        splits["crosswoz"] = (work / "crosswoz-train.jsonl", work / "crosswoz-test.jsonl", None)
    return splits


def frontdesk(*argv: str) -> str:
    """Run the real command line; its output, or the error it printed."""
    command = [str(Path(sys.executable).with_name("frontdesk")), *argv]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return done.stdout


def measure_cli(
    name: str,
    split: tuple[Path, Path, str | None],
    folder: Path,
    per_intent: int | None,
    seed: int,
    thresholds: list[float],
) -> list[dict[str, Any]]:
    train, test, oos = split
    cap = ["--per-intent", str(per_intent)] if per_intent else []
    frontdesk("ruleset", "import-intents", str(train), "--into", str(folder), "--seed", str(seed), *cap)
    oos_args = ["--oos-label", oos] if oos else []
    reports = []
    for threshold in thresholds:
        out = frontdesk(
            "eval", "intents", str(test), "--ruleset", str(folder), "--json", "--threshold", str(threshold), *oos_args
        )
        reports.append(json.loads(out))
    return reports


def measure_python(
    name: str,
    split: tuple[Path, Path, str | None],
    folder: Path,
    per_intent: int | None,
    seed: int,
    thresholds: list[float],
) -> list[dict[str, Any]]:
    train, test, oos = split
    import_intents(read_labelled(train, "text", "intent"), folder, per_intent=per_intent, seed=seed)
    examples = read_labelled(folder / "intents.csv", "text", "intent")
    factory = collect_registry(build_plugin_manager()).intent_classifiers["tfidf-svm"]
    start = time.perf_counter()
    classifier = factory(examples)
    seconds = time.perf_counter() - start
    rows = read_labelled(test, "text", "intent")
    reports = [evaluate(classifier, rows, threshold=t, oos_label=oos) for t in thresholds]
    warm = warm_p50_us(classifier, SPEED_MESSAGES[name])
    for report in reports:
        report["train_seconds"] = seconds
        report["warm_us_p50"] = warm
    return reports


def warm_p50_us(classifier: Any, message: str, calls: int = 5000) -> float:
    return p50_us(lambda: classifier.predict(message), calls)


def p50_us(call: Any, calls: int) -> float:
    for _ in range(calls // 10):
        call()
    timings = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        timings.append(time.perf_counter_ns() - start)
    return statistics.median(timings) / 1000


def speed_versus_sklearn(name: str, train: Path) -> None:
    """One message through the fitted sklearn vectorizers + LinearSVC, and through the lean path."""
    from frontdesk.plugins import offline_intents as model

    rows = read_labelled(train, "text", "intent")
    texts = [model.normalize(text) for text, _ in rows]
    chars, words, pairs = model.fit_vectorizers(texts)
    svm = model.fit_svm(model.sklearn_features(chars, words, pairs, texts), [label for _, label in rows])
    lean = model.TfidfSvmClassifier.from_svm(
        chars, words, pairs, svm, model.DEFAULT_TEMPERATURE, model.DEFAULT_BACKGROUND
    )
    message = SPEED_MESSAGES[name]

    def reference() -> Any:
        return model.class_scores(svm, model.sklearn_features(chars, words, pairs, [model.normalize(message)]))

    print(
        f"{name}: {len(svm.classes_)} intents, {len(message)}-char message, p50: "
        f"sklearn transform + decision_function {p50_us(reference, 500):.0f} µs, "
        f"lean predict {p50_us(lambda: lean.predict(message), 5000):.1f} µs"
    )


def baseline_accuracy(folder: Path, test: Path, oos: str | None) -> float:
    """Plain TF-IDF char 1-4 + word 1-2 + LinearSVC, scikit-learn defaults; top-1 on in-scope rows."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.svm import LinearSVC

    train_rows = read_labelled(folder / "intents.csv", "text", "intent")
    test_rows = [row for row in read_labelled(test, "text", "intent") if row[1] != oos]
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 4))
    words = TfidfVectorizer(analyzer="word", ngram_range=(1, 2))
    texts = [text for text, _ in train_rows]
    features = hstack([chars.fit_transform(texts), words.fit_transform(texts)]).tocsr()
    svm = LinearSVC().fit(features, [label for _, label in train_rows])
    queries = [text for text, _ in test_rows]
    predicted = svm.predict(hstack([chars.transform(queries), words.transform(queries)]).tocsr())
    return sum(p == label for p, (_, label) in zip(predicted, test_rows, strict=True)) / len(test_rows)


def table_row(name: str, per_intent: str, report: dict[str, Any], baseline: float | None) -> str:
    def pct(value: float | None) -> str:
        return "—" if value is None else f"{100 * value:.2f}"

    oos = report["oos"] or {}
    cells = [
        name,
        per_intent,
        f"{report['threshold']:g}",
        pct(report["accuracy"]),
        pct(report["below_threshold"]),
        f"{report['macro_f1']:.4f}",
        pct(oos.get("recall")),
        pct(oos.get("precision")),
        f"{report['us_per_message']['p50']:.0f}",
        f"{report['us_per_message']['mean']:.0f}",
        f"{report['warm_us_p50']:.0f}" if "warm_us_p50" in report else "—",
        f"{report['train_seconds']:.1f}" if "train_seconds" in report else "—",
        pct(baseline),
    ]
    return "| " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--via", choices=("cli", "python"), default="cli")
    parser.add_argument("--sets", default="banking77,clinc150,crosswoz")
    parser.add_argument("--thresholds", default="0,0.45", help="comma-separated")
    parser.add_argument("--baseline", action="store_true")
    parser.add_argument("--draws", type=int, default=1, help="how many seeded draws of 10 per intent")
    parser.add_argument("--keep", type=Path, help="build splits and rulesets here and keep them")
    parser.add_argument("--speed", action="store_true", help="only time one message: sklearn against the lean path")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="frontdesk-intents-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["FRONTDESK_CACHE_DIR"] = str(work / "cache")  # trained classifiers stay out of ~/.cache
    thresholds = [float(t) for t in args.thresholds.split(",")]
    measure = measure_cli if args.via == "cli" else measure_python
    try:
        splits = make_splits(args.data, work, args.sets.split(","))
        if args.speed:
            for name, (train, _, _) in splits.items():
                speed_versus_sklearn(name, train)
            return
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for name, split in splits.items():
            for per_intent, seed in [(None, SEED)] + [(FEW, seed) for seed in range(args.draws)]:
                shown = "all" if per_intent is None else f"{per_intent}, draw {seed}"
                folder = work / f"{name}-{per_intent or 'all'}-{seed}"
                reports = measure(name, split, folder, per_intent, seed, thresholds)
                baseline = baseline_accuracy(folder, split[1], split[2]) if args.baseline else None
                for report in reports:
                    print(table_row(name, shown, report, baseline), flush=True)
                    confused = ", ".join(
                        f"{p['expected']}->{p['answered']} {p['count']}" for p in report["confused"][:3]
                    )
                    print(f"<!-- {name} {shown} @{report['threshold']:g}: top confusions {confused} -->")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
