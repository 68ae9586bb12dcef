"""Shared data types: what flows through one turn of the pipeline."""

from __future__ import annotations

import operator
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from frontdesk.ruleset import Ruleset

Status = Literal["bot", "handed_off", "closed"]
EmotionLabel = Literal["negative", "neutral", "positive"]


@dataclass
class Message:
    """One inbound customer message."""

    text: str
    conversation_id: str = "local"
    user_id: str = "anonymous"
    channel: str = "api"
    message_id: str | None = None
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
    customer: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None  # the request that carried it; kept in the result a retry gets back


@dataclass
class Entity:
    """A value recognised in the text; `value` is normalised, `text` is what was written."""

    type: str
    value: Any
    text: str
    start: int
    end: int
    source: str = ""


@dataclass
class IntentResult:
    name: str | None = None
    confidence: float = 0.0
    candidates: list[tuple[str, float]] = field(default_factory=list)
    # offline | llm | carried (answer to an expected slot) | none
    source: str = "none"


@dataclass
class Emotion:
    label: EmotionLabel = "neutral"
    score: float = 0.0  # -1 (very negative) .. 1 (very positive)
    anger: bool = False
    urgency: bool = False
    cues: list[str] = field(default_factory=list)


@dataclass
class ConversationState:
    """Everything remembered about one conversation between turns."""

    conversation_id: str
    user_id: str = "anonymous"
    # the ruleset the conversation runs under, set on its first turn (None: saved before any)
    ruleset: str | None = None
    status: Status = "bot"
    turn: int = 0
    slots: dict[str, Any] = field(default_factory=dict)
    expecting: str | None = None
    reask_count: int = 0
    last_intent: str | None = None
    # rule id -> epoch seconds of the turns its `when` matched (temporal windows)
    rule_memory: dict[str, list[float]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return dict(zip(_STATE_FIELDS, _state_values(self), strict=True))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        try:
            return cls(**data)  # what to_dict wrote: exactly the fields, checked by the constructor
        except TypeError:  # keys this version does not know (written by another one): dropped
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# every turn loads and saves its conversation's state: one C-level getter beats a getattr per field
_STATE_FIELDS = tuple(ConversationState.__dataclass_fields__)
_state_values = operator.attrgetter(*_STATE_FIELDS)


@dataclass
class Action:
    """A decision taken by a rule: `type` names a registered action."""

    type: str
    params: Any = None  # the action's validated parameters (a pydantic model) or None
    rule_id: str = ""


@dataclass
class Reply:
    text: str
    template: str | None = None
    source: str = "template"  # template | llm | cache | knowledge | fallback
    literal: bool = False  # written in full by the analyst: holds nothing of the customer's


@dataclass
class FiredRule:
    id: str
    priority: int
    matched: dict[str, Any]
    stopped: bool = False


@dataclass
class Explain:
    timings_us: dict[str, float] = field(default_factory=dict)
    rules: list[FiredRule] = field(default_factory=list)
    suppressed: list[dict[str, Any]] = field(default_factory=list)
    degradations: list[str] = field(default_factory=list)
    model_calls: list[dict[str, Any]] = field(default_factory=list)
    masked: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Turn:
    """The working record of one message through the pipeline."""

    message: Message
    state: ConversationState
    ruleset: Ruleset
    # the conversation's last turns from its transcript (masked), oldest first: what prompts show the
    # model, so loaded only when a model is configured (see Engine.history_turns)
    history: list[dict[str, Any]] = field(default_factory=list)
    intent: IntentResult = field(default_factory=IntentResult)
    entities: list[Entity] = field(default_factory=list)
    emotion: Emotion = field(default_factory=Emotion)
    flags: dict[str, Any] = field(default_factory=dict)
    # what leaves the process (model prompts, transcripts, logs): placeholders instead of personal data
    masked_text: str = ""
    vault: dict[str, str] = field(default_factory=dict)  # placeholder -> original, this turn only
    masked_reply: str | None = None  # the reply as transcripts store it
    facts: dict[str, Any] = field(default_factory=dict)
    actions: list[Action] = field(default_factory=list)
    reply: Reply | None = None
    handoff: dict[str, Any] | None = None
    explain: Explain = field(default_factory=Explain)
    # shared clients the engine was built with, by name (e.g. "llm": the model router)
    services: dict[str, Any] = field(default_factory=dict)

    def entity_values(self) -> dict[str, Any]:
        """First value of each entity type (what templates and slots use)."""
        out: dict[str, Any] = {}
        for ent in self.entities:
            out.setdefault(ent.type, ent.value)
        return out


class IntentClassifier(Protocol):
    """Trained on (text, label) pairs; returns labels with calibrated probabilities."""

    def predict(self, text: str, top: int = 3) -> list[tuple[str, float]]: ...


IntentClassifierFactory = Callable[[list[tuple[str, str]]], IntentClassifier]
EntityRecognizer = Callable[[str, datetime], list[Entity]]  # (text, message time)
EmotionDetector = Callable[[str, str], Emotion]  # (text, language)
# built from the ruleset's own cue phrases: {"negative": [...], "anger": [...], ...}
EmotionDetectorFactory = Callable[[dict[str, list[str]]], EmotionDetector]
ActionHandler = Callable[[Turn, Action], "Awaitable[None] | None"]
Register = Callable[..., None]
