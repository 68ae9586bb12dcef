"""Personal data: masked before anything leaves the process, checked again on the way out.

- `mask`: every PII type the ruleset does not `keep` becomes a reversible
  placeholder (⟨PHONE_1⟩) in `turn.masked_text`, the text model vendors see;
  the originals stay in the turn's vault and die with the turn.
- `guard_output`: the reply loses personal data that is not the customer's own
  (a model can invent or leak it), blocked terms and model replies that quote the
  ruleset's own prompt instructions (`output:prompt_leak`) swap the reply for
  `privacy.blocked_reply`, placeholders of `privacy.restore` types are put back
  for the customer, and the stored views of message and reply follow the
  ruleset's policy (`privacy.mask`, overridden per intent by `privacy.by_intent`):
  placeholder, redact or keep_last4 — transcripts never hold originals.
"""

from __future__ import annotations

from collections.abc import Iterable

from frontdesk.hookspecs import hookimpl
from frontdesk.masking import Masker, restyle, unmask
from frontdesk.ruleset_model import PromptDef
from frontdesk.types import Reply, Turn


def _masker(turn: Turn) -> Masker:
    """The ruleset's masker (types it `keep`s stay as written), built once per loaded ruleset."""
    derived = turn.ruleset.derived
    masker = derived.get(__name__)
    if masker is None:
        masker = derived[__name__] = Masker(turn.ruleset.registry.pii_recognizers, _reversible(turn))
    return masker


def _reversible(turn: Turn) -> dict[str, str]:
    return {t: "keep" for t, p in turn.ruleset.spec.privacy.mask.items() if p == "keep"}


def _stored(turn: Turn) -> dict[str, str]:
    privacy = turn.ruleset.spec.privacy
    return {**privacy.mask, **privacy.by_intent.get(turn.intent.name or "", {})}


@hookimpl
def mask(turn: Turn) -> None:
    result = _masker(turn).mask(turn.message.text, turn.vault)
    turn.masked_text = result.text
    types = sorted({span.type for span in result.spans})
    turn.flags["pii"] = bool(types)
    turn.flags["pii_types"] = types
    turn.explain.masked.extend({"type": s.type, "start": s.start, "end": s.end} for s in result.spans)


@hookimpl
def guard_output(turn: Turn) -> None:
    privacy = turn.ruleset.spec.privacy
    stored = _stored(turn)
    # the message was masked once already: only the stored style of its placeholders changes
    turn.masked_text = restyle(turn.masked_text, turn.vault, stored)
    if turn.reply is None:
        return
    text = turn.reply.text
    leak = turn.reply.source in ("llm", "cache") and leaks_prompt(text, turn.ruleset.spec.prompts.values())
    if leak:
        turn.explain.degradations.append("output:prompt_leak")
    if leak or (privacy.blocked_terms and any(term in text for term in privacy.blocked_terms)):
        if not leak:
            turn.explain.degradations.append("output:blocked_term")
        text = _blocked_text(turn)
        turn.reply = Reply(text, template=privacy.blocked_reply, source="fallback")
    if turn.reply.literal:
        turn.masked_reply = text  # the analyst's own words: nothing to find, nothing to hide
        return
    reversible = _masker(turn)
    # the customer's own data: this turn's vault and what earlier turns put in slots
    own = {**turn.vault, **{f"slot:{name}": str(value) for name, value in turn.state.slots.items()}}
    leaked = reversible.scan_output(text, own)
    if leaked.spans:
        turn.explain.degradations.append("output:pii_masked")
    text = unmask(leaked.text, turn.vault, allow_types=privacy.restore)
    turn.reply.text = text
    stored_reply = reversible.mask(text, dict(turn.vault))
    turn.masked_reply = restyle(stored_reply.text, stored_reply.vault, stored)


LEAK_SPAN = 24  # characters of a system prompt quoted verbatim that count as a leak


def leaks_prompt(reply: str, prompts: Iterable[PromptDef]) -> bool:
    """Whether a model reply quotes the ruleset's own instructions (system or instructions text)."""
    squeezed = "".join(reply.split())
    for prompt in prompts:
        for source in (prompt.system, prompt.instructions):
            secret = "".join(source.split())
            step = LEAK_SPAN // 2
            for start in range(0, max(len(secret) - LEAK_SPAN, 0) + 1, step):
                piece = secret[start : start + LEAK_SPAN]
                if len(piece) == LEAK_SPAN and piece in squeezed:
                    return True
    return False


def _blocked_text(turn: Turn) -> str:
    name = turn.ruleset.spec.privacy.blocked_reply
    if name is None:
        return "抱歉,这个问题我无法回答。" if turn.ruleset.spec.language == "zh" else "Sorry, I cannot answer that."
    return turn.ruleset.registry.reply_renderers["template"](turn, name).text
