"""The ruleset language v1 as pydantic models (`extra="forbid"`: a typo is an error).

A ruleset is a folder of YAML files; every file has the shape of `RulesetFile`
and the folder merges into one `RulesetSpec`. The meaning of each section is
documented for analysts in `rulesets/README.md`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
NAME_RE = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OUT_OF_SCOPE = "out_of_scope"


def parse_duration(text: str) -> int:
    """'10m' -> 600 seconds; raises ValueError with an analyst-friendly message."""
    match = DURATION_RE.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration; write e.g. 30s, 10m, 2h or 1d")
    return int(match.group(1)) * DURATION_UNITS[match.group(2)]


_SECTIONS = {"replies": "reply", "slots": "slot", "prompts": "prompt"}


def require_declared(context: dict[str, Any] | None, section: str, *names: str) -> None:
    """For action parameter validators (`info.context`): each name must be declared in the
    ruleset's `section`, else the analyst sees `unknown-reply` / `unknown-slot` / `unknown-prompt`."""
    spec = (context or {}).get("spec")
    if spec is None:
        return
    for name in names:
        if name not in getattr(spec, section):
            kind = _SECTIONS[section]
            raise ValueError(f"unknown-{kind}: no {kind} named `{name}` under `{section}:`")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class IntentDef(Strict):
    description: str = ""
    examples: list[str] = Field(default_factory=list)


class EntityDef(Strict):
    """Either a Python regular expression or a value list (canonical value -> synonyms)."""

    pattern: str | None = None
    values: dict[str, list[str]] | list[str] | None = None
    ignore_case: bool = True
    group: int | str = 0  # which regex group is the value


class SlotDef(Strict):
    entity: str | None = None  # entity type that fills it; defaults to the slot's own name
    description: str = ""


ReplyText = str | list[str]
ReplyDef = ReplyText | dict[str, ReplyText]


class RulesetSettings(Strict):
    intent_threshold: float = Field(0.45, ge=0.0, le=1.0)
    classifier: str = "tfidf-svm"
    emotion_detector: str = "lexicon"
    history_window: int = Field(10, ge=0, le=200)
    max_message_length: int = Field(4000, ge=1, le=1_000_000)
    reask_limit: int = Field(2, ge=0, le=10)
    # while a slot is expected, only an intent this sure changes the topic
    topic_change_threshold: float = Field(0.8, ge=0.0, le=1.0)
    fallback_reply: str | None = None


class BusinessHours(Strict):
    timezone: str = "UTC"
    days: list[Weekday] = Field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    open: str = "09:00"
    close: str = "18:00"
    holidays: list[date] = Field(default_factory=list)

    @field_validator("open", "close")
    @classmethod
    def _clock(cls, value: str) -> str:
        if not re.match(r"^([01]\d|2[0-4]):[0-5]\d$", str(value)):
            raise ValueError(f"{value!r} is not a time of day; write HH:MM, e.g. 09:00")
        return value


MaskPolicy = Literal["placeholder", "redact", "keep_last4", "keep"]


class PrivacyDef(Strict):
    """What personal data each destination sees; see rulesets/README.md "Privacy"."""

    mask: dict[str, MaskPolicy] = Field(default_factory=dict)  # PII type -> policy (default placeholder)
    by_intent: dict[str, dict[str, MaskPolicy]] = Field(default_factory=dict)  # stored views per intent
    restore: list[str] = Field(default_factory=list)  # types put back in replies to the customer
    injection_threshold: float = Field(0.5, ge=0.0, le=1.0)
    blocked_terms: list[str] = Field(default_factory=list)
    blocked_reply: str | None = None  # reply sent instead of one containing a blocked term


class LLMDef(Strict):
    """How the ruleset uses a model vendor when the deployment configures one; see rulesets/README.md "llm"."""

    # cascade: the offline classifier answers alone at or above this confidence; below it the LLM is asked
    understand_below: float = Field(0.6, ge=0.0, le=1.0)
    # a condition in the rule language (facts after offline understanding): when it holds, the LLM is asked too
    understand_when: dict[str, Any] | None = None
    understand_tier: str | None = None  # tiers name entries of the models file, never vendors
    tier: str | None = None  # answers' tier; none: the models file's routing (default or long-context tier)
    customer_tiers: dict[str, str] = Field(default_factory=dict)  # customer.level -> tier
    customer_facts: list[str] = Field(default_factory=list)  # customer fields prompts may show the model, masked
    history_turns: int = Field(4, ge=0, le=50)  # earlier turns (masked) shown to the model
    max_reply_chars: int = Field(600, ge=20, le=20_000)
    apology_reply: str | None = None  # sent with a hand-off when no vendor answers and a rule has no fallback
    apology_queue: str = "default"


