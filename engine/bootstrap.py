"""Assemble an engine: plugins, registry, rulesets and a store."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pluggy

from frontdesk.errors import NotFound
from frontdesk.pipeline import Engine
from frontdesk.plugin_manager import Registry, build_plugin_manager, collect_registry
from frontdesk.ruleset import Ruleset, load_ruleset
from frontdesk.store import ConversationStore, MemoryStore


def ruleset_folders(root: Path) -> list[Path]:
    """A folder that is itself a ruleset, or the ruleset folders directly inside it."""
    if (root / "ruleset.yaml").is_file() or root.is_file():
        return [root]
    found = sorted(p.parent for p in root.glob("*/ruleset.yaml"))
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
) -> Engine:
    pm = pm or build_plugin_manager()
    registry = collect_registry(pm)
    rulesets = load_rulesets(paths, registry)
    return Engine(rulesets, store or MemoryStore(), pm, default_ruleset)
