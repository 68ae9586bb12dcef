"""Hook specifications: the whole public plugin API of Frontdesk.

Every hook is documented here and in `docs/plugins.md`; a test fails when one is
not. `register_*` hooks receive a `register` callback so the core owns names and
refuses duplicates. Stage hooks (`understand`, `decide`, `act`) receive the
`Turn` and may return an awaitable; the core awaits it.
"""

from __future__ import annotations

from typing import Any

import pluggy

from frontdesk.types import Register, Turn

hookspec = pluggy.HookspecMarker("frontdesk")
hookimpl = pluggy.HookimplMarker("frontdesk")


@hookspec
def register_intent_classifiers(register: Register) -> None:
    """Register intent classifier factories: `register(name, factory)`; factory(examples) -> classifier."""


@hookspec
def register_entity_recognizers(register: Register) -> None:
    """Register built-in entity recognizers: `register(entity_type, recognizer)`; recognizer(text, now) -> [Entity]."""


@hookspec
def register_emotion_detectors(register: Register) -> None:
    """Register emotion detector factories: `register(name, factory)`; factory(cues) -> detector(text, language)."""


@hookspec
def register_actions(register: Register) -> None:
    """Register rule actions: `register(name, handler, params=PydanticModel | None, side_effect=bool)`."""


@hookspec
def register_reply_renderers(register: Register) -> None:
    """Register reply renderers: `register(kind, renderer)`; renderer(turn, reply_decl, params) -> Reply."""


@hookspec
def guard_input(turn: Turn) -> Any:
    """Inspect the raw message before anything else reads it; set `turn.flags` (e.g. injection)."""


@hookspec
def mask(turn: Turn) -> Any:
    """Fill `turn.masked_text` and `turn.vault`: what model vendors, transcripts and logs may see."""


@hookspec
def understand(turn: Turn) -> Any:
    """Fill in the turn's intent, entities, emotion and flags; every implementation runs, in plugin order."""


@hookspec
def decide(turn: Turn) -> Any:
    """Evaluate the ruleset against the turn's facts and append decisions to `turn.actions`."""


@hookspec
def act(turn: Turn) -> Any:
    """Carry out `turn.actions`: render the reply, record hand-off, tickets, tags and slot changes."""


@hookspec
def guard_output(turn: Turn) -> Any:
    """Check and fix `turn.reply` before it leaves: personal data, blocked terms, restored placeholders."""


@hookspec
def register_pii_recognizers(register: Register) -> None:
    """Register personal-data recognizers: `register(pii_type, recognizer)`; recognizer(text) -> [Entity]."""


@hookspec
def register_models(register: Register) -> None:
    """Register model vendor adapters: `register(vendor_kind, factory)`; factory(vendor_config) -> client."""
