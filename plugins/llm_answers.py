"""The `answer` action: a reply written by a model from a prompt the ruleset declares.

    then: [{answer: {prompt: product_help, tier: light, fallback: sorry_try_later}}]

Routing: the rule's `tier`, else the customer's (`llm.customer_tiers` by
`customer.level`), else the ruleset's `llm.tier`, else the models file decides;
a prompt estimated past `routing.long_context_tokens` goes to the long tier.
When the tenant's budget cannot pay, the light tier is tried; when no vendor
answers (or the degradation `limit` refused the call): a cached answer to the
same prompt (any tier; not under `templates_only`), else the rule's
`fallback` reply, else the ruleset's `llm.apology_reply` with a hand-off. The
reply is cut to `max_reply_chars`; its source is "llm", "cache" or "fallback",
and every degradation is listed in `explain.degradations`. When the caller
streams the turn (`frontdesk.llm_service.stream_turn`), the text is passed on
as the model writes it, after the output checks.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from frontdesk.errors import VendorError
from frontdesk.hookspecs import hookimpl
from frontdesk.llm_service import LLMService, ReplySink, current_sink
from frontdesk.llm_types import ChatRequest
from frontdesk.prompts import answer_request, reply_limit, truncate
from frontdesk.ruleset_model import require_declared
from frontdesk.types import Action, Register, Reply, Turn

APOLOGY = {
    "en": "Sorry, I cannot answer that right now. A colleague will take over.",
    "zh": "抱歉,暂时无法回答您的问题,稍后将由人工客服为您服务。",
}


class AnswerParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    shorthand: ClassVar[str] = "prompt"  # `answer: NAME` means `answer: {prompt: NAME}`

    prompt: str
    tier: str | None = None  # a tier of the models file (checked by `frontdesk models check --rulesets`)
    fallback: str | None = None  # a reply sent when no model answers

    @model_validator(mode="before")
    @classmethod
    def _expand(cls, data: Any) -> Any:
        return {cls.shorthand: data} if isinstance(data, str) else data

    @field_validator("prompt")
    @classmethod
    def _known_prompt(cls, value: str, info: ValidationInfo) -> str:
        require_declared(info.context, "prompts", value)
        return value

    @field_validator("fallback")
    @classmethod
    def _known_reply(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            require_declared(info.context, "replies", value)
        return value


def choose_tier(turn: Turn, service: LLMService, req: ChatRequest, params: AnswerParams) -> str | None:
    llm, routing = turn.ruleset.spec.llm, service.config.routing
    if routing.long_context_tokens is not None and req.estimated_prompt_tokens > routing.long_context_tokens:
        turn.explain.notes.append(f"answer: about {req.estimated_prompt_tokens} prompt tokens, long tier")
        return routing.long_tier
    level = turn.message.customer.get("level")
    by_customer = llm.customer_tiers.get(str(level)) if level is not None else None
    return service.known_tier(turn, params.tier or by_customer or llm.tier)


async def from_model(
    turn: Turn, service: LLMService, req: ChatRequest, tier: str | None, limit: int, sink: ReplySink | None
) -> Reply | None:
    """The model's reply, trying the light tier once when the budget refuses; None when no vendor answered.

    A refusal by the degradation `limit` is raised: what stands in then depends on the policy."""
    light = service.config.routing.light_tier
    while True:
        try:
            if sink is None:
                resp = await service.complete(turn, req, tier)
                return Reply(truncate(resp.text, limit), source="cache" if resp.cached else "llm")
            return await streamed(turn, service, req, tier, limit, sink)
        except VendorError as exc:
            if exc.code == "limit":
                raise
            turn.explain.degradations.append(f"llm:{exc.code}")
            used = service.router.tier_for(req, tier)
            if exc.code != "budget_exhausted" or used == light or light not in service.config.tiers:
                turn.explain.notes.append(f"answer: no model answered ({exc.message})")
                return None
            turn.explain.notes.append(f"answer: the budget cannot pay for tier {used}; trying {light}")
            tier = light


async def streamed(
    turn: Turn, service: LLMService, req: ChatRequest, tier: str | None, limit: int, sink: ReplySink
) -> Reply:
    """Pass the text to the sink as it comes; stop reading once the limit is reached."""
    seen = len(turn.explain.model_calls)
    parts: list[str] = []
    size = 0
    async with aclosing(service.stream(turn, req, tier)) as deltas:
        async for delta in deltas:
            parts.append(delta.text)
            size += len(delta.text)
            if size >= limit:
                break  # the rest would be cut anyway: stop paying for it
            await sink.offer(turn, "".join(parts))
    text = truncate("".join(parts), limit)
    await sink.offer(turn, text, final=True)
    cached = any(call["cache_hit"] for call in turn.explain.model_calls[seen:])
    return Reply(text, source="cache" if cached else "llm")


async def model_reply(
    turn: Turn, service: LLMService, req: ChatRequest, params: AnswerParams
) -> tuple[Reply | None, bool]:
    """The reply the degradation policy allows: none, a cached one, or the model's (light tier when told);
    and whether a cached answer may stand in when there is none."""
    limit = reply_limit(turn, turn.ruleset.spec.prompts[params.prompt])
    tier = choose_tier(turn, service, req, params)
    plan = service.degradation(turn)
    if plan is not None and plan.stop == "templates_only":
        return None, False
    if plan is not None and plan.stop == "serve_cached":
        hit = await service.cached(turn, req, [tier, None])
        return (Reply(truncate(hit.text, limit), source="cache") if hit else None), True
    if plan is not None and plan.light_tier:
        tier = service.config.routing.light_tier
    try:
        return await from_model(turn, service, req, tier, limit, current_sink()), True
    except VendorError as exc:  # the limit refused the call
        turn.explain.degradations.append("llm:limit")
        turn.explain.notes.append(f"answer: no model call, {exc.message}")
        return None, plan is None or plan.overflow == "serve_cached"


async def degraded_reply(
    turn: Turn, action: Action, service: LLMService | None, req: ChatRequest | None, *, cached: bool
) -> Reply:
    """When no model answers: a cached answer (when `cached`), the rule's fallback, or the apology with a hand-off."""
    params, llm = action.params, turn.ruleset.spec.llm
    degradations = turn.explain.degradations
    if cached and service is not None and req is not None:
        hit = await service.cached(turn, req, [None, *service.config.tiers])
        if hit is not None:
            degradations.append("llm:cached_answer")
            limit = reply_limit(turn, turn.ruleset.spec.prompts[params.prompt])
            return Reply(truncate(hit.text, limit), source="cache")
    render = turn.ruleset.registry.reply_renderers["template"]
    if params.fallback is not None:
        degradations.append("llm:fallback_reply")
        reply = render(turn, params.fallback)
    else:
        degradations.append("llm:apology_handoff")
        language = turn.flags.get("language", turn.ruleset.spec.language)
        reply = render(turn, llm.apology_reply) if llm.apology_reply else Reply(APOLOGY.get(language, APOLOGY["en"]))
        handoff = turn.ruleset.registry.actions["handoff"].params.model_validate(
            {"queue": llm.apology_queue, "priority": "high"}
        )
        # appended while acting: the act loop carries it out like a decided action
        turn.actions.append(Action("handoff", handoff, action.rule_id))
    reply.source = "fallback"
    return reply


async def answer(turn: Turn, action: Action) -> None:
    params: AnswerParams = action.params
    service: LLMService | None = turn.services.get("llm")
    reply = req = None
    cached = False
    if service is None:
        turn.explain.degradations.append("llm:not_configured")
    else:
        req = answer_request(turn, params.prompt)
        reply, cached = await model_reply(turn, service, req, params)
    if reply is None:
        reply = await degraded_reply(turn, action, service, req, cached=cached)
    turn.explain.notes.append(f"answer: prompt {params.prompt}, reply from {reply.source}")
    turn.reply = reply


def do_answer(turn: Turn, action: Action) -> Any:
    if turn.reply is not None:
        turn.explain.suppressed.append({"rule": action.rule_id, "reason": f"answer {action.params.prompt} lost"})
        return None
    return answer(turn, action)


@hookimpl
def register_actions(register: Register) -> None:
    register("answer", do_answer, AnswerParams, side_effect=False)
