"""Turn labelled data into a ruleset's `intents.csv`, and a minimal `ruleset.yaml` when
the folder has none, so a large labelled set becomes a ruleset in one command."""

from __future__ import annotations

import csv
import io
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml import YAML

from frontdesk.errors import InputError
from frontdesk.ruleset_model import NAME_RE

INTENTS_FILE = "intents.csv"
RULESET_FILE = "ruleset.yaml"
RULESET_VERSION = "1.0.0"


@dataclass(frozen=True)
class ImportSummary:
    read: int
    intents: int
    written: int
    duplicates: int  # same text and intent as an earlier row
    conflicting: int  # same text as an earlier row with another intent (the first one is kept)
    empty: int
    over_cap: int  # dropped by the per-intent cap
    csv_path: Path
    ruleset_path: Path
    ruleset_created: bool
    name: str | None  # of the created ruleset
    language: str | None  # of the created ruleset


def import_intents(
    rows: Sequence[tuple[str, str]],
    into: Path,
    *,
    per_intent: int | None = None,
    language: str | None = None,
    name: str | None = None,
    seed: int = 0,
) -> ImportSummary:
    """Write `into/intents.csv` (header `text,intent`, grouped by intent) and, if `into` has
    no ruleset.yaml, a minimal one naming it. Texts are whitespace-collapsed; empty texts
    and repeated texts are dropped; at most `per_intent` examples of each intent are kept,
    chosen at random but the same for the same `seed`."""
    if per_intent is not None and per_intent < 1:
        raise InputError(f"--per-intent must be at least 1, got {per_intent}", code="import_cap_invalid")
    if into.exists() and not into.is_dir():
        raise InputError(f"{into}: not a folder", code="import_target_invalid", hint="--into names a ruleset folder")
    ruleset_path = into / RULESET_FILE
    create_ruleset = not ruleset_path.exists()
    if create_ruleset:
        name = name if name is not None else _name_from_folder(into)
        if not re.match(NAME_RE, name):
            raise InputError(
                f"ruleset name {name!r} is not allowed",
                code="ruleset_name_invalid",
                hint="use letters, digits, '_' and '-', starting with a letter or '_'",
            )
    by_intent: dict[str, list[str]] = {}
    first_intent: dict[str, str] = {}
    duplicates = conflicting = empty = 0
    for raw_text, intent in rows:
        text = " ".join(raw_text.split())
        if not text:
            empty += 1
        elif text in first_intent:
            if first_intent[text] == intent:
                duplicates += 1
            else:
                conflicting += 1
        else:
            first_intent[text] = intent
            by_intent.setdefault(intent, []).append(text)
    kept = {intent: _cap(texts, per_intent, f"{seed}:{intent}") for intent, texts in sorted(by_intent.items())}
    written = sum(len(texts) for texts in kept.values())
    into.mkdir(parents=True, exist_ok=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["text", "intent"])
    writer.writerows((text, intent) for intent, texts in kept.items() for text in texts)
    _write_atomically(into / INTENTS_FILE, out.getvalue())
    if create_ruleset:
        language = language or guess_language(first_intent)
        _write_atomically(ruleset_path, _ruleset_yaml(name, language))
    return ImportSummary(
        read=len(rows),
        intents=len(kept),
        written=written,
        duplicates=duplicates,
        conflicting=conflicting,
        empty=empty,
        over_cap=len(first_intent) - written,
        csv_path=into / INTENTS_FILE,
        ruleset_path=ruleset_path,
        ruleset_created=create_ruleset,
        name=name if create_ruleset else None,
        language=language if create_ruleset else None,
    )


def guess_language(texts: Iterable[str]) -> str:
    """zh when Chinese characters make up a real share of the letters, else en."""
    cjk = latin = 0
    for text in texts:
        cjk += sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
        latin += sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return "zh" if cjk and cjk * 3 >= latin else "en"


def _cap(texts: list[str], per_intent: int | None, seed: str) -> list[str]:
    """At most `per_intent` texts, in file order; the choice depends only on the seed
    and this intent's texts, so adding another intent does not change it."""
    if per_intent is None or len(texts) <= per_intent:
        return texts
    chosen = sorted(random.Random(seed).sample(range(len(texts)), per_intent))
    return [texts[i] for i in chosen]


def _name_from_folder(folder: Path) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", folder.resolve().name).strip("-")
    return slug if re.match(NAME_RE, slug) else f"ruleset-{slug}".rstrip("-")


def _ruleset_yaml(name: str, language: str) -> str:
    yaml = YAML()
    out = io.StringIO()
    header = {"ruleset": name, "version": RULESET_VERSION, "language": language, "intents_csv": INTENTS_FILE}
    yaml.dump(header, out)  # quotes a name YAML would read as something else (null, true)
    return out.getvalue()


def _write_atomically(path: Path, content: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(content, encoding="utf-8")
    os.replace(tmp, path)
