import argparse
import json
from pathlib import Path

import pytest

from frontdesk.cli import eval_intents
from frontdesk.errors import InputError
from frontdesk.intent_eval import evaluate, macro_f1
from frontdesk.plugins.offline_intents import train
from frontdesk.ruleset_model import RulesetSettings
from frontdesk.settings import get_settings


class TableClassifier:
    """Answers from a fixed table, so every metric can be worked out by hand."""

    def __init__(self, table: dict[str, tuple[str, float]]) -> None:
        self.table = table
        self.labels = sorted({label for label, _ in table.values()})

    def predict(self, text: str, top: int = 3) -> list[tuple[str, float]]:
        return [self.table[text]][:top] if text in self.table else []


TABLE = {
    "a1": ("a", 0.9),  # right
    "a2": ("b", 0.8),  # wrong: a -> b
    "b1": ("b", 0.6),  # right
    "b2": ("b", 0.4),  # below 0.5: answered out of scope, b -> oos
    "o1": ("a", 0.3),  # below 0.5: out of scope, right
    "o2": ("a", 0.7),  # wrong: oos -> a
    "o3": ("oos", 0.9),  # the classifier's own out-of-scope label, right
}
ROWS = [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b"), ("o1", "oos"), ("o2", "oos"), ("o3", "oos")]


def test_metrics_with_out_of_scope_label() -> None:
    report = evaluate(TableClassifier(TABLE), ROWS, threshold=0.5, oos_label="oos")
    assert report["count"] == 7
    assert report["accuracy"] == pytest.approx(2 / 4)  # a1, b1 of the four in-scope rows
    assert report["below_threshold"] == pytest.approx(1 / 4)  # b2
    # OOS answered for b2, o1, o3; two of them right; three OOS rows in all
    assert report["oos"] == {"count": 3, "precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3)}
    # F1: a = 2*1/(2+1+1), b = 2*1/(2+1+1), oos = 2*2/(4+1+1)
    assert report["macro_f1"] == pytest.approx((0.5 + 0.5 + 2 / 3) / 3)
    assert report["confused"] == [
        {"expected": "a", "answered": "b", "count": 1},
        {"expected": "b", "answered": "oos", "count": 1},
        {"expected": "oos", "answered": "a", "count": 1},
    ]
    timing = report["us_per_message"]
    assert timing["p50"] > 0 and timing["mean"] > 0


def test_metrics_without_out_of_scope_label() -> None:
    rows = [(text, label) for text, label in ROWS if label != "oos"]
    report = evaluate(TableClassifier(TABLE), rows, threshold=0.5, oos_label=None)
    assert report["accuracy"] == pytest.approx(3 / 4)  # top-1: the threshold does not change answers
    assert report["below_threshold"] == pytest.approx(1 / 4)
    assert report["oos"] is None
    # a: tp 1, fn 1 -> 2/3; b: tp 2, fp 1 -> 4/5
    assert report["macro_f1"] == pytest.approx((2 / 3 + 4 / 5) / 2)
    assert report["confused"] == [{"expected": "a", "answered": "b", "count": 1}]


def test_confused_pairs_are_counted_and_ranked() -> None:
    table = {f"t{i}": ("b", 0.9) for i in range(3)} | {"u": ("c", 0.9), "v": ("c", 0.9), "w": ("a", 0.9)}
    rows = [("t0", "a"), ("t1", "a"), ("t2", "a"), ("u", "a"), ("v", "b"), ("w", "a")]
    confused = evaluate(TableClassifier(table), rows, threshold=0.0, oos_label=None)["confused"]
    assert confused == [
        {"expected": "a", "answered": "b", "count": 3},
        {"expected": "a", "answered": "c", "count": 1},
        {"expected": "b", "answered": "c", "count": 1},
    ]


def test_no_candidate_counts_as_out_of_scope() -> None:
    report = evaluate(TableClassifier({}), [("x", "oos"), ("y", "a")], threshold=0.0, oos_label="oos")
    assert report["oos"]["recall"] == 1.0
    assert report["accuracy"] == 0.0


def test_macro_f1_perfect_and_empty_labels() -> None:
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0
    assert macro_f1(["a", "a"], ["b", "b"]) == 0.0


def test_no_rows_is_an_input_error() -> None:
    with pytest.raises(InputError) as caught:
        evaluate(TableClassifier(TABLE), [], threshold=0.5, oos_label=None)
    assert caught.value.code == "data_empty"


def test_real_classifier_on_its_own_examples() -> None:
    rows = [("where is my order", "order"), ("track my parcel", "order"), ("refund me", "refund")]
    rows += [("give my money back", "refund"), ("talk to a person", "human"), ("real human please", "human")]
    report = evaluate(train(rows), rows, threshold=0.0, oos_label=None)
    assert report["accuracy"] == 1.0 and report["macro_f1"] == 1.0 and report["confused"] == []


@pytest.fixture
def ruleset_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRONTDESK_CACHE_DIR", str(tmp_path / "cache"))
    get_settings.cache_clear()
    folder = tmp_path / "rs"
    folder.mkdir()
    (folder / "ruleset.yaml").write_text(
        "ruleset: eval-test\nversion: 1.0.0\nlanguage: en\nintents_csv: intents.csv\n", encoding="utf-8"
    )
    examples = ["where is my order", "track my parcel", "my package is late", "has my order shipped"]
    examples += ["refund me please", "give my money back", "I want a refund", "return and refund"]
    labels = ["order"] * 4 + ["refund"] * 4
    lines = ["text,intent"] + [f"{text},{label}" for text, label in zip(examples, labels, strict=True)]
    (folder / "intents.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    yield folder
    get_settings.cache_clear()


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    eval_intents.add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_json_report(ruleset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "test.jsonl"
    rows = [("where is my parcel", "order"), ("I want my money back", "refund"), ("play some jazz", "oos")]
    data.write_text("".join(json.dumps({"q": t, "y": label}) + "\n" for t, label in rows), encoding="utf-8")
    argv = ["intents", str(data), "--ruleset", str(ruleset_dir), "--text-col", "q", "--label-col", "y"]
    assert _run([*argv, "--oos-label", "oos", "--threshold", "0.3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 3 and report["threshold"] == 0.3 and report["oos_label"] == "oos"
    assert set(report) >= {"accuracy", "macro_f1", "oos", "confused", "us_per_message"}


def test_cli_human_report_uses_ruleset_threshold(
    ruleset_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "test.csv"
    data.write_text("text,intent\nwhere is my parcel,order\nmoney back please,refund\n", encoding="utf-8")
    assert _run(["intents", str(data), "--ruleset", str(ruleset_dir)]) == 0
    out = capsys.readouterr().out
    assert "messages           2" in out
    assert f"threshold {RulesetSettings().intent_threshold}" in out  # the ruleset's default
    assert "macro-F1" in out and "µs median" in out
