"""The plugin system: built-ins load like third-party plugins, and every hook is documented."""

from __future__ import annotations

import asyncio
import inspect
import re
from pathlib import Path

import pluggy
import pytest

from frontdesk import hookspecs
from frontdesk.errors import PluginError
from frontdesk.hookspecs import hookimpl
from frontdesk.pipeline import Engine
from frontdesk.plugin_manager import (
    DEFAULT_PLUGINS,
    FrontdeskPluginManager,
    build_plugin_manager,
    collect_registry,
    describe_plugins,
    stage_caller,
)
from frontdesk.store import MemoryStore
from frontdesk.types import ConversationState, Message, Turn

DOC = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def hook_names() -> list[str]:
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "frontdesk_spec")]


def test_every_hook_is_documented():
    documented = set(re.findall(r"^### (\w+)$", DOC.read_text(encoding="utf-8"), re.MULTILINE))
    hooks = set(hook_names())
    assert hooks, "no hookspecs found"
    assert hooks - documented == set(), "undocumented hooks"
    assert documented - hooks == set(), "documented hooks that do not exist"


def test_every_hook_has_a_docstring():
    for name in hook_names():
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name


def test_builtins_load_and_register_their_features():
    pm = build_plugin_manager()
    names = {p["name"] for p in describe_plugins(pm)}
    assert set(DEFAULT_PLUGINS) <= names
    registry = collect_registry(pm)
    assert "tfidf-svm" in registry.intent_classifiers
    assert {"order_number", "amount", "date", "time", "mobile"} <= set(registry.entity_recognizers)
    assert {"reply", "handoff", "ticket", "tag", "expect", "set", "clear", "close"} <= set(registry.actions)
    assert "template" in registry.reply_renderers


def test_allowlist_loads_only_named_plugins(monkeypatch):
    monkeypatch.setenv("FRONTDESK_PLUGINS", "core_actions")
    pm = build_plugin_manager()
    assert [p["name"] for p in describe_plugins(pm)] == ["frontdesk.plugins.core_actions"]


def test_misspelled_hook_fails_loudly():
    class Typo:
        @hookimpl
        def register_action(self, register):  # the hook is register_actions
            return None

    with pytest.raises(PluginError):
        build_plugin_manager([Typo()])


def test_duplicate_names_are_refused():
    class Clash:
        @hookimpl
        def register_actions(self, register):
            register("handoff", lambda turn, action: None)

    with pytest.raises(PluginError) as info:
        collect_registry(build_plugin_manager([Clash()]))
    assert info.value.code == "plugin_duplicate"


def test_third_party_action_is_usable_from_a_ruleset(tmp_path):
    from frontdesk.ruleset import load_ruleset

    calls = []

    class Crm:
        @hookimpl
        def register_actions(self, register):
            register("notify_crm", lambda turn, action: calls.append(turn.message.text))

    registry = collect_registry(build_plugin_manager([Crm()]))
    (tmp_path / "ruleset.yaml").write_text(
        "ruleset: t\nintents: {hi: {examples: [hello, hi there]}}\nrules: [{id: r, when: {}, then: [notify_crm]}]\n",
        encoding="utf-8",
    )
    ruleset = load_ruleset(tmp_path, registry)
    assert ruleset.actions["r"] == [("notify_crm", None)]


def _bare_manager(*plugins: object) -> FrontdeskPluginManager:
    pm = FrontdeskPluginManager()
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def _recorder(calls: list[str], label: str, **opts: bool) -> object:
    class Plugin:
        @hookimpl(**opts)
        def understand(self, turn):
            calls.append(label)
            return label

    return Plugin()


def test_call_stage_calls_what_the_hook_calls_in_the_same_order():
    calls: list[str] = []
    pm = _bare_manager(
        _recorder(calls, "last", trylast=True), _recorder(calls, "a"), _recorder(calls, "first", tryfirst=True)
    )
    pm.call_stage("understand", None)
    pm.register(_recorder(calls, "b"))  # after a first call cached the list
    calls.clear()
    via_pluggy = pm.hook.understand(turn=None)
    order = calls[:]
    calls.clear()
    assert pm.call_stage("understand", None) == via_pluggy
    assert calls == order and order[0] == "first" and order[-1] == "last"


def test_call_stage_follows_registration_changes():
    calls: list[str] = []
    pm = _bare_manager(_recorder(calls, "early"))
    late = _recorder(calls, "late")
    before = pm.call_stage("understand", None)
    pm.register(late)
    assert pm.call_stage("understand", None) == ["late", *before]
    pm.unregister(late)
    assert pm.call_stage("understand", None) == before


def test_call_stage_goes_through_pluggy_for_tracing_and_wrappers():
    calls: list[str] = []
    pm = _bare_manager(_recorder(calls, "impl"))
    traced: list[str] = []
    pm.trace.root.setwriter(traced.append)
    undo = pm.enable_tracing()
    pm.call_stage("understand", None)
    assert any("understand" in line for line in traced)
    undo()
    traced.clear()
    pm.call_stage("understand", None)
    assert traced == []

    class Wrapper:
        @hookimpl(wrapper=True)
        def understand(self, turn):
            calls.append("wrapper in")
            return (yield)

    pm.register(Wrapper())
    calls.clear()
    assert pm.call_stage("understand", None) == pm.hook.understand(turn=None)
    assert calls == ["wrapper in", "impl", "wrapper in", "impl"]


def test_the_pipeline_awaits_stage_results_after_every_implementation_ran():
    calls: list[str] = []

    class Async:
        @hookimpl(tryfirst=True)
        def understand(self, turn):
            async def later() -> None:
                calls.append("awaited")

            calls.append("async")
            return later()

    engine = Engine({"r": object()}, MemoryStore(), _bare_manager(Async(), _recorder(calls, "sync")))
    turn = Turn(message=Message("hi"), state=ConversationState("c"), ruleset=object())
    asyncio.run(engine.run_stages(turn))
    assert calls == ["async", "sync", "awaited"]
    assert list(turn.explain.timings_us) == ["guard_input", "mask", "understand", "decide", "act", "guard_output"]


def test_a_plain_pluggy_manager_still_runs_the_stages():
    calls: list[str] = []
    pm = pluggy.PluginManager("frontdesk")
    pm.add_hookspecs(hookspecs)
    pm.register(_recorder(calls, "impl"))
    assert stage_caller(pm)("understand", None) == ["impl"] and calls == ["impl"]
