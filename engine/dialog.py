"""Dialogue state between turns: slots filled from entities, and `expect`.

When a rule `expect`s a slot, the next message is read as the answer: if it
carries the slot's entity, the slot is filled and the intent of the asking turn
carries over (a bare "123456789012" continues `order_status`). If it does not,
the re-ask counter grows; past the ruleset's `reask_limit` the turn gets
`session.reask_exhausted: true` and the expectation is dropped. Only an intent
the classifier is sure of (`settings.topic_change_threshold`) changes the topic
while a slot is expected.
"""

from __future__ import annotations

from frontdesk.ruleset_model import OUT_OF_SCOPE
from frontdesk.types import Turn


def fill_slots(turn: Turn) -> list[str]:
    """Copy recognised entities into declared slots; returns the slots filled this turn."""
    values = turn.entity_values()
    filled = []
    for name, slot in turn.ruleset.spec.slots.items():
        value = values.get(slot.entity or name)
        if value is not None:
            turn.state.slots[name] = value
            filled.append(name)
    return filled


def track_expectation(turn: Turn, filled: list[str]) -> None:
    state, intent = turn.state, turn.intent
    expecting = state.expecting
    if expecting is None:
        return
    settings = turn.ruleset.spec.settings
    if expecting in filled:
        state.expecting, state.reask_count = None, 0
        sure_of_new_topic = intent.name != OUT_OF_SCOPE and intent.confidence >= settings.topic_change_threshold
        if state.last_intent and not sure_of_new_topic:
            intent.name, intent.source = state.last_intent, "carried"
        return
    changed_topic = intent.name not in (OUT_OF_SCOPE, state.last_intent)
    if changed_topic and intent.confidence >= settings.topic_change_threshold:
        state.expecting, state.reask_count = None, 0
        return
    state.reask_count += 1
    if state.reask_count > settings.reask_limit:
        turn.flags["reask_exhausted"] = True
        state.expecting, state.reask_count = None, 0
    elif state.last_intent:
        # still on the same question: keep the topic so the re-ask rule matches
        intent.name, intent.source = state.last_intent, "carried"
