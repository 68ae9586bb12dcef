"""The plugin manager: built-ins and third-party packages load the same way.

Plugins come from `DEFAULT_PLUGINS` (module paths, so the core imports none of
them by name) and from the `frontdesk` entry-point group. `FRONTDESK_PLUGINS`
(comma-separated names) restricts loading to an allowlist; `FRONTDESK_TRACE_PLUGINS=1`
prints every hook call to stderr.

The pipeline calls its stage hooks once per stage and turn, so `FrontdeskPluginManager`
gives them a direct path (`call_stage`) without pluggy's per-call bookkeeping; the
implementations and their order are pluggy's own.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from frontdesk import hookspecs
from frontdesk.errors import PluginError
from frontdesk.types import Turn

DEFAULT_PLUGINS: tuple[str, ...] = (
    "frontdesk.plugins.offline_intents",
    "frontdesk.plugins.entity_recognizers",
    "frontdesk.plugins.emotion_lexicon",
    "frontdesk.plugins.understanding",
    "frontdesk.plugins.llm_understanding",
    "frontdesk.plugins.rules_decision",
    "frontdesk.plugins.core_actions",
    "frontdesk.plugins.llm_answers",
    "frontdesk.plugins.pii_recognizers",
    "frontdesk.plugins.input_guard",
    "frontdesk.plugins.pii_masking",
    "frontdesk.adapters.openai_compat",
    "frontdesk.adapters.anthropic",
)

ENTRY_POINT_GROUP = "frontdesk"


@dataclass
class ActionSpec:
    name: str
    handler: Callable[..., Any]
    params: Any = None  # a pydantic model validating the action's parameters, or None
    side_effect: bool = True  # listed in a turn's `actions` (reply, expect, set are not)


@dataclass
class Registry:
    """What plugins registered, keyed by the names rulesets use."""

    intent_classifiers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    entity_recognizers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    emotion_detectors: dict[str, Callable[..., Any]] = field(default_factory=dict)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    reply_renderers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    pii_recognizers: dict[str, Callable[..., Any]] = field(default_factory=dict)
    models: dict[str, Callable[..., Any]] = field(default_factory=dict)


StageCall = Callable[[str, Turn], list[Any]]


class FrontdeskPluginManager(pluggy.PluginManager):
    """pluggy's manager, plus `call_stage` for the per-turn stage hooks.

    `pm.hook.<stage>(turn=turn)` spends a few µs per call on pluggy's bookkeeping (argument
    checks, a copy of the implementation list, wrapper handling); `call_stage` calls the same
    implementations in the same order from a tuple kept per hook, which registering or
    unregistering a plugin clears. A hook with wrappers or unusual signatures, and every hook
    while a monitor is on (`enable_tracing`, FRONTDESK_TRACE_PLUGINS), goes through pluggy.
    """

    def __init__(self) -> None:
        super().__init__("frontdesk")
        self._direct: dict[str, tuple[Callable[[Turn], Any], ...] | None] = {}
        self._monitors = 0

    def register(self, plugin: object, name: str | None = None) -> str | None:
        try:
            return super().register(plugin, name)
        finally:
            self._direct.clear()

    def unregister(self, plugin: object | None = None, name: str | None = None) -> Any:
        try:
            return super().unregister(plugin, name)
        finally:
            self._direct.clear()

    def add_hookcall_monitoring(self, before: Any, after: Any) -> Callable[[], None]:
        undo = super().add_hookcall_monitoring(before, after)
        self._monitors += 1

        def undo_monitoring() -> None:
            undo()
            self._monitors -= 1

        return undo_monitoring

    def call_stage(self, name: str, turn: Turn) -> list[Any]:
        """What `pm.hook.<name>(turn=turn)` returns: the implementations' non-None results, in call order."""
        try:
            functions = self._direct[name]
        except KeyError:
            functions = self._direct[name] = self._direct_path(name)
        if functions is None or self._monitors:
            return getattr(self.hook, name)(turn=turn)
        results = []
        for function in functions:
            result = function(turn)
            if result is not None:
                results.append(result)
        return results

    def _direct_path(self, name: str) -> tuple[Callable[[Turn], Any], ...] | None:
        """The hook's functions in pluggy's call order, or None when only pluggy can call them."""
        caller: pluggy.HookCaller = getattr(self.hook, name)
        impls = caller.get_hookimpls()
        if caller.spec is None or caller.spec.opts.get("firstresult"):
            return None
        if any(i.wrapper or i.hookwrapper or i.argnames != ("turn",) or i.kwargnames for i in impls):
            return None
        return tuple(impl.function for impl in reversed(impls))


