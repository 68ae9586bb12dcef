"""Conflict resolution: from the rules the engine matched to the turn's ordered actions.

Matched rules apply in order of `priority` (higher first; ties in file order).
A rule with a `window` applies only when its `when` has matched `count` times
within the duration (kept in the conversation's rule memory, reset when it
applies). Actions accumulate in that order; a rule with `stop: true` ends the
list, and the rules after it are recorded as suppressed. Which reply wins is
decided when acting: the first `reply`.
"""

from __future__ import annotations

from frontdesk.facts import build_facts
from frontdesk.types import Action, FiredRule, Turn


def _prune_memory(turn: Turn, now: float) -> None:
    memory = turn.state.rule_memory
    for rule_id in list(memory):
        rule = turn.ruleset.rule_defs.get(rule_id)
        if rule is None or rule.window is None:
            del memory[rule_id]  # the rule was removed or lost its window
            continue
        memory[rule_id] = [t for t in memory[rule_id] if t > now - rule.window.seconds]
        if not memory[rule_id]:
            del memory[rule_id]


def decide(turn: Turn) -> None:
    ruleset, state = turn.ruleset, turn.state
    turn.facts = build_facts(turn)
    matched_ids = ruleset.runtime.fire(ruleset.compiled.engine_facts(turn.facts))
    matched = sorted((ruleset.compiled.rules[i] for i in matched_ids), key=lambda r: (-r.priority, r.order))
    now = turn.message.timestamp.timestamp()
    _prune_memory(turn, now)
    stopped_by: str | None = None
    for rule in matched:
        definition = ruleset.rule_defs[rule.id]
        if stopped_by:
            turn.explain.suppressed.append({"rule": rule.id, "reason": f"stopped by {stopped_by}"})
            continue
        if definition.window:
            hits = [*state.rule_memory.get(rule.id, []), now]
            if len(hits) < definition.window.count:
                state.rule_memory[rule.id] = hits
                continue
            state.rule_memory.pop(rule.id, None)
        matched_facts = {path: turn.facts.get(path) for path in rule.paths}
        turn.explain.rules.append(FiredRule(rule.id, rule.priority, matched_facts, definition.stop))
        turn.actions.extend(Action(name, params, rule.id) for name, params in ruleset.actions[rule.id])
        if definition.stop:
            stopped_by = rule.id
