"""Assemble an engine: plugins, registry, rulesets, a store and shared services (the model router)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pluggy

from frontdesk.errors import NotFound
from frontdesk.llm_service import services_from_settings
from frontdesk.pipeline import Engine
from frontdesk.plugin_manager import Registry, build_plugin_manager, collect_registry
from frontdesk.ruleset import Ruleset, load_ruleset
from frontdesk.ruleset_check import inner_rulesets
from frontdesk.settings import Settings, get_settings
from frontdesk.store import ConversationStore, MemoryStore


def ruleset_folders(root: Path) -> list[Path]:
    """A folder that is itself a ruleset, or the ruleset folders directly inside it."""
    if (root / "ruleset.yaml").is_file() or root.is_file():
        return [root]
    found = inner_rulesets(root)
    if not found:
        raise NotFound(
            f"no ruleset in {root}",
            code="ruleset_not_found",
            hint="a ruleset folder holds ruleset.yaml; pass the folder or its parent",
        )
    return found


def load_rulesets(paths: Iterable[Path], registry: Registry) -> dict[str, Ruleset]:
    rulesets: dict[str, Ruleset] = {}
    for root in paths:
        for folder in ruleset_folders(Path(root)):
            ruleset = load_ruleset(folder, registry)
            rulesets[ruleset.name] = ruleset
    return rulesets


def build_engine(
    paths: Iterable[Path],
    store: ConversationStore | None = None,
    default_ruleset: str | None = None,
    pm: pluggy.PluginManager | None = None,
    services: dict[str, Any] | None = None,
    settings: Settings | None = None,
) -> Engine:
    """`services` default to what `settings` configure (the model service when an LLM is set up);
    whoever builds the engine closes them (`frontdesk.llm_service.close_services`)."""
    pm = pm or build_plugin_manager()
    registry = collect_registry(pm)
    rulesets = load_rulesets(paths, registry)
    if services is None:
        services = services_from_settings(settings or get_settings(), registry)
    return Engine(rulesets, store or MemoryStore(), pm, default_ruleset, services)
