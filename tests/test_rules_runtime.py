"""Each durable-rules defect listed in DESIGN.md, and proof that the runtime walls it off."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.conditions import Catalogue, evaluate, parse_when
from frontdesk.rules_compiler import MAX_RULES, CompiledRule, branches, compile_rules
from frontdesk.rules_runtime import SID, TURN_MARKER, RulesRuntime, fact_json

CAT = Catalogue(intents={"complaint", "order_status", "refund"}, slots={"order_id"}, entities={"order_id"})


def build(rules: dict[str, tuple[int, dict]]):
    compiled_rules = []
    for order, (rule_id, (priority, when)) in enumerate(rules.items()):
        node, problems = parse_when(when, ("rules", order, "when"), CAT)
        assert not problems, problems
        compiled_rules.append(CompiledRule(rule_id, priority, order, node))
    compiled = compile_rules(compiled_rules)
    return compiled, RulesRuntime("test", compiled.definition)


def fire(compiled, runtime, facts):
    return sorted(runtime.fire(compiled.engine_facts(facts)))


def test_unhandled_turn_then_delete_does_not_crash_the_process():
    # durable segfaults on an unhandled message to a new sid followed by delete_state;
    # run in a child so a crash fails this test instead of killing the test run
    code = textwrap.dedent(
        """
        from tests.test_rules_runtime import build
        compiled, runtime = build({"only": (0, {"intent": "refund"})})
        for i in range(50):
            assert runtime.fire(compiled.engine_facts({"intent": "complaint"})) == []
        print("alive")
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "alive"


def test_more_than_1024_conversations_do_not_exhaust_sessions():
    compiled, runtime = build({"r": (0, {"intent": "complaint"})})
    for _ in range(3000):
        assert runtime.fire(compiled.engine_facts({"intent": "complaint"})) == ["r"]


def test_text_matching_uses_python_re_not_the_engine_dfa():
    compiled, runtime = build({"cancel": (0, {"text": {"matches": ".*(cancel|terminate).*"}})})
    assert fire(compiled, runtime, {"text": "please cancel it"}) == ["cancel"]
    assert fire(compiled, runtime, {"text": "please keep it"}) == []
    assert "$mt" not in str(compiled.definition)


def test_numeric_comparison_never_coerces_text():
    compiled, runtime = build({"old": (0, {"customer.age": {"gt": 10}})})
    assert fire(compiled, runtime, {"customer.age": "abc"}) == []
    assert fire(compiled, runtime, {"customer.age": True}) == []
    assert fire(compiled, runtime, {"customer.age": 11}) == ["old"]
    assert fire(compiled, runtime, {"customer.age": "11"}) == ["old"]


def test_identical_turns_are_not_deduplicated():
    compiled, runtime = build({"r": (0, {"intent": "complaint"})})
    facts = compiled.engine_facts({"intent": "complaint"})
    assert runtime.fire(facts) == ["r"]
    assert runtime.fire(facts) == ["r"]


def test_missing_does_not_match_the_session_state_and_terminates():
    compiled, runtime = build({"no-id": (0, {"slots.order_id": {"missing": True}})})
    assert fire(compiled, runtime, {}) == ["no-id"]
    assert fire(compiled, runtime, {"slots.order_id": "123"}) == []


def test_many_distinct_values_on_one_field_compile_without_hanging():
    # create_ruleset hangs past 512 alternatives under one node (e.g. 513 distinct values of one
    # field); the compiler moves the widest alternatives to Python to stay under the budget
    values = [f"id-{i}" for i in range(600)]
    rules = {f"c{i}": (0, {"customer.id": values[i * 40 : (i + 1) * 40]}) for i in range(15)}
    rules["last"] = (0, {"customer.id": "id-599", "intent": ["complaint", "refund"]})
    compiled, runtime = build(rules)  # 15 x 40 + 2 + 1 alternatives natively
    assert fire(compiled, runtime, {"customer.id": "id-7"}) == ["c0"]
    assert fire(compiled, runtime, {"customer.id": "id-599", "intent": "refund"}) == ["c14", "last"]
    assert compiled.python_atoms, "the widest rules must have gone to Python"


