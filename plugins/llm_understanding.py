"""LLM understanding: refines the offline result when it is unsure, or when the ruleset asks.

Cascade: the offline classifier (run first) answers alone when its confidence
reaches `llm.understand_below`; below it, or when `llm.understand_when` holds,
the model is asked for `{intent, confidence, entities, emotion}` as JSON. An
answer that breaks the schema is repaired once (a second call showing the
error); when that fails too, no vendor answers, or the degradation policy
holds vendor calls back, the offline result stands.
The model proposes facts, never decisions: an entity is kept only when its
recognizer confirms a value written in the message. The model sees the masked
text and masked history only. `explain.notes` says which path was taken and why.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from frontdesk.conditions import Catalogue, Node, evaluate, parse_when
from frontdesk.dialog import fill_slots
from frontdesk.errors import VendorError
from frontdesk.facts import build_facts
from frontdesk.hookspecs import hookimpl
from frontdesk.llm_service import LLMService
from frontdesk.masking import unmask
from frontdesk.prompts import entity_types, intent_names, repair_request, understanding_request
from frontdesk.ruleset import Ruleset
from frontdesk.ruleset_model import OUT_OF_SCOPE
from frontdesk.types import Entity, IntentResult, Turn


class Understanding(BaseModel):
    """The JSON the model must answer with."""

    model_config = ConfigDict(extra="ignore")
    intent: str
    confidence: float = Field(ge=0.0, le=1.0)
    entities: dict[str, str | int | float] = Field(default_factory=dict)
    emotion: Literal["negative", "neutral", "positive"] = "neutral"


_CONDITIONS: dict[str, Node] = {}  # ruleset digest -> parsed `understand_when`


def _condition(ruleset: Ruleset, when: dict[str, Any]) -> Node:
    node = _CONDITIONS.get(ruleset.digest)
    if node is None:
        spec = ruleset.spec
        catalogue = Catalogue(set(intent_names(ruleset)), set(spec.slots), set(ruleset.recognizers))
        node, _ = parse_when(when, ("llm", "understand_when"), catalogue)  # checked when the ruleset loaded
        _CONDITIONS[ruleset.digest] = node
    return node


def reason_to_ask(turn: Turn) -> str | None:
    """Why the model should be asked, or None when the offline result stands (noted in explain)."""
    llm, intent = turn.ruleset.spec.llm, turn.intent
    if not turn.masked_text.strip():
        return None
    if intent.source != "offline":
        turn.explain.notes.append(f"understanding: offline; intent {intent.source} ({intent.name})")
        return None
    if llm.understand_when is not None and evaluate(_condition(turn.ruleset, llm.understand_when), build_facts(turn)):
        return "llm.understand_when holds"
    if intent.confidence < llm.understand_below:
        return f"offline confidence {intent.confidence:.2f} < understand_below {llm.understand_below}"
    turn.explain.notes.append(
        f"understanding: offline; {intent.name} at {intent.confidence:.2f} >= understand_below {llm.understand_below}"
    )
    return None


def parse(turn: Turn, answer: str) -> tuple[Understanding | None, str]:
    """The validated answer, or None and what is wrong with it (shown to the model to repair)."""
    body = answer.strip().removeprefix("```json").removeprefix("```").removesuffix("```").strip()
    try:
        found = Understanding.model_validate_json(body)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:3]]
        return None, "; ".join(problems)
    allowed = [*intent_names(turn.ruleset), OUT_OF_SCOPE]
    if found.intent not in allowed:
        return None, f"intent {json.dumps(found.intent, ensure_ascii=False)} is not one of: {', '.join(allowed)}"
    return found, ""


def apply(turn: Turn, found: Understanding) -> list[str]:
    """Take the model's intent and emotion; add the entities its recognizers confirm. -> dropped entity types"""
    turn.intent = IntentResult(found.intent, found.confidence, turn.intent.candidates, "llm")
    if found.emotion != turn.emotion.label:
        turn.emotion.label = found.emotion
        turn.emotion.cues.append(f"llm:{found.emotion}")
    known, have = set(entity_types(turn.ruleset)), {e.type for e in turn.entities}
    dropped = []
    for kind, raw in found.entities.items():
        if kind in have:
            continue  # the offline recognizer already found it, and it is exact
        entity = _confirmed(turn, kind, unmask(str(raw), turn.vault)) if kind in known else None
        if entity is None:
            dropped.append(kind)
        else:
            turn.entities.append(entity)
    fill_slots(turn)
    return dropped


def _confirmed(turn: Turn, kind: str, value: str) -> Entity | None:
    """The entity as its recognizer reads the model's value, when that text is in the customer's message."""
    recognizer = turn.ruleset.recognizers.get(kind)
    if recognizer is None:
        return None
    for found in recognizer(value, turn.message.timestamp):
        start = turn.message.text.find(found.text)
        if found.text and start >= 0:
            return Entity(kind, found.value, found.text, start, start + len(found.text), "llm")
    return None


async def ask(turn: Turn, service: LLMService, reason: str) -> None:
    notes = turn.explain.notes
    plan = service.degradation(turn)
    if plan is not None and plan.stop is not None:
        notes.append(f"understanding: offline ({reason}); vendor calls are suspended ({plan.stop})")
        return
    tier = service.known_tier(turn, turn.ruleset.spec.llm.understand_tier)
    if plan is not None and plan.light_tier:
        tier = service.config.routing.light_tier
    req = understanding_request(turn)
    try:
        answer = (await service.complete(turn, req, tier)).text
        found, error = parse(turn, answer)
        if found is None:
            notes.append(f"understanding: the model's answer is invalid ({error}); asking it to repair")
            repaired = await service.complete(turn, repair_request(req, answer, error, turn), tier)
            found, error = parse(turn, repaired.text)
    except VendorError as exc:
        if exc.code == "limit":
            turn.explain.degradations.append("llm:limit")
            notes.append(f"understanding: offline ({reason}); no model call, {exc.message}")
        else:
            turn.explain.degradations.append("llm:understanding_unavailable")
            notes.append(f"understanding: offline ({reason}); no model answered ({exc.code})")
        return
    if found is None:
        turn.explain.degradations.append("llm:understanding_invalid")
        notes.append(f"understanding: offline ({reason}); the repaired answer is invalid too ({error})")
        return
    offline = f"{turn.intent.name} at {turn.intent.confidence:.2f}"
    dropped = apply(turn, found)
    note = f"understanding: llm ({reason}); {found.intent} at {found.confidence:.2f} replaces offline {offline}"
    notes.append(note + (f"; unconfirmed entities dropped: {', '.join(dropped)}" if dropped else ""))


@hookimpl
def understand(turn: Turn) -> Any:
    service = turn.services.get("llm")
    if service is None:
        return None
    reason = reason_to_ask(turn)
    return None if reason is None else ask(turn, service, reason)
