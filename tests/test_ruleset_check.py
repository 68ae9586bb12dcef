"""Validation: every problem in one run, each at `file:line:col` with a code and a hint."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from frontdesk.errors import RulesetError
from frontdesk.ruleset import default_registry, load_ruleset
from frontdesk.ruleset_check import check_path

FIXTURE = Path(__file__).parent / "fixtures" / "mini"

BASE = """\
ruleset: t
intents:
  order_status: {examples: [where is my order, track my parcel]}
  refund: {examples: [i want my money back, refund please]}
slots:
  order_id: {entity: order_number}
replies:
  ask: Please give me your order number.
"""


def problems_of(tmp_path: Path, text: str, extra: dict[str, str] | None = None) -> list:
    (tmp_path / "ruleset.yaml").write_text(text, encoding="utf-8")
    for name, body in (extra or {}).items():
        (tmp_path / name).write_text(body, encoding="utf-8")
    parsed, problems = check_path(tmp_path, default_registry())
    assert (parsed is None) == bool(problems)
    return problems


def codes(problems) -> list[tuple[int, str]]:
    return [(p.line, p.code) for p in problems]


def test_the_fixture_is_valid():
    parsed, problems = check_path(FIXTURE, default_registry())
    assert problems == []
    assert parsed is not None and parsed.spec.ruleset == "mini"


def test_yaml_syntax_error_is_located(tmp_path):
    problems = problems_of(tmp_path, BASE + "rules:\n  - id: x\n    when: {intent: [refund\n")
    assert problems[0].code == "yaml-syntax"
    assert problems[0].file.endswith("ruleset.yaml")
    assert problems[0].line >= 11


def test_unknown_key_suggests_the_right_one(tmp_path):
    text = BASE + "rules:\n  - id: x\n    wehn: {intent: refund}\n    then: [ask]\n"
    [problem] = problems_of(tmp_path, text)
    assert (problem.line, problem.col, problem.code) == (11, 5, "unknown-key")
    assert "`when`" in problem.hint


def test_a_misspelt_key_does_not_hide_the_errors_of_meaning(tmp_path):
    text = BASE + (
        "rules:\n"
        "  - id: x\n"  # 10
        "    when: {intent: refnd}\n"  # 11 unknown intent
        "    then: [ask]\n"  # 12
        "    priorty: 3\n"  # 13 unknown key: reported, then left out
    )
    problems = problems_of(tmp_path, text)
    assert codes(problems) == [(13, "unknown-key"), (11, "unknown-intent")]
    assert "`priority`" in problems[0].hint


def test_a_misspelt_key_alone_still_fails_the_check(tmp_path):
    text = BASE + "rules:\n  - id: x\n    when: {intent: refund}\n    then: [ask]\n    priorty: 3\n"
    assert codes(problems_of(tmp_path, text)) == [(13, "unknown-key")]


def test_every_reference_error_in_one_run(tmp_path):
    text = BASE + (
        "rules:\n"
        "  - id: a\n"  # 10
        "    when: {intent: refnd}\n"  # 11 unknown intent
        "    then: [{reply: nope}]\n"  # 12 unknown reply
        "  - id: a\n"  # 13 duplicate id
        "    when: {slots.order: {present: true}}\n"  # 14 unknown slot
        "    then: [{escalate: now}]\n"  # 15 unknown action
        "  - id: c\n"  # 16
        "    when: {text: {matches: '(unclosed'}}\n"  # 17 bad regex
        "    then: [{expect: order}]\n"  # 18 unknown slot in action
        "  - id: d\n"  # 19
        "    when: {intent.confidence: {gt: high}, emotion: furious}\n"  # 20 wrong type + bad value
        "    then: [ask]\n"
    )
    found = codes(problems_of(tmp_path, text))
    for expected in [
        (11, "unknown-intent"),
        (12, "unknown-reply"),
        (13, "duplicate-id"),
        (14, "unknown-fact"),
        (15, "unknown-action"),
        (17, "bad-regex"),
        (18, "unknown-slot"),
        (20, "wrong-type"),
        (20, "bad-value"),
    ]:
        assert expected in found, (expected, found)


def test_template_variables_must_resolve(tmp_path):
    text = BASE.replace("Please give me your order number.", "Order {slots.order_idd} is {status}.")
    found = problems_of(tmp_path, text)
    assert [p.code for p in found] == ["template-variable", "template-variable"]
    assert found[0].line == 8


def test_wrong_types_are_reported_in_analyst_terms(tmp_path):
    text = BASE + "settings: {intent_threshold: 2}\nrules:\n  - id: x\n    when: {}\n    then: ask\n"
    found = problems_of(tmp_path, text)
    assert {(p.line, p.code) for p in found} == {(9, "bad-value"), (13, "wrong-type")}


def test_merged_files_report_duplicates_across_files(tmp_path):
    other = "intents:\n  refund: {examples: [money back]}\n"
    found = problems_of(tmp_path, BASE, {"more.yaml": other})
    assert [(p.file.endswith("more.yaml"), p.line, p.code) for p in found] == [(True, 2, "duplicate-id")]
    assert found[0].message == "intent `refund` is declared twice"


def test_window_and_durations_are_checked(tmp_path):
    text = BASE + "rules:\n  - id: x\n    when: {}\n    window: {count: 3, within: ten minutes}\n    then: [ask]\n"
    [problem] = problems_of(tmp_path, text)
    assert (problem.line, problem.code) == (12, "bad-value")
    assert "10m" in problem.message


def test_csv_intents_with_a_bad_header(tmp_path):
    found = problems_of(tmp_path, "ruleset: t\nintents_csv: data.csv\n", {"data.csv": "msg,label\nhi,greet\n"})
    assert found[0].code == "csv-columns"
    assert found[0].file.endswith("data.csv") and found[0].line == 1


def test_invalid_ruleset_is_never_loaded(tmp_path):
    (tmp_path / "ruleset.yaml").write_text(BASE + "rules: [{id: x, when: {intent: nope}, then: [ask]}]\n")
    with pytest.raises(RulesetError) as info:
        load_ruleset(tmp_path)
    assert info.value.problems[0].code == "unknown-intent"


def test_check_command_prints_every_problem_and_exits_1(tmp_path):
    (tmp_path / "ruleset.yaml").write_text(
        BASE + "rules:\n  - id: x\n    when: {intent: nope}\n    then: [{reply: missing}]\n", encoding="utf-8"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "frontdesk.cli", "ruleset", "check", str(tmp_path), str(FIXTURE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(":11:" in line and "unknown-intent" in line and " — " in line for line in lines)
    assert any(":12:" in line and "unknown-reply" in line for line in lines)
    assert any("mini" in line and "ok" in line for line in lines)
