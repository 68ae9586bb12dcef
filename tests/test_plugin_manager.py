"""The plugin system: built-ins load like third-party plugins, and every hook is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from frontdesk import hookspecs
from frontdesk.errors import PluginError
from frontdesk.hookspecs import hookimpl
from frontdesk.plugin_manager import DEFAULT_PLUGINS, build_plugin_manager, collect_registry, describe_plugins

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