def stage_caller(pm: pluggy.PluginManager) -> StageCall:
    """How the pipeline calls stage hooks: directly on a `FrontdeskPluginManager`, through pluggy otherwise."""
    if isinstance(pm, FrontdeskPluginManager):
        return pm.call_stage
    return lambda name, turn: getattr(pm.hook, name)(turn=turn)


def _short_name(plugin: object, pm: pluggy.PluginManager) -> str:
    return pm.get_name(plugin) or getattr(plugin, "__name__", repr(plugin))


def _allowlist() -> set[str] | None:
    raw = os.environ.get("FRONTDESK_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


def _allowed(name: str, allow: set[str] | None) -> bool:
    return allow is None or name in allow or name.rsplit(".", 1)[-1] in allow


def build_plugin_manager(extra: Iterable[object] = ()) -> FrontdeskPluginManager:
    """Load built-in, entry-point and explicitly given plugins, then check every hookimpl."""
    pm = FrontdeskPluginManager()
    pm.add_hookspecs(hookspecs)
    allow = _allowlist()
    for module_path in DEFAULT_PLUGINS:
        if _allowed(module_path, allow):
            pm.register(importlib.import_module(module_path), name=module_path)
    if allow is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    else:
        from importlib.metadata import entry_points

        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in allow and pm.get_plugin(ep.name) is None:
                pm.register(ep.load(), name=ep.name)
    for plugin in extra:
        pm.register(plugin)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(str(exc), hint="a hookimpl names a hook that does not exist") from exc
    if os.environ.get("FRONTDESK_TRACE_PLUGINS") == "1":
        pm.trace.root.setwriter(lambda msg: print(msg, end="", file=sys.stderr))
        pm.enable_tracing()
    return pm


def collect_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every `register_*` hook; duplicate names are an error, never a silent override."""
    reg = Registry()

    def registrar(table: dict[str, Any], kind: str) -> Callable[..., None]:
        def register(name: str, value: Any) -> None:
            if name in table:
                raise PluginError(
                    f"{kind} {name!r} registered twice",
                    code="plugin_duplicate",
                    hint="two plugins use the same name; disable one with FRONTDESK_PLUGINS",
                )
            table[name] = value

        return register

    def register_action(name: str, handler: Callable[..., Any], params: Any = None, side_effect: bool = True) -> None:
        registrar(reg.actions, "action")(name, ActionSpec(name, handler, params, side_effect))

    pm.hook.register_intent_classifiers(register=registrar(reg.intent_classifiers, "intent classifier"))
    pm.hook.register_entity_recognizers(register=registrar(reg.entity_recognizers, "entity recognizer"))
    pm.hook.register_emotion_detectors(register=registrar(reg.emotion_detectors, "emotion detector"))
    pm.hook.register_actions(register=register_action)
    pm.hook.register_reply_renderers(register=registrar(reg.reply_renderers, "reply renderer"))
    pm.hook.register_pii_recognizers(register=registrar(reg.pii_recognizers, "PII recognizer"))
    pm.hook.register_models(register=registrar(reg.models, "model vendor"))
    return reg


def describe_plugins(pm: pluggy.PluginManager) -> list[dict[str, Any]]:
    """Name, version (when packaged) and implemented hooks of every loaded plugin."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    out = []
    for plugin in pm.get_plugins():
        hooks = sorted(impl.name for impl in pm.get_hookcallers(plugin) or [])
        dist = dists.get(id(plugin))
        out.append(
            {
                "name": _short_name(plugin, pm),
                "version": dist.version if dist else None,
                "hooks": hooks,
            }
        )
    return sorted(out, key=lambda p: p["name"])
