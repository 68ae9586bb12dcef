"""One turn through the pipeline, top to bottom.

    check input -> de-duplicate (message_id) -> lock conversation -> load state
    -> pick the ruleset (the message's, else the conversation's, else the default)
    -> guard input -> mask -> understand -> decide -> act -> guard output
    -> audit record (masked) -> save state, transcript (masked) -> respond

Each stage is a hook call, timed into the turn's `explain` record.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pluggy

from frontdesk.errors import Conflict, NotFound, PayloadTooLarge
from frontdesk.plugin_manager import stage_caller
from frontdesk.ruleset import Ruleset
from frontdesk.store import ConversationStore
from frontdesk.types import ConversationState, Message, Turn

STAGES = ("guard_input", "mask", "understand", "decide", "act", "guard_output")

# Records a finished turn (and who sent it) in the audit trail, before the turn is saved.
TurnRecorder = Callable[[Turn, str], Awaitable[None]]


def clean_text(text: str) -> str:
    """Lone surrogates cannot be encoded anywhere downstream: replace them, keep everything else."""
    return text.encode("utf-8", "replace").decode("utf-8") if not text.isascii() else text


class Engine:
    """Runs turns for a set of loaded rulesets over one conversation store."""

    def __init__(
        self,
        rulesets: dict[str, Ruleset],
        store: ConversationStore,
        pm: pluggy.PluginManager,
        default_ruleset: str | None = None,
        services: dict[str, Any] | None = None,
        record: TurnRecorder | None = None,
    ) -> None:
        if not rulesets:
            raise NotFound("no ruleset is loaded", code="ruleset_not_found", hint="pass --ruleset or --rulesets")
        self.rulesets = rulesets
        self.store = store
        self.pm = pm
        self._call_stage = stage_caller(pm)
        self.default_ruleset = default_ruleset or next(iter(rulesets))
        self.services = services or {}
        self.record = record
        # one count for every ruleset: it is asked for before the conversation's ruleset is known
        self._history_to_load = max(self.history_turns(r) for r in rulesets.values())

    def ruleset(self, name: str | None) -> Ruleset:
        ruleset = self.rulesets.get(name or self.default_ruleset)
        if ruleset is None:
            raise NotFound(
                f"no ruleset named {name!r}",
                code="ruleset_not_found",
                hint=f"loaded: {', '.join(self.rulesets)}",
            )
        return ruleset

    def history_turns(self, ruleset: Ruleset) -> int:
        """How many earlier turns of the transcript prompts show the model under `ruleset`: none
        without a model, which is the only built-in reader (so a turn without one reads none)."""
        if self.services.get("llm") is None:
            return 0
        return min(ruleset.spec.settings.history_window, ruleset.spec.llm.history_turns)

    async def handle(self, message: Message, ruleset_name: str | None = None, *, actor: str = "api") -> dict[str, Any]:
        """Process one message; a repeated `message_id` returns the first result unchanged.
        `ruleset_name` picks the ruleset; without it the conversation keeps the one it began
        with (a new one gets the default). `actor` is who sent it (an API key, a webhook
        channel), as the audit trail records it."""
        requested = self.ruleset(ruleset_name) if ruleset_name else None
        message.text = clean_text(message.text)
        message.message_id = message.message_id or os.urandom(16).hex()  # uuid4 without its object: 1% of a turn
        cid = message.conversation_id
        async with self.store.turn(cid, message.message_id, history=self._history_to_load) as held:
            if held.result is not None:
                return held.result  # a retry: the first attempt's result
            state = held.state or ConversationState(cid, user_id=message.user_id)
            ruleset = self._conversation_ruleset(state, requested)
            limit = ruleset.spec.settings.max_message_length
            if len(message.text) > limit:
                raise PayloadTooLarge(
                    f"the message has {len(message.text)} characters; ruleset {ruleset.name} accepts {limit}",
                    code="message_too_long",
                    hint="split the message or raise settings.max_message_length in the ruleset",
                )
            state.ruleset = ruleset.name
            shown = self.history_turns(ruleset)
            past = held.history[-shown:] if shown else []
            turn = Turn(message=message, state=state, ruleset=ruleset, history=past, services=self.services)
            await self.run_stages(turn)
            remember(turn)
            state.updated_at = time.time()
            result = turn_result(turn)
            if self.record is not None:
                # before the commit: a turn the audit trail misses is not saved either, and a retry runs it
                await self.record(turn, actor)
            await held.commit(state, transcript_entry(turn), result)
            return result

    def _conversation_ruleset(self, state: ConversationState, requested: Ruleset | None) -> Ruleset:
        """The ruleset this turn runs: a conversation stays with the one it began with, so its
        slots, expectations and rule memory keep their meaning."""
        current = self.rulesets.get(state.ruleset) if state.ruleset else None
        if requested is None:
            return current or self.ruleset(None)  # a ruleset no longer loaded: the default takes over
        if current is not None and current is not requested:
            raise Conflict(
                f"conversation {state.conversation_id} runs ruleset {current.name}; this message names"
                f" {requested.name}",
                code="ruleset_mismatch",
                hint=f"leave out `ruleset` to continue with {current.name}, or start a new conversation_id",
            )
        return requested

    async def run_stages(self, turn: Turn) -> None:
        turn.state.turn += 1
        turn.masked_text = turn.message.text  # until a mask plugin says otherwise
        timings, call_stage, clock = turn.explain.timings_us, self._call_stage, time.perf_counter
        for stage in STAGES:
            started = clock()
            # every implementation runs before any awaitable it returned is awaited
            for result in call_stage(stage, turn):
                if inspect.isawaitable(result):
                    await result
            timings[stage] = round((clock() - started) * 1e6, 1)


def stored_reply(turn: Turn) -> str | None:
    return turn.masked_reply if turn.masked_reply is not None else (turn.reply.text if turn.reply else None)


def remember(turn: Turn) -> None:
    """What the state keeps of the turn; its text and reply go to the transcript (`transcript_entry`)."""
    if turn.intent.name and turn.intent.name != "out_of_scope":
        turn.state.last_intent = turn.intent.name


def transcript_entry(turn: Turn) -> dict[str, Any]:
    return {
        "message_id": turn.message.message_id,
        "at": turn.message.timestamp.isoformat(),
        "user": turn.masked_text,
        "bot": stored_reply(turn),
        "intent": turn.intent.name,
        "actions": [a.type for a in turn.actions if _is_side_effect(turn, a.type)],
    }


def audit_entry(turn: Turn) -> dict[str, Any]:
    """What the audit trail keeps of a turn: the masked text and reply, the decision and its reasons;
    no entity values or action parameters, which may hold the customer's data."""
    return {
        "conversation_id": turn.message.conversation_id,
        "message_id": turn.message.message_id,
        "channel": turn.message.channel,
        "ruleset": f"{turn.ruleset.name}@{turn.ruleset.version}",
        "text": turn.masked_text,
        "reply": stored_reply(turn),
        "intent": turn.intent.name,
        "confidence": round(turn.intent.confidence, 4),
        "emotion": turn.emotion.label,
        "rules": [r.id for r in turn.explain.rules],
        "actions": [{"type": a.type, "rule": a.rule_id} for a in turn.actions],
        "masked": sorted({m["type"] for m in turn.explain.masked}),
        "flags": turn.flags,
        "degradations": turn.explain.degradations,
        "trace_id": turn.message.trace_id,
    }


