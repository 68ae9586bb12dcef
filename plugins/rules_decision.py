"""Decisions from the ruleset's rules (durable-rules through the core's runtime)."""

from __future__ import annotations

from frontdesk.decision import decide as decide_by_rules
from frontdesk.hookspecs import hookimpl
from frontdesk.types import Turn


@hookimpl
def decide(turn: Turn) -> None:
    decide_by_rules(turn)
