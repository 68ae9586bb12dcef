"""The built-in rule actions and the template reply renderer.

reply, expect, set and clear change the conversation; handoff, ticket, tag and
close are side effects, listed in a turn's `actions`. The first `reply` of a
turn wins; later ones are recorded in `explain` as suppressed. The first
`handoff` wins likewise.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from frontdesk.hookspecs import hookimpl
from frontdesk.ruleset_model import RulesetSpec, require_declared
from frontdesk.templates import check_variable, parse_template
from frontdesk.types import Action, Reply, Turn

Priority = Literal["low", "normal", "high", "urgent"]


def _spec(info: ValidationInfo) -> RulesetSpec | None:
    return (info.context or {}).get("spec")


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    shorthand: ClassVar[str | None] = None  # `{action: value}` means `{action: {<shorthand>: value}}`

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        if data is None:
            return {}
        if cls.shorthand and not isinstance(data, dict):
            return {cls.shorthand: data}
        return data


class ReplyParams(_Params):
    shorthand: ClassVar[str | None] = "template"
    template: str

    @field_validator("template")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        require_declared(info.context, "replies", value)
        return value


class SlotParams(_Params):
    shorthand: ClassVar[str | None] = "slot"
    slot: str

    @field_validator("slot")
    @classmethod
    def _known(cls, value: str, info: ValidationInfo) -> str:
        require_declared(info.context, "slots", value)
        return value


class SetParams(_Params):
    slots: dict[str, str | int | float | bool]

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        return {"slots": data} if isinstance(data, dict) and "slots" not in data else data

    @field_validator("slots")
    @classmethod
    def _known(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        require_declared(info.context, "slots", *value)
        return value


class ClearParams(_Params):
    shorthand: ClassVar[str | None] = "slots"
    slots: list[str] | Literal["all"] = "all"

    @field_validator("slots", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) and value != "all" else value


class HandoffParams(_Params):
    shorthand: ClassVar[str | None] = "queue"
    queue: str = "default"
    priority: Priority = "normal"
    note: str | None = None


class TicketParams(_Params):
    shorthand: ClassVar[str | None] = "queue"
    queue: str = "default"
    priority: Priority = "normal"
    summary: str | None = None

    @field_validator("summary")
    @classmethod
    def _template(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        template, errors = parse_template(value)
        spec = _spec(info)
        if spec is not None:
            entities = (info.context or {}).get("entities", set(spec.entities))
            errors += [e for v in template.variables if (e := check_variable(v, set(spec.slots), entities))]
        if errors:
            raise ValueError(f"template-variable: {errors[0]}")
        return value


class TagParams(_Params):
    shorthand: ClassVar[str | None] = "tags"
    tags: list[str] = Field(min_length=1)

    @field_validator("tags", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


# ---- rendering


def lookup(turn: Turn):
    """Resolve template variables against the live turn (slots as they are now)."""

    def resolve(path: str) -> Any:
        if path.startswith("slots."):
            return turn.state.slots.get(path[6:])
        return turn.facts.get(path)

    return resolve


def render_template(turn: Turn, name: str) -> Reply:
    variants_by_lang = turn.ruleset.replies[name]
    language = turn.flags.get("language", turn.ruleset.spec.language)
    variants = variants_by_lang.get(language) or variants_by_lang.get(turn.ruleset.spec.language)
    variants = variants or next(iter(variants_by_lang.values()))
    template = variants[(turn.state.turn - 1) % len(variants)]
    return Reply(template.render(lookup(turn)), template=name, source="template", literal=not template.variables)


# ---- handlers


def do_reply(turn: Turn, action: Action) -> None:
    if turn.reply is not None:
        turn.explain.suppressed.append({"rule": action.rule_id, "reason": f"reply {action.params.template} lost"})
        return
    renderer = turn.ruleset.registry.reply_renderers["template"]
    turn.reply = renderer(turn, action.params.template)


def do_expect(turn: Turn, action: Action) -> None:
    turn.state.expecting = action.params.slot


def do_set(turn: Turn, action: Action) -> None:
    turn.state.slots.update(action.params.slots)


def do_clear(turn: Turn, action: Action) -> None:
    if action.params.slots == "all":
        turn.state.slots.clear()
    for name in action.params.slots if action.params.slots != "all" else []:
        turn.state.slots.pop(name, None)


def do_handoff(turn: Turn, action: Action) -> None:
    if turn.handoff is not None:
        turn.explain.suppressed.append({"rule": action.rule_id, "reason": "a hand-off was already decided"})
        return
    turn.handoff = {"queue": action.params.queue, "priority": action.params.priority, "rule": action.rule_id}
    turn.state.status = "handed_off"


def do_ticket(turn: Turn, action: Action) -> None:
    """The ticket is a side effect in the turn's `actions`, with its summary rendered for the ticketing system."""
    if action.params.summary is not None:
        rendered = parse_template(action.params.summary)[0].render(lookup(turn))
        action.params = action.params.model_copy(update={"summary": rendered})


def do_tag(turn: Turn, action: Action) -> None:
    for tag in action.params.tags:
        if tag not in turn.state.tags:
            turn.state.tags.append(tag)


def do_close(turn: Turn, action: Action) -> None:
    turn.state.status = "closed"


@hookimpl
def register_actions(register) -> None:
    register("reply", do_reply, ReplyParams, side_effect=False)
    register("expect", do_expect, SlotParams, side_effect=False)
    register("set", do_set, SetParams, side_effect=False)
    register("clear", do_clear, ClearParams, side_effect=False)
    register("handoff", do_handoff, HandoffParams)
    register("ticket", do_ticket, TicketParams)
    register("tag", do_tag, TagParams)
    register("close", do_close, None)


@hookimpl
def register_reply_renderers(register) -> None:
    register("template", render_template)


@hookimpl
def act(turn: Turn) -> Any:
    return _act(turn)


async def _act(turn: Turn) -> None:
    actions = turn.ruleset.registry.actions
    for action in turn.actions:
        result = actions[action.type].handler(turn, action)
        if result is not None and hasattr(result, "__await__"):
            await result
    fallback = turn.ruleset.spec.settings.fallback_reply
    if turn.reply is None and fallback:
        turn.reply = render_template(turn, fallback)
        turn.reply.source = "fallback"
