"""The facts of a turn, flattened to the paths rules test (`customer.level`, `slots.order_id`)."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time
from typing import Any

from frontdesk.ruleset_model import WEEKDAYS, BusinessHours
from frontdesk.types import Turn


def flatten(prefix: str, value: Any, out: dict[str, Any], depth: int = 0) -> None:
    """Nested mappings become dotted paths; depth is bounded so hostile input stays cheap."""
    if isinstance(value, dict) and depth < 4:
        for key, item in value.items():
            flatten(f"{prefix}.{key}", item, out, depth + 1)
    else:
        out[prefix] = value


def time_facts(moment: datetime, hours: BusinessHours) -> dict[str, Any]:
    local = moment.astimezone(zoneinfo.ZoneInfo(hours.timezone))
    weekday = WEEKDAYS[local.weekday()]
    holiday = local.date() in hours.holidays
    opens = time.fromisoformat(hours.open)
    closes = time(23, 59, 59) if hours.close == "24:00" else time.fromisoformat(hours.close)
    open_now = weekday in hours.days and not holiday and opens <= local.time().replace(tzinfo=None) < closes
    return {
        "time.business_hours": open_now,
        "time.holiday": holiday,
        "time.weekday": weekday,
        "time.hour": local.hour,
        "time.date": local.date().isoformat(),
    }


def build_facts(turn: Turn) -> dict[str, Any]:
    msg, state, spec = turn.message, turn.state, turn.ruleset.spec
    facts: dict[str, Any] = {
        "text": msg.text,
        "intent": turn.intent.name,
        "intent.confidence": turn.intent.confidence,
        "intent.source": turn.intent.source,
        "emotion": turn.emotion.label,
        "emotion.score": turn.emotion.score,
        "emotion.anger": turn.emotion.anger,
        "emotion.urgency": turn.emotion.urgency,
        "channel": msg.channel,
        "language": turn.flags.get("language", spec.language),
        "turn": state.turn,
        "session.status": state.status,
        "session.expecting": state.expecting,
        "session.reask_count": state.reask_count,
        "session.reask_exhausted": bool(turn.flags.get("reask_exhausted")),
        "session.last_intent": state.last_intent,
    }
    facts.update(time_facts(msg.timestamp, spec.business_hours))
    for name, value in turn.entity_values().items():
        facts[f"entities.{name}"] = value
        if isinstance(value, dict):  # e.g. amount -> entities.amount.currency
            flatten(f"entities.{name}", value, facts)
            facts[f"entities.{name}"] = value
    for name, value in state.slots.items():
        facts[f"slots.{name}"] = value
    flatten("customer", msg.customer, facts)
    flatten("metadata", msg.metadata, facts)
    for name, value in turn.flags.items():
        facts[f"flags.{name}"] = value
    return facts
