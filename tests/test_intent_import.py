import argparse
import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from frontdesk.cli import ruleset_import
from frontdesk.errors import InputError, NotFound
from frontdesk.intent_data import read_labelled
from frontdesk.intent_import import guess_language, import_intents
from frontdesk.plugin_manager import build_plugin_manager, collect_registry
from frontdesk.ruleset_check import check_path

ROWS = [(f"refund request number {i}", "refund") for i in range(7)]
ROWS += [(f"where is parcel {i}", "order_status") for i in range(3)]
ROWS += [("talk to a human", "human")]


def _written(folder: Path) -> list[tuple[str, str]]:
    with (folder / "intents.csv").open(encoding="utf-8", newline="") as handle:
        return [(row["text"], row["intent"]) for row in csv.DictReader(handle)]


# ---- reading labelled data


def test_read_csv_with_multiline_quoted_text(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text('\ufeffid,text,category\n1,"two\nlines",a\n\n2,plain,b \n', encoding="utf-8")
    assert read_labelled(path, "text", "category") == [("two\nlines", "a"), ("plain", "b")]


def test_read_jsonl_skips_blank_lines_and_accepts_integer_labels(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    path.write_text('{"text": "hi", "label": 3}\n\n{"text": "", "label": "x"}\n', encoding="utf-8")
    assert read_labelled(path, "text", "label") == [("hi", "3"), ("", "x")]


@pytest.mark.parametrize(
    ("name", "content", "code", "where"),
    [
        ("d.csv", "text,label\nhello,a\n", "data_column_missing", ":1:"),
        ("d.csv", 'text,intent\nhello,a\n\n"multi\nline",b\nbad,row,extra\n', "data_row_malformed", ":6:"),
        ("d.csv", "text,intent\nhello,a\nno label,\n", "data_row_malformed", ":3:"),
        ("d.csv", "", "data_empty", ":1:"),
        ("d.jsonl", '{"text": "a", "intent": "x"}\n{"text": "b"\n', "data_row_malformed", ":2:"),
        ("d.jsonl", '{"text": "a", "intent": "x"}\n\n{"text": "b"}\n', "data_column_missing", ":3:"),
        ("d.jsonl", '["text", "intent"]\n', "data_row_malformed", ":1:"),
        ("d.jsonl", '{"text": null, "intent": "x"}\n', "data_row_malformed", ":1:"),
        ("d.jsonl", '{"text": "a", "intent": true}\n', "data_row_malformed", ":1:"),
        ("d.txt", "text,intent\n", "data_format_unknown", "d.txt"),
    ],
)
def test_read_errors_name_file_and_line(tmp_path: Path, name: str, content: str, code: str, where: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        read_labelled(path, "text", "intent")
    assert caught.value.code == code
    assert str(path) in caught.value.message and where in caught.value.message


def test_read_error_on_bad_utf8_names_the_line(tmp_path: Path) -> None:
    for suffix in (".csv", ".jsonl"):
        path = tmp_path / f"d{suffix}"
        first = b"text,intent\n" if suffix == ".csv" else b'{"text": "a", "intent": "x"}\n'
        path.write_bytes(first + b'{"text": "caf\xe9", "intent": "x"}\n')
        with pytest.raises(InputError) as caught:
            read_labelled(path, "text", "intent")
        assert caught.value.code == "data_encoding"
        assert f"{path}:2:" in caught.value.message


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFound) as caught:
        read_labelled(tmp_path / "nope.csv", "text", "intent")
    assert caught.value.code == "data_file_missing"


# ---- importing


def test_per_intent_cap_keeps_every_intent(tmp_path: Path) -> None:
    summary = import_intents(ROWS, tmp_path / "rs", per_intent=2, seed=1)
    counts = Counter(intent for _, intent in _written(tmp_path / "rs"))
    assert counts == {"refund": 2, "order_status": 2, "human": 1}
    assert (summary.intents, summary.written, summary.over_cap) == (3, 5, 6)
    assert set(_written(tmp_path / "rs")) <= set(ROWS)


def test_selection_is_deterministic_and_depends_on_seed(tmp_path: Path) -> None:
    def chosen(seed: int, folder: str) -> bytes:
        import_intents(ROWS, tmp_path / folder, per_intent=3, seed=seed)
        return (tmp_path / folder / "intents.csv").read_bytes()

    assert chosen(7, "a") == chosen(7, "b")
    assert len({chosen(seed, f"s{seed}") for seed in range(10)}) > 1


def test_cap_of_one_intent_does_not_depend_on_other_intents(tmp_path: Path) -> None:
    import_intents(ROWS, tmp_path / "all", per_intent=3, seed=5)
    import_intents([r for r in ROWS if r[1] == "refund"], tmp_path / "one", per_intent=3, seed=5)
    refunds = [row for row in _written(tmp_path / "all") if row[1] == "refund"]
    assert refunds == _written(tmp_path / "one")


def test_duplicates_conflicts_and_empty_texts_are_dropped(tmp_path: Path) -> None:
    rows = [("Where  is my\norder", "order"), ("where is my order", "order"), ("Where is my order", "order")]
    rows += [("Where is my order", "complaint"), ("   ", "order"), ("", "human"), ("refund", "refund")]
    summary = import_intents(rows, tmp_path)
    assert _written(tmp_path) == [("Where is my order", "order"), ("where is my order", "order"), ("refund", "refund")]
    assert (summary.duplicates, summary.conflicting, summary.empty) == (1, 1, 2)
    assert summary.read == len(rows) and summary.written == 3


def test_creates_a_minimal_ruleset_that_loads(tmp_path: Path) -> None:
    folder = tmp_path / "My Shop"
    summary = import_intents([*ROWS, ("我要退款", "refund")], folder)
    assert summary.ruleset_created and summary.name == "My-Shop" and summary.language == "en"
    assert (folder / "ruleset.yaml").read_text(encoding="utf-8") == (
        "ruleset: My-Shop\nversion: 1.0.0\nlanguage: en\nintents_csv: intents.csv\n"
    )
    parsed, problems = check_path(folder, collect_registry(build_plugin_manager()))
    assert problems == [] and parsed is not None
    assert sorted(parsed.examples) == sorted(_written(folder))


def test_existing_ruleset_is_left_alone(tmp_path: Path) -> None:
    original = "ruleset: mine\nversion: 2.0.0\nlanguage: zh\nintents_csv: intents.csv\n"
    (tmp_path / "ruleset.yaml").write_text(original, encoding="utf-8")
    (tmp_path / "intents.csv").write_text("text,intent\nold,stale\n", encoding="utf-8")
    summary = import_intents(ROWS, tmp_path, name="ignored")
    assert not summary.ruleset_created and summary.name is None
    assert (tmp_path / "ruleset.yaml").read_text(encoding="utf-8") == original
    assert ("old", "stale") not in _written(tmp_path) and len(_written(tmp_path)) == len(ROWS)


def test_language_and_name_choices(tmp_path: Path) -> None:
    assert guess_language(["我的订单到哪了", "快递怎么还没到 ok"]) == "zh"
    assert guess_language(["where is my order 谢谢"]) == "en"
    import_intents(ROWS, tmp_path / "a", language="zh", name="null")
    assert (tmp_path / "a" / "ruleset.yaml").read_text(encoding="utf-8").startswith("ruleset: 'null'\n")
    assert "language: zh" in (tmp_path / "a" / "ruleset.yaml").read_text(encoding="utf-8")
    import_intents(ROWS, tmp_path / "2024")
    assert "ruleset: ruleset-2024\n" in (tmp_path / "2024" / "ruleset.yaml").read_text(encoding="utf-8")
    with pytest.raises(InputError) as caught:
        import_intents(ROWS, tmp_path / "b", name="bad name!")
    assert caught.value.code == "ruleset_name_invalid"
    with pytest.raises(InputError):
        import_intents(ROWS, tmp_path / "c", per_intent=0)


def test_cli_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"q": t, "y": label}) + "\n" for t, label in ROWS * 2), encoding="utf-8")
    parser = argparse.ArgumentParser()
    ruleset_import.add_parser(parser.add_subparsers())
    argv = ["import-intents", str(data), "--text-col", "q", "--label-col", "y", "--into", str(tmp_path / "rs")]
    args = parser.parse_args([*argv, "--per-intent", "2", "--name", "demo"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert f"read {len(ROWS) * 2} rows" in out
    assert "wrote 5 examples of 3 intents" in out
    assert f"dropped {len(ROWS)} duplicates" in out and "6 over the cap of 2 per intent" in out
    assert "created" in out and "ruleset demo" in out
    args = parser.parse_args(argv)
    assert args.func(args) == 0
    assert "exists: left unchanged" in capsys.readouterr().out
    assert len(_written(tmp_path / "rs")) == len(ROWS)
