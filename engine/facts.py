"""The facts of a turn, flattened to the paths rules test (`customer.level`, `slots.order_id`)."""

from __future__ import annotations

from datetime import datetime, time, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from frontdesk.ruleset_model import WEEKDAYS, BusinessHours
from frontdesk.types import Turn


def flatten(prefix: str, value: Any, out: dict[str, Any], depth: int = 0) -> None:
    """Nested mappings become dotted paths; depth is bounded so hostile input stays cheap."""
    if isinstance(value, dict) and depth < 4:
        for key, item in value.items():
            path = f"{prefix}.{key}"
            if isinstance(item, dict):
                flatten(path, item, out, depth + 1)
            else:
                out[path] = item
    else:
        out[prefix] = value


@lru_cache(maxsize=64)
def _clock(timezone: str, opens: str, closes: str) -> tuple[tzinfo, time, time]:
    """Business hours as every turn compares them, parsed once."""
    return (
        ZoneInfo(timezone),
        time.fromisoformat(opens),
        time(23, 59, 59) if closes == "24:00" else time.fromisoformat(closes),
    )


def time_facts(moment: datetime, hours: BusinessHours) -> dict[str, Any]:
    zone, opens, closes = _clock(hours.timezone, hours.open, hours.close)
    local = moment.astimezone(zone)
    day = local.date()
    weekday = WEEKDAYS[day.weekday()]
    holiday = day in hours.holidays
    open_now = weekday in hours.days and not holiday and opens <= local.time() < closes
    return {
        "time.business_hours": open_now,
        "time.holiday": holiday,
        "time.weekday": weekday,
        "time.hour": local.hour,
        "time.date": day.isoformat(),
    }


def build_facts(turn: Turn) -> dict[str, Any]:
    msg, state, spec, flags = turn.message, turn.state, turn.ruleset.spec, turn.flags
    intent, emotion = turn.intent, turn.emotion
    facts: dict[str, Any] = {
        "text": msg.text,
        "intent": intent.name,
        "intent.confidence": intent.confidence,
        "intent.source": intent.source,
        "emotion": emotion.label,
        "emotion.score": emotion.score,
        "emotion.anger": emotion.anger,
        "emotion.urgency": emotion.urgency,
        "channel": msg.channel,
        "language": flags.get("language", spec.language),
        "turn": state.turn,
        "session.status": state.status,
        "session.expecting": state.expecting,
        "session.reask_count": state.reask_count,
        "session.reask_exhausted": bool(flags.get("reask_exhausted")),
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
    for name, value in flags.items():
        facts[f"flags.{name}"] = value
    return facts
