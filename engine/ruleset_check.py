"""Validate a ruleset folder and report every problem as `file:line:col: CODE message — hint`.

Three passes, all problems collected in one run: YAML syntax, the shape of each
file (pydantic, `extra="forbid"`), then meaning (references between sections,
regular expressions, templates, actions, engine limits).
"""

from __future__ import annotations

import copy
import csv
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from frontdesk.conditions import Catalogue, parse_when
from frontdesk.errors import Problem
from frontdesk.plugin_manager import Registry
from frontdesk.prompts import check_prompt_variable
from frontdesk.rules_compiler import MAX_PROPERTIES, CompiledRule, compile_rules
from frontdesk.ruleset_model import OUT_OF_SCOPE, RulesetFile, RulesetSpec
from frontdesk.templates import Template, check_variable, parse_template
from frontdesk.yaml_source import PathKey, SourceDoc, load_yaml

LANGUAGES = ("zh", "en")
MERGED_SECTIONS = ("intents", "entities", "slots", "replies", "prompts", "emotion")
LIST_SECTIONS = ("rules", "tests")
SECTION_ITEM = {"intents": "intent", "entities": "entity", "slots": "slot", "replies": "reply", "prompts": "prompt",
                "emotion": "emotion cue list"}  # fmt: skip
HEADER_FIELDS = (
    "ruleset", "version", "language", "description", "settings", "business_hours", "privacy", "llm", "intents_csv",
)  # fmt: skip


@dataclass
class ParsedRuleset:
    """A ruleset that passed validation, with everything the loader needs."""

    path: Path
    spec: RulesetSpec
    examples: list[tuple[str, str]]  # (text, intent) for the classifier
    rules: list[CompiledRule]
    actions: dict[str, list[tuple[str, Any]]]  # rule id -> [(action, validated params)]
    replies: dict[str, dict[str, list[Template]]]  # name -> language -> variants
    entity_patterns: dict[str, re.Pattern[str]]
    files: list[str] = field(default_factory=list)
    test_locations: list[str] = field(default_factory=list)  # `file:line` of each test


def ruleset_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    # the header file first, so merged sections keep a natural order
    return sorted(files, key=lambda p: (p.stem != "ruleset", str(p)))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _data_path(data: Any, loc: tuple[Any, ...]) -> PathKey:
    """Map a pydantic error location onto the document, dropping union-member tags."""
    out: list[str | int] = []
    node = data
    for item in loc:
        if isinstance(node, dict) and str(item) in node:
            out.append(str(item))
            node = node[str(item)]
        elif isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node):
            out.append(item)
            node = node[item]
    return tuple(out)


