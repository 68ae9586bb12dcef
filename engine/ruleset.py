"""A loaded ruleset: validated spec, trained classifier, recognizers and compiled rules.

`load_ruleset(path)` refuses a ruleset with any problem (RulesetError lists them
all). The intent classifier is cached on disk by the hash of its training data,
so a restart with an unchanged ruleset does not retrain.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import frontdesk
from frontdesk.errors import PluginError, RulesetError
from frontdesk.plugin_manager import Registry, build_plugin_manager, collect_registry
from frontdesk.rules_compiler import CompiledRule, CompiledRules, compile_rules
from frontdesk.rules_runtime import RulesRuntime
from frontdesk.ruleset_check import ParsedRuleset, check_path, synonyms_map
from frontdesk.ruleset_model import RuleDef, RulesetSpec
from frontdesk.settings import get_settings
from frontdesk.templates import Template
from frontdesk.types import EmotionDetector, Entity, IntentClassifier


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    return collect_registry(build_plugin_manager())


@dataclass
class Ruleset:
    spec: RulesetSpec
    path: Path
    digest: str
    registry: Registry
    classifier: IntentClassifier
    emotion: EmotionDetector
    recognizers: dict[str, Any]  # entity type -> recognizer(text, now)
    compiled: CompiledRules
    runtime: RulesRuntime
    actions: dict[str, list[tuple[str, Any]]]
    replies: dict[str, dict[str, list[Template]]]
    rule_defs: dict[str, RuleDef] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    test_locations: list[str] = field(default_factory=list)
    # what plugins derive from the loaded ruleset once instead of every turn (a masker...), by plugin
    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.spec.ruleset

    @property
    def version(self) -> str:
        return self.spec.version

    @property
    def intent_threshold(self) -> float:
        return self.spec.settings.intent_threshold

    def rules(self) -> list[CompiledRule]:
        return list(self.compiled.rules.values())

    def recognize(self, text: str, now: datetime) -> list[Entity]:
        entities: list[Entity] = []
        for recognizer in self.recognizers.values():
            entities.extend(recognizer(text, now))
        return entities


def _content_digest(parsed: ParsedRuleset) -> str:
    data = parsed.spec.model_dump(mode="json")
    data["__examples"] = parsed.examples
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _trainer_fingerprint(factory: Any) -> str:
    """Changes whenever the trainer's code or the library versions do, so stale caches are ignored."""
    import sklearn

    module = sys.modules.get(getattr(factory, "__module__", ""), None)
    source = Path(module.__file__).read_bytes() if module and getattr(module, "__file__", None) else b""
    return f"{frontdesk.__version__}:{sklearn.__version__}:{hashlib.sha256(source).hexdigest()[:16]}"


def _train_classifier(name: str, registry: Registry, examples: list[tuple[str, str]]) -> IntentClassifier:
    factory = registry.intent_classifiers.get(name)
    if factory is None:
        raise PluginError(
            f"no intent classifier named {name!r}",
            hint=f"installed: {', '.join(registry.intent_classifiers) or 'none'}",
        )
    key = json.dumps([name, _trainer_fingerprint(factory), sorted(examples)], ensure_ascii=False)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    cache = get_settings().cache_dir / "classifiers" / f"{digest}.pkl"
    try:
        with cache.open("rb") as handle:
            return pickle.load(handle)  # our own cache file, written below
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
        pass
    classifier = factory(examples)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            pickle.dump(classifier, handle, protocol=pickle.HIGHEST_PROTOCOL)
        tmp.replace(cache)
    except OSError:
        pass  # a read-only cache only costs a retrain
    return classifier


def _pattern_recognizer(name: str, pattern: re.Pattern[str], group: int | str, synonyms: dict[str, str] | None):
    lowered = {k.lower(): v for k, v in (synonyms or {}).items()}

    def recognize(text: str, now: datetime) -> list[Entity]:
        found = []
        for match in pattern.finditer(text):
            raw = match.group(group) if synonyms is None else match.group(0)
            if raw is None:
                continue
            value = raw if synonyms is None else lowered.get(raw.lower(), raw)
            found.append(Entity(name, value, match.group(0), match.start(), match.end(), "ruleset"))
        return found

    return recognize


def build_ruleset(parsed: ParsedRuleset, registry: Registry) -> Ruleset:
    spec = parsed.spec
    recognizers: dict[str, Any] = dict(registry.entity_recognizers)
    for name, pattern in parsed.entity_patterns.items():
        entity = spec.entities[name]
        synonyms = synonyms_map(entity.values) if entity.values is not None else None
        recognizers[name] = _pattern_recognizer(name, pattern, entity.group, synonyms)
    detector_factory = registry.emotion_detectors.get(spec.settings.emotion_detector)
    if detector_factory is None:
        raise PluginError(
            f"no emotion detector named {spec.settings.emotion_detector!r}",
            hint=f"installed: {', '.join(registry.emotion_detectors) or 'none'}",
        )
    compiled = compile_rules(parsed.rules)
    return Ruleset(
        spec=spec,
        path=parsed.path,
        digest=_content_digest(parsed),
        registry=registry,
        classifier=_train_classifier(spec.settings.classifier, registry, parsed.examples),
        emotion=detector_factory(spec.emotion),
        recognizers=recognizers,
        compiled=compiled,
        runtime=RulesRuntime(spec.ruleset, compiled.definition),
        actions=parsed.actions,
        replies=parsed.replies,
        rule_defs={rule.id: rule for rule in spec.rules},
        files=parsed.files,
        test_locations=parsed.test_locations,
    )


def load_ruleset(path: str | Path, registry: Registry | None = None) -> Ruleset:
    """Validate and load a ruleset folder (or single file); raises RulesetError listing every problem."""
    registry = registry or default_registry()
    parsed, problems = check_path(Path(path), registry)
    if parsed is None:
        raise RulesetError(problems)
    return build_ruleset(parsed, registry)
