"""Compile validated rule conditions into durable-rules JSON.

What durable-rules handles well runs in it (equality, membership, numeric
comparison on true numbers, presence); everything it gets wrong runs in Python
and reaches it as a boolean property (`aN: 1`): regular expressions (its `$mt`
DFA gives wrong answers), negations, `contains`, and equality on fields with
more distinct values than `create_ruleset` can take. Property names are short
generated ids, so no fact name can clash with engine internals.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from frontdesk.conditions import NUMERIC_OPS, AllOf, AnyOf, Atom, Node, NotOf, as_number, canon, evaluate, is_missing
from frontdesk.rules_runtime import CATCH_ALL, TURN_MARKER

MAX_IN_VALUES = 32  # longer membership lists are evaluated in Python
MAX_DISTINCT_EQ_VALUES = 200  # durable hangs near 513 distinct values on one field
MAX_PROPERTIES = 240  # durable fails above 254 properties per fact (ids and markers included)
NATIVE_OPS = ("eq", "in", "missing", "present", *NUMERIC_OPS)


@dataclass
class CompiledRule:
    id: str
    priority: int
    order: int  # position in the files, the tie-breaker
    node: Node


@dataclass
class CompiledRules:
    definition: dict[str, Any]
    eq_props: dict[str, str] = field(default_factory=dict)  # fact path -> property
    num_props: dict[str, str] = field(default_factory=dict)
    python_atoms: dict[str, Node] = field(default_factory=dict)  # property -> condition
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
                out[prop] = number
        for prop, node in self.python_atoms.items():
            if evaluate(node, facts):
                out[prop] = 1
        return out


class _Builder:
    def __init__(self, python_paths: set[str]) -> None:
        self.out = CompiledRules(definition={})
        self.python_paths = python_paths

    def prop(self, table: dict[str, str], prefix: str, path: str) -> str:
        if path not in table:
            table[path] = f"{prefix}{len(table)}"
        return table[path]

    def python_atom(self, node: Node) -> dict[str, Any]:
        name = f"a{len(self.out.python_atoms)}"
        self.out.python_atoms[name] = node
        return {name: 1}

    def expr(self, node: Node) -> dict[str, Any]:
        if isinstance(node, NotOf):
            return self.python_atom(node)
        if isinstance(node, AllOf | AnyOf):
            if not node.items:
                return {TURN_MARKER[0]: TURN_MARKER[1]}
            parts = [self.expr(item) for item in node.items]
            if len(parts) == 1:
                return parts[0]
            return {"$and" if isinstance(node, AllOf) else "$or": parts}
        return self.atom(node)

    def atom(self, atom: Atom) -> dict[str, Any]:
        native = atom.op in NATIVE_OPS and not (atom.op == "in" and len(atom.value) > MAX_IN_VALUES)
        if not native or (atom.op in ("eq", "in") and atom.path in self.python_paths):
            return self.python_atom(atom)
        if atom.op in NUMERIC_OPS:
            prop = self.prop(self.out.num_props, "n", atom.path)
            return {f"${atom.op}": {prop: float(atom.value)}}
        prop = self.prop(self.out.eq_props, "p", atom.path)
        if atom.op == "eq":
            return {prop: canon(atom.value)}
        if atom.op == "in":
            options = [{prop: canon(v)} for v in dict.fromkeys(atom.value)]
            return options[0] if len(options) == 1 else {"$or": options}
        wants_missing = (atom.op == "missing") == bool(atom.value)
        return {"$nex" if wants_missing else "$ex": {prop: 1}}


def _distinct_eq_values(rules: list[CompiledRule]) -> Counter[str]:
    values: dict[str, set[str]] = {}

    def walk(node: Node) -> None:
        if isinstance(node, Atom):
            if node.op == "eq":
                values.setdefault(node.path, set()).add(canon(node.value))
            elif node.op == "in" and len(node.value) <= MAX_IN_VALUES:
                values.setdefault(node.path, set()).update(canon(v) for v in node.value)
        elif isinstance(node, NotOf):
            return
        else:
            for item in node.items:
                walk(item)

    for rule in rules:
        walk(rule.node)
    return Counter({path: len(v) for path, v in values.items()})


def compile_rules(rules: list[CompiledRule]) -> CompiledRules:
    """Rules in analyst terms -> durable-rules definition + the Python-side remainder."""
    crowded = {path for path, n in _distinct_eq_values(rules).items() if n > MAX_DISTINCT_EQ_VALUES}
    builder = _Builder(crowded)
    ranks = {p: i + 1 for i, p in enumerate(sorted({r.priority for r in rules}, reverse=True))}
    marker = {TURN_MARKER[0]: TURN_MARKER[1]}
    for rule in rules:
        body = builder.expr(rule.node)
        condition = marker if body == marker else {"$and": [marker, body]}
        builder.out.definition[rule.id] = {"pri": ranks[rule.priority], "all": [{"m": condition}]}
        builder.out.rules[rule.id] = rule
    builder.out.definition[CATCH_ALL] = {"pri": len(ranks) + 1, "all": [{"m": marker}]}
    return builder.out
