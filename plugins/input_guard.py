"""Prompt-injection guard on input: its verdict is a fact for rules, never a decision.

Rules read `flags.injection` (true/false), `flags.injection_score` (0..1) and
`flags.injection_categories`; the threshold is the ruleset's
`privacy.injection_threshold`.
"""

from __future__ import annotations

from frontdesk.hookspecs import hookimpl
from frontdesk.plugins.injection_guard import scan
from frontdesk.types import Turn


@hookimpl
def guard_input(turn: Turn) -> None:
    verdict = scan(turn.message.text, turn.ruleset.spec.privacy.injection_threshold)
    turn.flags["injection"] = verdict.flagged
    turn.flags["injection_score"] = round(verdict.score, 3)
    turn.flags["injection_categories"] = list(verdict.categories)
