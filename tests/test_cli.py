"""The command line as a user runs it: chat scripted through stdin, ruleset test with diffs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "mini"


def frontdesk(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "frontdesk.cli", *args], input=stdin, capture_output=True, text=True, timeout=180
    )


def test_scripted_chat_prints_one_json_object_per_turn():
    proc = frontdesk("chat", "--ruleset", str(FIXTURE), "--json", stdin="where is my order\n12345678\n")
    assert proc.returncode == 0, proc.stderr
    first, second = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["intent"] == "order_status" and first["rules"] == ["needs-id"]
    assert first["reply"] == "Please tell me your order number."
    assert second["slots"] == {"order_id": "12345678"}
    assert second["reply"] == "Order 12345678 is being processed."
    assert set(first) >= {"reply", "intent", "confidence", "entities", "slots", "emotion", "actions", "handoff"}


def test_scripted_chat_plain_text_and_customer_facts():
    proc = frontdesk("chat", "--ruleset", str(FIXTURE), "--customer", "level=VIP", stdin="this is terrible service\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() in ("We are sorry.", "We apologise.")


def test_scripted_chat_reports_an_overlong_message_and_goes_on():
    proc = frontdesk("chat", "--ruleset", str(FIXTURE), "--json", stdin="x" * 5000 + "\nwhere is my order\n")
    assert proc.returncode == 1
    error, reply = (json.loads(line) for line in proc.stdout.splitlines())
    assert error["error"]["code"] == "message_too_long"
    assert reply["intent"] == "order_status"


def test_ruleset_test_prints_a_diff_and_the_closing_line(tmp_path):
    text = (FIXTURE / "ruleset.yaml").read_text(encoding="utf-8")
    broken = text.replace(
        "expect: {intent: order_status, reply: ask_order_id", "expect: {intent: complaint, reply: ask_order_id"
    )
    (tmp_path / "ruleset.yaml").write_text(broken, encoding="utf-8")
    proc = frontdesk("ruleset", "test", str(tmp_path))
    assert proc.returncode == 1
    assert "FAIL" in proc.stdout and "intent: expected 'complaint', got 'order_status'" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "1 passed, 1 failed"


def test_ruleset_test_passes_the_fixture():
    proc = frontdesk("ruleset", "test", str(FIXTURE))
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "2 passed, 0 failed"


def test_ruleset_check_and_test_take_a_folder_of_rulesets(tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        text = (FIXTURE / "ruleset.yaml").read_text(encoding="utf-8").replace("ruleset: mini", f"ruleset: {name}")
        (tmp_path / name / "ruleset.yaml").write_text(text, encoding="utf-8")
    checked = frontdesk("ruleset", "check", str(tmp_path))
    assert checked.returncode == 0, checked.stdout
    checked_paths = [line.split(":")[0] for line in checked.stdout.splitlines()]
    assert checked_paths == [str(tmp_path / "one"), str(tmp_path / "two")]
    tested = frontdesk("ruleset", "test", str(tmp_path))
    assert tested.returncode == 0, tested.stdout
    assert tested.stdout.strip().splitlines()[-1] == "4 passed, 0 failed"


def test_plugins_lists_hooks():
    proc = frontdesk("plugins", "--json")
    plugins = {p["name"]: p["hooks"] for p in json.loads(proc.stdout)}
    assert plugins["frontdesk.plugins.rules_decision"] == ["decide"]
