"""Run the conversation tests a ruleset declares (`tests:`), as `frontdesk ruleset test` does.

Each test is a fresh conversation on an in-memory store. Message times start on
a fixed Monday at 10:00 in the ruleset's timezone (inside default business
hours) and advance 5 seconds per turn unless a turn says `at:` or `after:`.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pluggy

from frontdesk.conditions import canon
from frontdesk.pipeline import Engine
from frontdesk.ruleset import Ruleset
from frontdesk.ruleset_model import TestCase, TestExpect, parse_duration
from frontdesk.store import MemoryStore
from frontdesk.types import Message

START = datetime(2026, 1, 5, 10, 0, 0)  # a Monday morning
STEP = timedelta(seconds=5)


@dataclass
class TestOutcome:
    name: str
    location: str
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def _moment(turn_at: datetime | None, after: str | None, previous: datetime | None, tz: zoneinfo.ZoneInfo) -> datetime:
    if turn_at is not None:
        return turn_at if turn_at.tzinfo else turn_at.replace(tzinfo=tz)
    if previous is None:
        return START.replace(tzinfo=tz)
    return previous + (timedelta(seconds=parse_duration(after)) if after else STEP)


def _same(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and _same(v, actual[k]) for k, v in expected.items())
    if expected is None or actual is None:
        return expected is None and actual is None
    return canon(expected) == canon(actual)


def compare(expect: TestExpect, result: dict[str, Any]) -> list[str]:
    """Readable differences between what a turn should do and what it did."""
    diffs: list[str] = []

    def differ(what: str, want: Any, got: Any, context: str = "") -> None:
        diffs.append(f"{what}: expected {want!r}, got {got!r}" + (f" ({context})" if context else ""))

    intent = result["intent"]
    if expect.intent is not None and expect.intent != intent["name"]:
        candidates = ", ".join(f"{c['name']} {c['confidence']:.2f}" for c in result["explain"]["intent"]["candidates"])
        differ(
            "intent", expect.intent, intent["name"], f"confidence {intent['confidence']:.2f}; candidates {candidates}"
        )
    entities: dict[str, Any] = {}
    for entity in result["entities"]:
        entities.setdefault(entity["type"], entity["value"])
    for name, want in (expect.entities or {}).items():
        if not _same(want, entities.get(name)):
            differ(f"entities.{name}", want, entities.get(name))
    for name, want in (expect.slots or {}).items():
        if not _same(want, result["slots"].get(name)):
            differ(f"slots.{name}", want, result["slots"].get(name))
    emotion = result["emotion"]
    for key, want in (("emotion", expect.emotion), ("anger", expect.anger), ("urgency", expect.urgency)):
        got = emotion["label"] if key == "emotion" else emotion[key]
        if want is not None and want != got:
            differ(key, want, got, f"cues {result['explain']['emotion_cues']}")
    reply = result["reply"] or {}
    if expect.reply is not None and expect.reply != reply.get("template"):
        differ("reply", expect.reply, reply.get("template"), f"text {reply.get('text')!r}")
    if expect.text is not None and expect.text != reply.get("text"):
        differ("text", expect.text, reply.get("text"))
    if expect.text_contains is not None and expect.text_contains not in (reply.get("text") or ""):
        differ("text_contains", expect.text_contains, reply.get("text"))
    actions = [a["type"] for a in result["actions"]]
    if expect.actions is not None and expect.actions != actions:
        differ("actions", expect.actions, actions)
    handoff = result["handoff"]
    if isinstance(expect.handoff, bool) and expect.handoff != (handoff is not None):
        differ("handoff", expect.handoff, handoff)
    elif isinstance(expect.handoff, dict) and not _same(expect.handoff, handoff):
        differ("handoff", expect.handoff, handoff)
    fired = [r["id"] for r in result["explain"]["rules"]]
    if expect.rules is not None and expect.rules != fired:
        differ("rules", expect.rules, fired)
    if expect.status is not None and expect.status != result["status"]:
        differ("status", expect.status, result["status"])
    return diffs


async def run_test(ruleset: Ruleset, pm: pluggy.PluginManager, index: int, test: TestCase) -> TestOutcome:
    location = ruleset.test_locations[index] if index < len(ruleset.test_locations) else str(ruleset.path)
    outcome = TestOutcome(test.name, location)
    engine = Engine({ruleset.name: ruleset}, MemoryStore(), pm)
    tz = zoneinfo.ZoneInfo(ruleset.spec.business_hours.timezone)
    moment: datetime | None = None
    for number, turn in enumerate(test.turns, start=1):
        moment = _moment(turn.at, turn.after, moment, tz)
        message = Message(
            turn.say,
            conversation_id=f"test-{index}",
            user_id="tester",
            channel=test.channel,
            timestamp=moment,
            customer=dict(test.customer),
        )
        result = await engine.handle(message)
        if turn.expect is not None:
            for diff in compare(turn.expect, result):
                outcome.failures.append(f"turn {number} {turn.say!r}: {diff}")
    return outcome


async def run_tests(ruleset: Ruleset, pm: pluggy.PluginManager) -> list[TestOutcome]:
    return [await run_test(ruleset, pm, i, test) for i, test in enumerate(ruleset.spec.tests)]