def test_the_largest_ruleset_the_checker_accepts_compiles():
    rules = {f"r{i}": (0, {"intent": "complaint", "turn": i}) for i in range(MAX_RULES)}
    compiled, runtime = build(rules)
    assert sum(branches(r.node) for r in compiled.rules.values()) == MAX_RULES
    assert fire(compiled, runtime, {"intent": "complaint", "turn": 17}) == ["r17"]


def test_calls_from_many_threads_are_serialised_and_correct():
    compiled, runtime = build({"vip": (0, {"customer.level": "VIP"}), "any": (0, {})})
    errors: list[str] = []

    def worker(level: str) -> None:
        want = ["any", "vip"] if level == "VIP" else ["any"]
        for _ in range(300):
            got = fire(compiled, runtime, {"customer.level": level})
            if got != want:
                errors.append(f"{level}: {got}")

    threads = [threading.Thread(target=worker, args=(lvl,)) for lvl in ["VIP", "normal"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_fact_json_is_the_json_of_the_fact():
    facts = {"p0": 'say "hi"\\ 中\n\x00', "n0": -1_250_000, "a1": 1, "p1": 2.5, "p2": True, "p3": None}
    tail = {"sid": SID, "id": "turn-7", TURN_MARKER[0]: TURN_MARKER[1]}
    assert json.loads(fact_json(facts, 7)) == {**facts, **tail}
    assert json.loads(fact_json({}, 7)) == tail


def test_rule_ids_that_json_escapes_are_reported_as_written():
    compiled, runtime = build({'r"x\\y': (0, {"intent": "complaint"}), "é中": (1, {"intent": "complaint"})})
    assert runtime.fire(compiled.engine_facts({"intent": "complaint"})) == ["é中", 'r"x\\y']


def test_priority_order_is_reported_highest_first():
    compiled, runtime = build({"low": (1, {}), "high": (9, {}), "mid": (5, {})})
    assert runtime.fire(compiled.engine_facts({})) == ["high", "mid", "low"]


CONDITIONS = [
    {"intent": "complaint", "customer.level": {"in": ["VIP", "SVIP"]}},
    {"any": [{"intent": "refund"}, {"emotion.score": {"lt": -0.5}}]},
    {"not": {"channel": "web"}, "slots.order_id": {"present": True}},
    {"intent.confidence": {"gte": 0.5}, "intent": {"not_in": ["refund"]}},
    {"customer.level": {"ne": "VIP"}, "text": {"contains": "now"}},
    {"all": [{"turn": {"gt": 2}}, {"turn": {"lte": 5}}], "slots.order_id": {"missing": True}},
]
VALUES = {
    "intent": st.sampled_from(["complaint", "refund", "order_status", None]),
    "customer.level": st.sampled_from(["VIP", "SVIP", "normal", 3, None, ""]),
    "emotion.score": st.one_of(st.floats(-1, 1), st.none(), st.text(max_size=3)),
    "channel": st.sampled_from(["web", "app", None]),
    "slots.order_id": st.sampled_from(["123", None, ""]),
    "intent.confidence": st.one_of(st.floats(0, 1), st.just("high")),
    "text": st.text(max_size=20),
    "turn": st.integers(0, 8),
}


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries(VALUES))
def test_engine_agrees_with_reference_semantics(facts):
    compiled, runtime = _AGREEMENT
    expected = sorted(f"r{i}" for i, c in enumerate(_NODES) if evaluate(c, facts))
    assert fire(compiled, runtime, facts) == expected


_NODES = [parse_when(c, (), CAT)[0] for c in CONDITIONS]
_AGREEMENT = build({f"r{i}": (0, c) for i, c in enumerate(CONDITIONS)})