def _is_side_effect(turn: Turn, action_type: str) -> bool:
    spec = turn.ruleset.registry.actions.get(action_type)
    return bool(spec and spec.side_effect)


def turn_result(turn: Turn) -> dict[str, Any]:
    """The response body of one turn; `explain` is included and stripped by callers that did not ask."""
    reply = turn.reply
    return {
        "conversation_id": turn.message.conversation_id,
        "message_id": turn.message.message_id,
        "ruleset": {"name": turn.ruleset.name, "version": turn.ruleset.version},
        "reply": {"text": reply.text, "template": reply.template, "source": reply.source} if reply else None,
        "intent": {"name": turn.intent.name, "confidence": round(turn.intent.confidence, 4)},
        "entities": [
            {"type": e.type, "value": e.value, "text": e.text, "start": e.start, "end": e.end} for e in turn.entities
        ],
        "slots": dict(turn.state.slots),
        "emotion": {
            "label": turn.emotion.label,
            "score": round(turn.emotion.score, 3),
            "anger": turn.emotion.anger,
            "urgency": turn.emotion.urgency,
        },
        "actions": [
            {"type": a.type, "rule": a.rule_id, "params": _params(a.params)}
            for a in turn.actions
            if _is_side_effect(turn, a.type)
        ],
        "handoff": turn.handoff,
        "status": turn.state.status,
        "trace_id": turn.message.trace_id,
        "explain": explain_record(turn),
    }


def _params(params: Any) -> Any:
    return params.model_dump(mode="json") if hasattr(params, "model_dump") else params


def explain_record(turn: Turn) -> dict[str, Any]:
    ex = turn.explain
    return {
        "intent": {
            "name": turn.intent.name,
            "confidence": round(turn.intent.confidence, 4),
            "source": turn.intent.source,
            "candidates": [{"name": n, "confidence": round(c, 4)} for n, c in turn.intent.candidates],
        },
        "emotion_cues": turn.emotion.cues,
        "rules": [{"id": r.id, "priority": r.priority, "matched": r.matched, "stop": r.stopped} for r in ex.rules],
        "suppressed": ex.suppressed,
        "timings_us": ex.timings_us,
        "degradations": ex.degradations,
        "model_calls": ex.model_calls,
        "masked": ex.masked,
        "notes": ex.notes,
        "flags": turn.flags,
    }