class PromptExample(Strict):
    user: str
    assistant: str


class PromptDef(Strict):
    """A named prompt for the `answer` action; every text is a template like replies (plus {message})."""

    system: str = ""  # persona
    instructions: str = ""
    examples: list[PromptExample] = Field(default_factory=list)  # few-shot pairs
    user: str = "{message}"
    history: bool = True  # show the conversation's earlier turns (masked)
    on_negative: str | None = None  # replaces the built-in "apologise first" line; "" drops it
    max_reply_chars: int | None = Field(None, ge=20, le=20_000)
    temperature: float | None = Field(None, ge=0.0, le=2.0)


class WindowDef(Strict):
    count: int = Field(ge=2, le=1000)
    within: str

    @field_validator("within")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def seconds(self) -> int:
        return parse_duration(self.within)


class RuleDef(Strict):
    id: str = Field(pattern=NAME_RE)
    description: str = ""
    priority: int = Field(0, ge=-1000, le=1000)
    when: dict[str, Any] = Field(default_factory=dict)
    window: WindowDef | None = None
    then: list[str | dict[str, Any]] = Field(min_length=1)
    stop: bool = False
    enabled: bool = True


class TestExpect(Strict):
    __test__ = False  # not a pytest test class
    intent: str | None = None
    entities: dict[str, Any] | None = None
    slots: dict[str, Any] | None = None
    emotion: Literal["negative", "neutral", "positive"] | None = None
    anger: bool | None = None
    urgency: bool | None = None
    reply: str | None = None  # template name
    text: str | None = None  # exact reply text
    text_contains: str | None = None
    actions: list[str] | None = None  # side-effect action types, in firing order
    handoff: bool | dict[str, Any] | None = None
    rules: list[str] | None = None  # ids of the rules that fired, in order
    status: Literal["bot", "handed_off", "closed"] | None = None


class TestTurn(Strict):
    __test__ = False  # not a pytest test class
    say: str
    at: datetime | None = None  # absolute message time
    after: str | None = None  # or a duration after the previous turn (default 5s)
    expect: TestExpect | None = None

    @field_validator("after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value


class TestCase(Strict):
    __test__ = False  # not a pytest test class
    name: str
    customer: dict[str, Any] = Field(default_factory=dict)
    channel: str = "test"
    turns: list[TestTurn] = Field(min_length=1)


EmotionCueKind = Literal["negative", "positive", "anger", "urgency"]


class RulesetFile(Strict):
    """What one YAML file of a ruleset may contain."""

    ruleset: str | None = Field(None, pattern=NAME_RE)
    version: str | None = None
    language: Literal["zh", "en"] | None = None
    description: str | None = None
    settings: RulesetSettings | None = None
    business_hours: BusinessHours | None = None
    privacy: PrivacyDef | None = None
    llm: LLMDef | None = None
    intents: dict[str, IntentDef | None] = Field(default_factory=dict)
    intents_csv: str | list[str] | None = None
    entities: dict[str, EntityDef] = Field(default_factory=dict)
    slots: dict[str, SlotDef | None] = Field(default_factory=dict)
    replies: dict[str, ReplyDef] = Field(default_factory=dict)
    prompts: dict[str, PromptDef] = Field(default_factory=dict)
    emotion: dict[EmotionCueKind, list[str]] = Field(default_factory=dict)
    rules: list[RuleDef] = Field(default_factory=list)
    tests: list[TestCase] = Field(default_factory=list)

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class RulesetSpec(Strict):
    """A whole ruleset after its files are merged; locations live beside it."""

    ruleset: str
    version: str = "0.0.0"
    language: Literal["zh", "en"] = "en"
    description: str = ""
    settings: RulesetSettings = Field(default_factory=RulesetSettings)
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    privacy: PrivacyDef = Field(default_factory=PrivacyDef)
    llm: LLMDef = Field(default_factory=LLMDef)
    intents: dict[str, IntentDef] = Field(default_factory=dict)
    intents_csv: str | list[str] | None = None  # read by the checker; examples land in ParsedRuleset
    entities: dict[str, EntityDef] = Field(default_factory=dict)
    slots: dict[str, SlotDef] = Field(default_factory=dict)
    replies: dict[str, ReplyDef] = Field(default_factory=dict)
    prompts: dict[str, PromptDef] = Field(default_factory=dict)
    emotion: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[RuleDef] = Field(default_factory=list)
    tests: list[TestCase] = Field(default_factory=list)