def pydantic_problems(
    doc: SourceDoc, exc: ValidationError, base: PathKey = (), model: type[BaseModel] | None = None
) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[PathKey] = set()
    node = doc.data
    for step in base:
        node = node[step]
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = (*base, *_data_path(node, loc))
        if path in seen:
            continue  # a union reports once per member; the first says enough
        seen.add(path)
        kind = err["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            allowed = _allowed_keys(model, loc[:-1]) if model else []
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean `{close[0]}`?" if close else (f"allowed: {', '.join(allowed)}" if allowed else "")
            problems.append(doc.problem(path, "unknown-key", f"unknown key `{key}`", hint))
        elif kind == "missing":
            problems.append(doc.problem(path, "missing-field", f"`{loc[-1]}` is required", "add it here"))
        elif kind.endswith("_type") or kind in ("dict_type", "list_type", "model_type"):
            problems.append(doc.problem(path, "wrong-type", err["msg"], _shape_hint(loc)))
        else:
            message = err["msg"].removeprefix("Value error, ")
            problems.append(doc.problem(path, "bad-value", message, ""))
    return problems


def without_unknown_keys(data: dict[str, Any], exc: ValidationError) -> dict[str, Any] | None:
    """A copy of a file's `data` without the keys the schema does not know, when those are all
    that is wrong with it: a misspelt key is reported, and the rest of the file is still checked
    for meaning in the same run. None when anything else is wrong, or a key cannot be placed."""
    errors = exc.errors()
    if not all(err["type"] == "extra_forbidden" for err in errors):
        return None
    pruned = copy.deepcopy(data)
    for err in errors:
        path = _data_path(data, tuple(err["loc"]))
        if not path or path[-1] != str(err["loc"][-1]):
            return None
        parent: Any = pruned
        for step in path[:-1]:
            parent = parent[step]
        if not isinstance(parent, dict):
            return None
        parent.pop(path[-1], None)
    try:
        RulesetFile.model_validate(pruned)
    except ValidationError:
        return None
    return pruned


def _shape_hint(loc: tuple[Any, ...]) -> str:
    section = str(loc[0]) if loc else ""
    return {
        "intents": "write `name: {examples: [...]}`",
        "replies": "a reply is a text, a list of variants, or {zh: ..., en: ...}",
        "rules": "a rule is a mapping with id, when and then",
        "tests": "a test has name and turns: [{say: ..., expect: {...}}]",
    }.get(section, "")


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the model that owns the location, for did-you-mean hints."""
    current: Any = model
    for item in loc:
        if isinstance(item, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields:
            return []
        info = fields.get(str(item))
        if info is None:
            continue
        current = _inner_model(info.annotation)
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


class Checker:
    """Collects problems over the whole folder; `parse()` returns the result or the problems."""

    def __init__(self, path: Path, registry: Registry) -> None:
        self.path = path
        self.registry = registry
        self.problems: list[Problem] = []
        self.docs: list[SourceDoc] = []
        self.origin: dict[tuple[str, str], tuple[SourceDoc, PathKey]] = {}  # (section, name) -> where

    def parse(self) -> ParsedRuleset | None:
        if not self.path.exists():
            self.problems.append(
                Problem(str(self.path), 1, 1, "file-missing", "no such file or folder", "check the path")
            )
            return None
        files = ruleset_files(self.path)
        if not files:
            self.problems.append(
                Problem(_display(self.path), 1, 1, "file-missing", "no .yaml files in this folder", "")
            )
            return None
        merged = self._merge(files)
        if merged is None:
            return None
        try:
            spec = RulesetSpec.model_validate(merged)
        except ValidationError as exc:  # shapes were checked per file; this is the header's absence
            for err in exc.errors():
                self.problems.append(
                    Problem(
                        self.docs[0].file,
                        1,
                        1,
                        "missing-field",
                        f"`{err['loc'][0]}` is required",
                        "declare `ruleset: NAME` in ruleset.yaml",
                    )
                )
            return None
        return self._meaning(spec)

    # ---- pass 1 and 2: syntax and shape, then merge the files

    def _merge(self, files: list[Path]) -> dict[str, Any] | None:
        merged: dict[str, Any] = {s: {} for s in MERGED_SECTIONS} | {s: [] for s in LIST_SECTIONS}
        header_doc: SourceDoc | None = None
        unknown_keys = 0  # reported, then dropped: they do not stop the checks of meaning
        for file in files:
            doc, problems = load_yaml(file, _display(file))
            self.problems.extend(problems)
            if doc is None:
                continue
            if doc.data is None:
                continue  # an empty file is allowed
            if not isinstance(doc.data, dict):
                self.problems.append(
                    doc.problem(
                        (),
                        "wrong-type",
                        "a ruleset file is a mapping of sections",
                        "start with e.g. `ruleset: my-shop`",
                    )
                )
                continue
            try:
                RulesetFile.model_validate(doc.data)
            except ValidationError as exc:
                found = pydantic_problems(doc, exc, model=RulesetFile)
                self.problems.extend(found)
                pruned = without_unknown_keys(doc.data, exc)
                if pruned is None:
                    continue
                unknown_keys += len(found)
                doc = SourceDoc(doc.file, pruned, doc.positions)
            self.docs.append(doc)
            for key in HEADER_FIELDS:
                if key in doc.data:
                    if key in merged:
                        first = self.origin[("header", key)][0]
                        self.problems.append(
                            doc.problem(
                                (key,), "duplicate-key", f"`{key}` is set twice", f"it is already set in {first.file}"
                            )
                        )
                        continue
                    merged[key] = doc.data[key]
                    self.origin[("header", key)] = (doc, (key,))
                    header_doc = doc
            for section in MERGED_SECTIONS:
                for name, value in (doc.data.get(section) or {}).items():
                    if name in merged[section]:
                        first = self.origin[(section, name)][0]
                        self.problems.append(
                            doc.problem(
                                (section, name),
                                "duplicate-id",
                                f"{SECTION_ITEM[section]} `{name}` is declared twice",
                                f"the first is in {first.file}",
                            )
                        )
                        continue
                    merged[section][name] = value if value is not None else {}
                    self.origin[(section, name)] = (doc, (section, name))
            for section in LIST_SECTIONS:
                for index, value in enumerate(doc.data.get(section) or []):
                    self.origin[(section, str(len(merged[section])))] = (doc, (section, index))
                    merged[section].append(value)
        if len(self.problems) > unknown_keys:
            return None
        if header_doc is None or "ruleset" not in merged:
            where = self.docs[0].file if self.docs else _display(self.path)
            self.problems.append(
                Problem(
                    where,
                    1,
                    1,
                    "missing-field",
                    "no file declares `ruleset: NAME`",
                    "add `ruleset: my-name` to ruleset.yaml",
                )
            )
            return None
        return merged

    def at(self, section: str, key: str | int, *rest: str | int) -> tuple[SourceDoc, PathKey]:
        doc, path = self.origin[(section, str(key))]
        return doc, (*path, *rest)

    def report(self, section: str, key: str | int, rest: PathKey, code: str, message: str, hint: str = "") -> None:
        doc, path = self.at(section, key, *rest)
        self.problems.append(doc.problem(path, code, message, hint))

    def report_header(self, key: str, code: str, message: str, hint: str = "") -> None:
        doc, path = self.origin.get(("header", key), (self.docs[0], ()))
        self.problems.append(doc.problem(path, code, message, hint))

    # ---- pass 3: meaning

    def _meaning(self, spec: RulesetSpec) -> ParsedRuleset | None:
        examples = self._examples(spec)
        intents = set(spec.intents) | {label for _, label in examples}
        if not intents:
            self.report_header(
                "ruleset",
                "no-intents",
                "the ruleset declares no intents",
                "add `intents:` with examples, or `intents_csv: file.csv`",
            )
        entity_patterns = self._entities(spec)
        entities = set(self.registry.entity_recognizers) | set(spec.entities)
        for name, slot in spec.slots.items():
            entity = slot.entity or name
            if entity not in entities:
                self.report(
                    "slots",
                    name,
                    ("entity",) if slot.entity else (),
                    "unknown-entity",
                    f"slot `{name}` is filled by entity `{entity}`, which is not declared or built in",
                    _near(entity, entities, "declare it under `entities:`"),
                )
        replies = self._replies(spec, entities)
        self._prompts(spec, entities)
        self._settings(spec, replies)
        self._privacy(spec, intents, replies)
        catalogue = Catalogue(intents, set(spec.slots), entities)
        self._llm(spec, catalogue, replies)
        rules, actions = self._rules(spec, catalogue)
        self._tests(spec, catalogue, replies)
        if self.problems:
            return None
        compiled = compile_rules(rules)
        if compiled.property_count > MAX_PROPERTIES:
            self.report_header(
                "ruleset",
                "engine-limit",
                f"rules read {compiled.property_count} distinct facts; the engine takes {MAX_PROPERTIES}",
                "merge conditions or split the ruleset",
            )
            return None
        locations = []
        for index in range(len(spec.tests)):
            doc, path = self.at("tests", index)
            locations.append(f"{doc.file}:{doc.where(path)[0]}")
        return ParsedRuleset(
            self.path, spec, examples, rules, actions, replies, entity_patterns, [d.file for d in self.docs], locations
        )

    def _examples(self, spec: RulesetSpec) -> list[tuple[str, str]]:
        examples = [(text, name) for name, intent in spec.intents.items() for text in intent.examples]
        for name, intent in spec.intents.items():
            if not intent.examples and not intent.description:
                self.report(
                    "intents",
                    name,
                    (),
                    "no-examples",
                    f"intent `{name}` has no examples",
                    "give it a few `examples:` the classifier can learn from",
                )
        csv_files = self._header_value("intents_csv") or []
        if isinstance(csv_files, str):
            csv_files = [csv_files]
        base = self.path if self.path.is_dir() else self.path.parent
        for name in csv_files:
            examples.extend(self._read_csv(base / name, name))
        return examples

    def _header_value(self, key: str) -> Any:
        entry = self.origin.get(("header", key))
        return entry[0].data[key] if entry else None

    def _read_csv(self, file: Path, name: str) -> list[tuple[str, str]]:
        shown = _display(file)
        try:
            with file.open(encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle)
                columns = reader.fieldnames or []
                if "text" not in columns or "intent" not in columns:
                    self.problems.append(
                        Problem(
                            shown,
                            1,
                            1,
                            "csv-columns",
                            f"columns are {columns}; `text` and `intent` are required",
                            "the first line must be the header `text,intent`",
                        )
                    )
                    return []
                rows = []
                for row in reader:
                    text, label = (row.get("text") or "").strip(), (row.get("intent") or "").strip()
                    if not text or not label:
                        self.problems.append(
                            Problem(
                                shown,
                                reader.line_num,
                                1,
                                "csv-row",
                                "a row without text or intent",
                                "fill both columns or delete the row",
                            )
                        )
                        continue
                    rows.append((text, label))
                return rows
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.report_header(
                "intents_csv",
                "file-unreadable",
                f"cannot read {name}: {exc}",
                "the path is relative to the ruleset folder",
            )
            return []

    def _entities(self, spec: RulesetSpec) -> dict[str, re.Pattern[str]]:
        patterns = {}
        for name, entity in spec.entities.items():
            if (entity.pattern is None) == (entity.values is None):
                self.report(
                    "entities", name, (), "bad-value", f"entity `{name}` needs exactly one of `pattern` or `values`"
                )
                continue
            flags = re.IGNORECASE if entity.ignore_case else 0
            if entity.pattern is not None:
                try:
                    pattern = re.compile(entity.pattern, flags)
                except re.error as exc:
                    self.report(
                        "entities",
                        name,
                        ("pattern",),
                        "bad-regex",
                        f"invalid regular expression: {exc}",
                        "Python `re` syntax; in YAML quote patterns with single quotes",
                    )
                    continue
                group = entity.group
                if (isinstance(group, int) and group > pattern.groups) or (
                    isinstance(group, str) and group not in pattern.groupindex
                ):
                    self.report("entities", name, ("group",), "bad-value", f"the pattern has no group {group!r}")
                    continue
                patterns[name] = pattern
            else:
                synonyms = synonyms_map(entity.values)
                alternatives = sorted(synonyms, key=len, reverse=True)
                patterns[name] = re.compile("|".join(_word(s) for s in alternatives), flags)
        return patterns

    def _replies(self, spec: RulesetSpec, entities: set[str]) -> dict[str, dict[str, list[Template]]]:
        out: dict[str, dict[str, list[Template]]] = {}
        for name, reply in spec.replies.items():
            by_lang = reply if isinstance(reply, dict) else {spec.language: reply}
            out[name] = {}
            for lang, variants in by_lang.items():
                if lang not in LANGUAGES:
                    self.report(
                        "replies",
                        name,
                        (lang,),
                        "unknown-key",
                        f"`{lang}` is not a language",
                        f"use one of: {', '.join(LANGUAGES)}",
                    )
                    continue
                texts = [variants] if isinstance(variants, str) else variants
                if not texts:
                    self.report("replies", name, (lang,), "bad-value", "a reply needs at least one text")
                parsed = []
                for i, text in enumerate(texts):
                    rest = (
                        (lang, i)
                        if isinstance(reply, dict) and not isinstance(variants, str)
                        else ((lang,) if isinstance(reply, dict) else ((i,) if not isinstance(variants, str) else ()))
                    )
                    template, errors = parse_template(text)
                    errors += [e for v in template.variables if (e := check_variable(v, set(spec.slots), entities))]
                    for error in errors:
                        self.report(
                            "replies",
                            name,
                            rest,
                            "template-variable",
                            error,
                            "declare the slot or entity, or fix the name",
                        )
                    parsed.append(template)
                out[name][lang] = parsed
        return out

    def _prompts(self, spec: RulesetSpec, entities: set[str]) -> None:
        """Prompt texts are templates like replies, with {message} and {knowledge.*} besides."""
        for name, prompt in spec.prompts.items():
            texts = {"system": prompt.system, "instructions": prompt.instructions, "user": prompt.user}
            if prompt.on_negative:
                texts["on_negative"] = prompt.on_negative
            for key, source in texts.items():
                template, errors = parse_template(source)
                errors += [e for v in template.variables if (e := check_prompt_variable(v, set(spec.slots), entities))]
                for error in errors:
                    self.report(
                        "prompts",
                        name,
                        (key,),
                        "template-variable",
                        error,
                        "declare the slot or entity, fix the name, or use {message} for the customer's text",
                    )

    def _llm(self, spec: RulesetSpec, cat: Catalogue, replies: dict[str, Any]) -> None:
        if ("header", "llm") not in self.origin:
            return
        doc, base = self.origin[("header", "llm")]
        apology = spec.llm.apology_reply
        if apology and apology not in replies:
            self.problems.append(
                doc.problem(
                    (*base, "apology_reply"),
                    "unknown-reply",
                    f"apology_reply `{apology}` is not a declared reply",
                    _near(apology, replies, "declare it under `replies:`"),
                )
            )
        if spec.llm.understand_when is not None:
            _, problems = parse_when(spec.llm.understand_when, (*base, "understand_when"), cat)
            self.problems.extend(doc.problem(p.where, p.code, p.message, p.hint) for p in problems)

    def _settings(self, spec: RulesetSpec, replies: dict[str, Any]) -> None:
        fallback = spec.settings.fallback_reply
        if fallback and fallback not in replies:
            self.report_header(
                "settings",
                "unknown-reply",
                f"fallback_reply `{fallback}` is not a declared reply",
                _near(fallback, replies, "declare it under `replies:`"),
            )
        try:
            import zoneinfo

            zoneinfo.ZoneInfo(spec.business_hours.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            self.report_header(
                "business_hours",
                "bad-value",
                f"unknown timezone {spec.business_hours.timezone!r}",
                "use an IANA name such as Asia/Shanghai",
            )

    def _privacy(self, spec: RulesetSpec, intents: set[str], replies: dict[str, Any]) -> None:
        privacy, known = spec.privacy, set(self.registry.pii_recognizers)
        named = [("mask", t) for t in privacy.mask] + [("restore", t) for t in privacy.restore]
        named += [("by_intent", t) for policy in privacy.by_intent.values() for t in policy]
        for where, pii_type in named:
            if pii_type not in known:
                self.report_header("privacy", "unknown-pii-type", f"{where}: no PII recognizer for `{pii_type}`",
                                   _near(pii_type, known, f"known: {', '.join(sorted(known))}"))  # fmt: skip
        for intent in privacy.by_intent:
            if intent not in intents:
                self.report_header("privacy", "unknown-intent", f"by_intent: unknown intent `{intent}`",
                                   _near(intent, intents, ""))  # fmt: skip
        if privacy.blocked_reply and privacy.blocked_reply not in replies:
            self.report_header("privacy", "unknown-reply", f"blocked_reply `{privacy.blocked_reply}` is not declared",
                               _near(privacy.blocked_reply, replies, "declare it under `replies:`"))  # fmt: skip

    def _rules(self, spec: RulesetSpec, cat: Catalogue) -> tuple[list[CompiledRule], dict[str, list[tuple[str, Any]]]]:
        rules: list[CompiledRule] = []
        actions: dict[str, list[tuple[str, Any]]] = {}
        seen: dict[str, int] = {}
        for index, rule in enumerate(spec.rules):
            duplicate = rule.id in seen
            if duplicate:  # still check its body, so every problem shows in one run
                self.report(
                    "rules",
                    index,
                    ("id",),
                    "duplicate-id",
                    f"rule id `{rule.id}` is used twice",
                    "rule ids must be unique in a ruleset",
                )
            seen.setdefault(rule.id, index)
            doc, base = self.at("rules", index)
            node, problems = parse_when(rule.when, (*base, "when"), cat)
            for p in problems:
                self.problems.append(doc.problem(p.where, p.code, p.message, p.hint))
            rule_actions = self._actions(spec, rule.then, doc, (*base, "then"))
            if duplicate:
                continue
            actions[rule.id] = rule_actions
            if rule.enabled:
                rules.append(CompiledRule(rule.id, rule.priority, index, node))
        return rules, actions

    def _actions(self, spec: RulesetSpec, then: list[Any], doc: SourceDoc, base: PathKey) -> list[tuple[str, Any]]:
        out = []
        for i, item in enumerate(then):
            if isinstance(item, str) and item not in self.registry.actions and item in spec.replies:
                name, params, where = "reply", item, (*base, i)  # a bare reply name means `reply: name`
            elif isinstance(item, str):
                name, params, where = item, None, (*base, i)
            elif len(item) == 1:
                name, params = next(iter(item.items()))
                where = (*base, i, name)
            else:
                self.problems.append(
                    doc.problem(
                        (*base, i),
                        "wrong-type",
                        "an action is one `name: parameters` pair",
                        "split it into separate list items",
                    )
                )
                continue
            action = self.registry.actions.get(name)
            if action is None:
                self.problems.append(
                    doc.problem(
                        where,
                        "unknown-action",
                        f"unknown action `{name}`",
                        _near(name, self.registry.actions, "see the actions in rulesets/README.md"),
                    )
                )
                continue
            if action.params is None:
                out.append((name, params))
                continue
            try:
                context = {"spec": spec, "entities": set(self.registry.entity_recognizers) | set(spec.entities)}
                out.append((name, action.params.model_validate(params, context=context)))
            except ValidationError as exc:
                for err in exc.errors():
                    path = (*where, *[x for x in err["loc"] if isinstance(x, str | int) and x != "__root__"])
                    code, message = _action_problem(err)
                    self.problems.append(doc.problem(path, code, message, ""))
        return out

    def _tests(self, spec: RulesetSpec, cat: Catalogue, replies: dict[str, Any]) -> None:
        action_names = set(self.registry.actions)
        for index, test in enumerate(spec.tests):
            for t, turn in enumerate(test.turns):
                expect = turn.expect
                if expect is None:
                    continue
                where = ("turns", t, "expect")
                if expect.intent and expect.intent != OUT_OF_SCOPE and expect.intent not in cat.intents:
                    self.report(
                        "tests",
                        index,
                        (*where, "intent"),
                        "unknown-intent",
                        f"unknown intent `{expect.intent}`",
                        _near(expect.intent, cat.intents, ""),
                    )
                if expect.reply and expect.reply not in replies:
                    self.report(
                        "tests",
                        index,
                        (*where, "reply"),
                        "unknown-reply",
                        f"unknown reply `{expect.reply}`",
                        _near(expect.reply, replies, ""),
                    )
                for name in expect.actions or []:
                    if name not in action_names:
                        self.report(
                            "tests",
                            index,
                            (*where, "actions"),
                            "unknown-action",
                            f"unknown action `{name}`",
                            _near(name, action_names, ""),
                        )
                for name in expect.slots or {}:
                    if name not in cat.slots:
                        self.report(
                            "tests",
                            index,
                            (*where, "slots", name),
                            "unknown-slot",
                            f"unknown slot `{name}`",
                            _near(name, cat.slots, ""),
                        )


def _action_problem(err: dict[str, Any]) -> tuple[str, str]:
    """Action parameter models prefix their messages with a problem code (`unknown-slot: ...`)."""
    if err["type"] == "extra_forbidden":
        return "unknown-key", f"unknown parameter `{err['loc'][-1]}`"
    message = err["msg"].removeprefix("Value error, ")
    code, sep, rest = message.partition(": ")
    if sep and re.fullmatch(r"[a-z]+(-[a-z]+)+", code):
        return code, rest
    return ("missing-field" if err["type"] == "missing" else "bad-value"), message


def _near(name: str, choices: Any, fallback: str) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f"did you mean `{close[0]}`?" if close else fallback


def synonyms_map(values: dict[str, list[str]] | list[str] | None) -> dict[str, str]:
    """synonym text -> canonical value"""
    out: dict[str, str] = {}
    if isinstance(values, list):
        return {v: v for v in values}
    for canonical, synonyms in (values or {}).items():
        out[canonical] = canonical
        for synonym in synonyms:
            out[synonym] = canonical
    return out


def _word(text: str) -> str:
    """Whole-word match for Latin words; Chinese has no spaces, so match anywhere."""
    escaped = re.escape(text)
    return rf"(?<![A-Za-z0-9_]){escaped}(?![A-Za-z0-9_])" if text.isascii() else escaped


def inner_rulesets(path: Path) -> list[Path]:
    """The ruleset folders directly inside `path` when it is a folder of rulesets (what
    `serve --rulesets` takes), else none: `path` is a ruleset itself, or not one at all."""
    if path.is_file() or (path / "ruleset.yaml").is_file():
        return []
    return sorted(p.parent for p in path.glob("*/ruleset.yaml"))


def expand_ruleset_paths(paths: Iterable[Path]) -> list[Path]:
    """Command-line ruleset paths, a folder of rulesets standing for the rulesets in it."""
    return [folder for path in paths for folder in (inner_rulesets(path) or [path])]


def check_path(path: Path, registry: Registry) -> tuple[ParsedRuleset | None, list[Problem]]:
    checker = Checker(path, registry)
    parsed = checker.parse()
    return parsed, checker.problems
