"""Rule conditions (`when:`): parsed, validated against the fact catalogue, evaluated.

A `when` mapping is a conjunction. Each key is a fact path (`intent`,
`customer.level`, `slots.order_id`) or a combinator (`all`, `any`, `not`); each
value is a literal (equality), a list (membership) or a mapping of operators.
The compiler hands the simple parts to durable-rules and evaluates the rest
here (regular expressions, negations): see `rules_compiler.py`.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from frontdesk.ruleset_model import OUT_OF_SCOPE, WEEKDAYS

# fact path -> kind; prefixes (ending in ".") accept any declared or free name
FIXED_FACTS: dict[str, str] = {
    "text": "text",
    "intent": "intent",
    "intent.confidence": "number",
    "intent.source": "string",
    "emotion": "emotion",
    "emotion.score": "number",
    "emotion.anger": "bool",
    "emotion.urgency": "bool",
    "channel": "string",
    "language": "string",
    "turn": "number",
    "time.business_hours": "bool",
    "time.holiday": "bool",
    "time.weekday": "weekday",
    "time.hour": "number",
    "time.date": "string",
    "session.status": "status",
    "session.expecting": "slot",
    "session.reask_count": "number",
    "session.reask_exhausted": "bool",
    "session.last_intent": "intent",
}
PREFIX_FACTS = ("entities.", "slots.", "customer.", "crm.", "flags.", "metadata.")
COMBINATORS = ("all", "any", "not")
OPERATORS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "missing",
    "present",
    "matches",
    "not_matches",
    "contains",
)
NUMERIC_OPS = ("gt", "gte", "lt", "lte")
MAX_VALUE_LENGTH = 1000
MAX_NUMBER = 1e12

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Atom:
    path: str
    op: str
    value: Any
    where: tuple[str | int, ...]  # location in the YAML document, for errors


@dataclass(frozen=True)
class AllOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class NotOf:
    item: Node


Node = Atom | AllOf | AnyOf | NotOf


@dataclass
class Catalogue:
    """Names a ruleset declares, for reference checks."""

    intents: set[str]
    slots: set[str]
    entities: set[str]


@dataclass
class ConditionProblem:
    where: tuple[str | int, ...]
    code: str
    message: str
    hint: str = ""


def fact_kind(path: str, cat: Catalogue) -> tuple[str | None, str]:
    """Kind of a fact path, or (None, hint) when the path is unknown."""
    if path in FIXED_FACTS:
        return FIXED_FACTS[path], ""
    for prefix in PREFIX_FACTS:
        if path.startswith(prefix) and len(path) > len(prefix):
            name = path[len(prefix) :].split(".")[0]  # entities.amount.currency reads entity `amount`
            if prefix == "slots." and name not in cat.slots:
                return None, _suggest(name, cat.slots, "declare it under `slots:`")
            if prefix == "entities." and name not in cat.entities:
                return None, _suggest(name, cat.entities, "declare it under `entities:`")
            return "any", ""
    known = [*FIXED_FACTS, *(p + "NAME" for p in PREFIX_FACTS)]
    return None, _suggest(path, known, "see the fact list in rulesets/README.md")


def _suggest(name: str, choices: Any, fallback: str) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"did you mean `{close[0]}`?" if close else fallback


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and (
        not isinstance(value, str) or len(value) <= MAX_VALUE_LENGTH
    )


def parse_when(
    when: dict[str, Any], where: tuple[str | int, ...], cat: Catalogue
) -> tuple[Node, list[ConditionProblem]]:
    problems: list[ConditionProblem] = []
    node = _parse_mapping(when, where, cat, problems)
    return node, problems


def _parse_mapping(when: Any, where: tuple[str | int, ...], cat: Catalogue, problems: list[ConditionProblem]) -> Node:
    if not isinstance(when, dict):
        problems.append(
            ConditionProblem(where, "wrong-type", "a condition must be a mapping", "write `fact: value` pairs")
        )
        return AllOf(())
    items: list[Node] = []
    for key, spec in when.items():
        here = (*where, key)
        if key in ("all", "any"):
            if not isinstance(spec, list) or not spec:
                problems.append(ConditionProblem(here, "wrong-type", f"`{key}` takes a non-empty list of conditions"))
                continue
            subs = tuple(_parse_mapping(s, (*here, i), cat, problems) for i, s in enumerate(spec))
            items.append(AllOf(subs) if key == "all" else AnyOf(subs))
        elif key == "not":
            items.append(NotOf(_parse_mapping(spec, here, cat, problems)))
        else:
            items.extend(_parse_fact(key, spec, here, cat, problems))
    return items[0] if len(items) == 1 else AllOf(tuple(items))


def _parse_fact(
    path: str,
    spec: Any,
    where: tuple[str | int, ...],
    cat: Catalogue,
    problems: list[ConditionProblem],
) -> list[Atom]:
    kind, hint = fact_kind(path, cat)
    if kind is None:
        problems.append(ConditionProblem(where, "unknown-fact", f"unknown fact `{path}`", hint))
        return []
    if isinstance(spec, dict):
        ops = spec
    elif isinstance(spec, list):
        ops = {"in": spec}
    else:
        ops = {"eq": spec}
    atoms = []
    for op, value in ops.items():
        here = (*where, op) if isinstance(spec, dict) else where
        if op not in OPERATORS:
            problems.append(
                ConditionProblem(
                    here,
                    "unknown-operator",
                    f"unknown operator `{op}`",
                    _suggest(str(op), OPERATORS, "see rulesets/README.md"),
                )
            )
            continue
        error = _check_value(path, kind, op, value, cat)
        if error:
            problems.append(ConditionProblem(here, *error))
            continue
        if op in ("matches", "not_matches"):
            value = re.compile(value)
        atoms.append(Atom(path, op, value, here))
    return atoms


def _check_value(path: str, kind: str, op: str, value: Any, cat: Catalogue) -> tuple[str, ...] | None:
    if op in ("missing", "present"):
        return None if isinstance(value, bool) else ("wrong-type", f"`{op}` takes true or false")
    if op in NUMERIC_OPS:
        if isinstance(value, bool) or not isinstance(value, int | float) or as_number(value) != value:
            return ("wrong-type", f"`{op}` compares numbers; {value!r} is not a number of at most 6 decimals")
        if kind not in ("number", "any"):
            return ("wrong-type", f"`{path}` is not a number, so `{op}` cannot apply to it")
        return None
    if op in ("matches", "not_matches"):
        if not isinstance(value, str):
            return ("wrong-type", f"`{op}` takes a regular expression string")
        try:
            re.compile(value)
        except re.error as exc:
            return (
                "bad-regex",
                f"invalid regular expression: {exc}",
                "this is Python `re` syntax; escape special characters with \\",
            )
        return None
    if op == "contains":
        return None if _is_scalar(value) else ("wrong-type", "`contains` takes a text or value")
    values = value if op in ("in", "not_in") else [value]
    if op in ("in", "not_in") and (not isinstance(value, list) or not value):
        return ("wrong-type", f"`{op}` takes a non-empty list")
    for item in values:
        if not _is_scalar(item):
            return (
                "wrong-type",
                f"{item!r} is not a single value (text, number or true/false)",
                f"values are at most {MAX_VALUE_LENGTH} characters",
            )
        error = _check_reference(path, kind, item, cat)
        if error:
            return error
    return None


def _check_reference(path: str, kind: str, item: Any, cat: Catalogue) -> tuple[str, ...] | None:
    if kind == "intent" and item != OUT_OF_SCOPE and item not in cat.intents:
        return (
            "unknown-intent",
            f"unknown intent `{item}`",
            _suggest(str(item), cat.intents, "declare it under `intents:`"),
        )
    if kind == "slot" and item not in cat.slots:
        return (
            "unknown-slot",
            f"unknown slot `{item}`",
            _suggest(str(item), cat.slots, "declare it under `slots:`"),
        )
    if kind == "emotion" and item not in ("negative", "neutral", "positive"):
        return ("bad-value", f"emotion is negative, neutral or positive, not {item!r}", "")
    if kind == "weekday" and item not in WEEKDAYS:
        return ("bad-value", f"weekday is one of {', '.join(WEEKDAYS)}, not {item!r}", "")
    if kind == "status" and item not in ("bot", "handed_off", "closed"):
        return ("bad-value", f"status is bot, handed_off or closed, not {item!r}", "")
    if kind == "bool" and not isinstance(item, bool):
        return ("wrong-type", f"`{path}` is true or false, not {item!r}", "")
    return None


# ---- evaluation in Python (regular expressions, negations, and the reference semantics)


def canon(value: Any) -> str:
    """Canonical text of a scalar for equality: 3 == 3.0 == "3"; true == "true"."""
    if type(value) is str:  # most facts: the cheap answer first
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_number(value: Any) -> float | None:
    """Numbers and numeric text compare as numbers, to 6 decimals and within ±1e12 (the engine
    sees integer millionths, which its JSON parser reads exactly); inf, nan, "abc", true never do."""
    if type(value) is int:  # exact and in range without the float round trip below
        return float(value) if -MAX_NUMBER <= value <= MAX_NUMBER else None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return round(number, 6) if math.isfinite(number) and abs(number) <= MAX_NUMBER else None


_SIZED = frozenset({str, list, dict})
_SCALARS = frozenset({int, float, bool})


def is_missing(value: Any) -> bool:
    kind = type(value)
    if kind in _SIZED:  # the usual fact types first: empty is falsy
        return not value
    if kind in _SCALARS:
        return False
    return value is None or value == "" or value == [] or value == {}


def eval_atom(atom: Atom, facts: dict[str, Any]) -> bool:
    value = facts.get(atom.path)
    op = atom.op
    if op == "missing":
        return is_missing(value) == atom.value
    if op == "present":
        return is_missing(value) != atom.value
    if is_missing(value):
        return op in ("ne", "not_in", "not_matches")
    if op == "eq":
        return canon(value) == canon(atom.value)
    if op == "ne":
        return canon(value) != canon(atom.value)
    if op == "in":
        return canon(value) in {canon(v) for v in atom.value}
    if op == "not_in":
        return canon(value) not in {canon(v) for v in atom.value}
    if op in NUMERIC_OPS:
        number = as_number(value)
        if number is None:
            return False
        return {
            "gt": number > atom.value,
            "gte": number >= atom.value,
            "lt": number < atom.value,
            "lte": number <= atom.value,
        }[op]
    if op == "matches":
        return atom.value.search(str(value)) is not None
    if op == "not_matches":
        return atom.value.search(str(value)) is None
    if op == "contains":
        if isinstance(value, list | tuple | set):
            return canon(atom.value) in {canon(v) for v in value}
        return canon(atom.value) in str(value)
    raise AssertionError(op)


def evaluate(node: Node, facts: dict[str, Any]) -> bool:
    if isinstance(node, Atom):
        return eval_atom(node, facts)
    if isinstance(node, AllOf):
        return all(evaluate(item, facts) for item in node.items)
    if isinstance(node, AnyOf):
        return any(evaluate(item, facts) for item in node.items)
    return not evaluate(node.item, facts)


Predicate = Callable[[dict[str, Any]], bool]


def compile_predicate(node: Node) -> Predicate:
    """The same semantics as `evaluate`, specialised once per condition: conditions the engine
    cannot take run every turn, so the per-turn work is one closure call, not a tree walk, and
    what depends only on the condition (canonical values, compiled patterns) is computed here."""
    if isinstance(node, NotOf):
        inner = compile_predicate(node.item)
        return lambda facts: not inner(facts)
    if isinstance(node, AllOf | AnyOf):
        parts = tuple(compile_predicate(item) for item in node.items)
        if isinstance(node, AllOf):
            return lambda facts: all(p(facts) for p in parts)
        return lambda facts: any(p(facts) for p in parts)
    path, op, value = node.path, node.op, node.value
    if op in ("missing", "present"):
        wanted = value if op == "missing" else not value
        return lambda facts: is_missing(facts.get(path)) == wanted
    if op == "matches":
        search = value.search

        def matches(facts: dict[str, Any]) -> bool:
            fact = facts.get(path)
            if type(fact) is str:  # the usual case (`text`), without the generic checks
                return fact != "" and search(fact) is not None
            return not is_missing(fact) and search(str(fact)) is not None

        return matches
    if op == "not_matches":
        search = value.search

        def not_matches(facts: dict[str, Any]) -> bool:
            fact = facts.get(path)
            if type(fact) is str:
                return fact == "" or search(fact) is None
            return is_missing(fact) or search(str(fact)) is None

        return not_matches
    when_missing = op in ("ne", "not_in")
    test = _value_test(op, value)

    def check(facts: dict[str, Any]) -> bool:
        fact = facts.get(path)
        return when_missing if is_missing(fact) else test(fact)

    return check


_COMPARE: dict[str, Callable[[float, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def _value_test(op: str, value: Any) -> Callable[[Any], bool]:
    """`eval_atom` for a fact that is present, with the condition's side precomputed."""
    if op in ("eq", "ne"):
        target, equal = canon(value), op == "eq"
        return lambda fact: (canon(fact) == target) == equal
    if op in ("in", "not_in"):
        targets, inside = frozenset(map(canon, value)), op == "in"
        return lambda fact: (canon(fact) in targets) == inside
    if op in NUMERIC_OPS:
        compare = _COMPARE[op]

        def numeric(fact: Any) -> bool:
            number = as_number(fact)
            return number is not None and compare(number, value)

        return numeric
    if op == "contains":
        target = canon(value)

        def contains(fact: Any) -> bool:
            if isinstance(fact, list | tuple | set):
                return target in {canon(v) for v in fact}
            return target in str(fact)

        return contains
    raise AssertionError(op)


def fact_paths(node: Node) -> list[str]:
    """Every fact path a condition reads, in order of first appearance."""
    if isinstance(node, Atom):
        return [node.path]
    items = (node.item,) if isinstance(node, NotOf) else node.items
    seen: dict[str, None] = {}
    for item in items:
        for path in fact_paths(item):
            seen.setdefault(path, None)
    return list(seen)
