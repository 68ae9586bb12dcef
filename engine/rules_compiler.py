"""Compile validated rule conditions into durable-rules JSON.

What durable-rules handles well runs in it (equality, membership, numeric
comparison on true numbers, presence); everything it gets wrong runs in Python
and reaches it as a boolean property (`aN: 1`): regular expressions (its `$mt`
DFA gives wrong answers), negations, `contains`. Property names are short
generated ids, so no fact name can clash with engine internals.

durable-rules hangs in `create_ruleset` once one node has more than 512
children; every rule hangs off the turn marker, and each alternative of an
`$or` counts as a child. So the compiler counts alternatives across the whole
ruleset and, past a budget, evaluates the widest `any`/`in` conditions in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

from frontdesk.conditions import (
    NUMERIC_OPS,
    AllOf,
    AnyOf,
    Atom,
    Node,
    NotOf,
    Predicate,
    as_number,
    canon,
    compile_predicate,
    fact_paths,
    is_missing,
)
from frontdesk.rules_runtime import CATCH_ALL, TURN_MARKER

MAX_BRANCHES = 480  # alternatives under the turn marker, catch-all included (durable hangs past 512)
MAX_RULES = MAX_BRANCHES - 1
MAX_PROPERTIES = 240  # durable fails above 254 properties per fact (ids and markers included)
NATIVE_OPS = ("eq", "in", "missing", "present", *NUMERIC_OPS)


@dataclass
class CompiledRule:
    id: str
    priority: int
    order: int  # position in the files, the tie-breaker
    node: Node
    paths: tuple[str, ...] = ()  # the facts its condition reads, for `explain`

    def __post_init__(self) -> None:
        self.paths = tuple(fact_paths(self.node))


@dataclass
class CompiledRules:
    definition: dict[str, Any]
    eq_props: dict[str, str] = field(default_factory=dict)  # fact path -> property
    num_props: dict[str, str] = field(default_factory=dict)
    python_atoms: dict[str, Node] = field(default_factory=dict)  # property -> condition
    predicates: list[tuple[str, Predicate]] = field(default_factory=list)  # the same, compiled
    rules: dict[str, CompiledRule] = field(default_factory=dict)

    @property
    def property_count(self) -> int:
        return len(self.eq_props) + len(self.num_props) + len(self.python_atoms) + 3

    def engine_facts(self, facts: dict[str, Any]) -> dict[str, Any]:
        """The flat, typed fact the engine sees for one turn (strings, floats and 1s only)."""
        out: dict[str, Any] = {}
        for path, prop in self.eq_props.items():
            value = facts.get(path)
            if not is_missing(value):
                out[prop] = canon(value)[:1000]
        for path, prop in self.num_props.items():
            number = as_number(facts.get(path))
            if number is not None:
                out[prop] = micro(number)
        for prop, predicate in self.predicates:
            if predicate(facts):
                out[prop] = 1
        return out


def micro(number: float) -> int:
    """Numbers reach the engine as integer millionths: its JSON parser misreads exponents (1e-06)."""
    return round(number * 1_000_000)


def branches(node: Node) -> int:
    """How many alternatives durable-rules would build for a condition evaluated natively."""
    if isinstance(node, Atom):
        return len(set(map(canon, node.value))) if node.op == "in" else 1
    if isinstance(node, NotOf):
        return 1
    counts = [branches(item) for item in node.items] or [1]
    return prod(counts) if isinstance(node, AllOf) else sum(counts)


class _Builder:
    def __init__(self) -> None:
        self.out = CompiledRules(definition={})

    def prop(self, table: dict[str, str], prefix: str, path: str) -> str:
        if path not in table:
            table[path] = f"{prefix}{len(table)}"
        return table[path]

    def python_atom(self, node: Node) -> dict[str, Any]:
        name = f"a{len(self.out.python_atoms)}"
        self.out.python_atoms[name] = node
        self.out.predicates.append((name, compile_predicate(node)))
        return {name: 1}

    def expr(self, node: Node, flat: bool) -> dict[str, Any]:
        """`flat` evaluates alternatives in Python, so the rule costs one branch."""
        if isinstance(node, NotOf) or (flat and isinstance(node, AnyOf)):
            return self.python_atom(node)
        if isinstance(node, AllOf | AnyOf):
            if not node.items:
                return {TURN_MARKER[0]: TURN_MARKER[1]}
            parts = [self.expr(item, flat) for item in node.items]
            if len(parts) == 1:
                return parts[0]
            return {"$and" if isinstance(node, AllOf) else "$or": parts}
        return self.atom(node, flat)

    def atom(self, atom: Atom, flat: bool) -> dict[str, Any]:
        if atom.op not in NATIVE_OPS or (flat and atom.op == "in" and len(atom.value) > 1):
            return self.python_atom(atom)
        if atom.op in NUMERIC_OPS:
            prop = self.prop(self.out.num_props, "n", atom.path)
            return {f"${atom.op}": {prop: micro(atom.value)}}
        prop = self.prop(self.out.eq_props, "p", atom.path)
        if atom.op in ("eq", "in"):
            values = dict.fromkeys(canon(v) for v in (atom.value if atom.op == "in" else [atom.value]))
            options = [{prop: v} for v in values]
            return options[0] if len(options) == 1 else {"$or": options}
        wants_missing = (atom.op == "missing") == bool(atom.value)
        return {"$nex" if wants_missing else "$ex": {prop: 1}}


def _flat_rules(rules: list[CompiledRule]) -> set[str]:
    """Rules whose alternatives go to Python: the widest first, until the ruleset fits the budget."""
    cost = {rule.id: branches(rule.node) for rule in rules}
    total = sum(cost.values()) + 1
    flat: set[str] = set()
    for rule_id in sorted(cost, key=cost.__getitem__, reverse=True):
        if total <= MAX_BRANCHES or cost[rule_id] == 1:
            break
        flat.add(rule_id)
        total -= cost[rule_id] - 1
    return flat


def compile_rules(rules: list[CompiledRule]) -> CompiledRules:
    """Rules in analyst terms -> durable-rules definition + the Python-side remainder.

    The caller guarantees at most MAX_RULES rules (the checker reports more as an error)."""
    builder = _Builder()
    flat = _flat_rules(rules)
    ranks = {p: i + 1 for i, p in enumerate(sorted({r.priority for r in rules}, reverse=True))}
    marker = {TURN_MARKER[0]: TURN_MARKER[1]}
    for rule in rules:
        body = builder.expr(rule.node, rule.id in flat)
        condition = marker if body == marker else {"$and": [body, marker]}
        builder.out.definition[rule.id] = {"pri": ranks[rule.priority], "all": [{"m": condition}]}
        builder.out.rules[rule.id] = rule
    builder.out.definition[CATCH_ALL] = {"pri": len(ranks) + 1, "all": [{"m": marker}]}
    return builder.out
