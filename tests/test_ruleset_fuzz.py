"""Property: any YAML text in a ruleset folder gives a ruleset or located problems, never
another exception. Texts come three ways: arbitrary text, random YAML documents built
from the ruleset vocabulary, and the valid mini fixture with parts replaced at random
(which reaches the checker's later passes: conditions, templates, patterns, actions)."""

from __future__ import annotations

import copy
import io
import re
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from frontdesk.errors import RulesetError
from frontdesk.ruleset import default_registry
from frontdesk.ruleset_check import check_path

MINI = Path(__file__).resolve().parent / "fixtures" / "mini" / "ruleset.yaml"
MINI_TEXT = MINI.read_text(encoding="utf-8")
MINI_DATA = YAML(typ="safe").load(MINI_TEXT)
REGISTRY = default_registry()
VOCABULARY = [
    *("ruleset", "version", "language", "settings", "intents", "examples", "entities", "pattern", "values"),
    *("slots", "replies", "rules", "id", "priority", "stop", "when", "then", "window", "count", "within"),
    *("tests", "name", "turns", "say", "expect", "customer", "reply", "handoff", "queue", "tag", "ticket"),
    *("intent", "emotion", "customer.level", "slots.order_id", "in", "missing", "present", "matches", "gt"),
    *("privacy", "llm", "prompts", "answer", "prompt", "business_hours", "timezone", "open", "close"),
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.sampled_from(["en", "zh", "1.0.0", "needs-id", "order_status", r"\d{8}", "(", "[a-", "{slots.x}", "10m"]),
    st.sampled_from(["VIP", "{customer.name|you}", ".*(a|b).*", "09:00", "mon", "Europe/London", "{", "}}"]),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=10)), children, max_size=5),
    ),
    max_leaves=40,
)
PROBLEM_CODE = re.compile(r"[a-z][a-z0-9_-]*")


def dump(data: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe").dump(data, out)
    return out.getvalue()


@st.composite
def mutated_mini(draw: st.DrawFn) -> str:
    """The mini ruleset with one to three nodes replaced by random documents or removed."""
    data = copy.deepcopy(MINI_DATA)
    for _ in range(draw(st.integers(1, 3))):
        parent, key = None, None
        node = data
        while isinstance(node, dict | list) and node and (parent is None or draw(st.booleans())):
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            parent, key = node, draw(st.sampled_from(keys))
            node = node[key]
        if parent is None:
            continue
        if isinstance(parent, dict) and draw(st.booleans()):
            del parent[key]
        else:
            parent[key] = draw(DOCUMENTS)
    return dump(data)


@st.composite
def edited_text(draw: st.DrawFn) -> str:
    """The mini ruleset's text with a slice replaced by arbitrary characters."""
    start = draw(st.integers(0, len(MINI_TEXT)))
    end = draw(st.integers(start, min(len(MINI_TEXT), start + 40)))
    return MINI_TEXT[:start] + draw(st.text(max_size=12)) + MINI_TEXT[end:]


YAML_TEXTS = st.one_of(st.text(max_size=300), DOCUMENTS.map(dump), mutated_mini(), edited_text())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=YAML_TEXTS)
def test_any_yaml_gives_a_ruleset_or_located_problems(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ruleset.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        parsed, problems = check_path(Path(folder), REGISTRY)
    lines = text.count("\n") + 2
    assert (parsed is None) == bool(problems)
    for problem in problems:
        assert problem.file in (folder, str(path)), problem  # the file, or the folder when nothing names a ruleset
        assert 1 <= problem.line <= lines and problem.col >= 1, problem
        assert PROBLEM_CODE.fullmatch(problem.code) and problem.message, problem
    if problems:
        assert str(RulesetError(problems)).startswith("ruleset_invalid ")


def test_the_strategies_reach_valid_and_deeply_invalid_rulesets() -> None:
    """The property above is only as good as its inputs: they must reach the meaning pass."""
    _, unchanged = check_path(MINI.parent, REGISTRY)
    assert unchanged == []
    with tempfile.TemporaryDirectory() as folder:
        data = copy.deepcopy(MINI_DATA)
        data["rules"][0]["when"] = {"intent": "no_such_intent"}
        (Path(folder) / "ruleset.yaml").write_text(dump(data), encoding="utf-8")
        _, problems = check_path(Path(folder), REGISTRY)
    assert [p.code for p in problems] == ["unknown-intent"] and problems[0].line > 1
