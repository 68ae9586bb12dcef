"""Measure a prompt-injection detector on labelled messages.

Reads JSONL or CSV as published. Each row gives a text column and either a label column
(attack / benign in the usual spellings) or one label for the whole file; an optional
type column splits the figures by attack type. Jailbreak templates with a slot such as
`[INSERT PROMPT HERE]` can be filled from a second file, one row per template and filler.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdesk.errors import InputError

ATTACK_LABELS = frozenset({"1", "true", "yes", "attack", "injection", "jailbreak", "malicious", "unsafe"})
BENIGN_LABELS = frozenset({"0", "false", "no", "benign", "safe", "normal", "clean"})
DEFAULT_SLOT = "[INSERT PROMPT HERE]"


@dataclass(frozen=True)
class Row:
    text: str
    attack: bool
    type: str = ""


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a .jsonl/.json (list) or .csv file as dicts."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file", code="eval_data_missing")
    try:
        if path.suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as handle:
                return list(csv.DictReader(handle))
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, list):
                raise InputError(f"{path}: expected a JSON list of objects", code="eval_data_invalid")
            return data
        with path.open(encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read: {exc}", code="eval_data_invalid") from exc


def read_column(path: str | Path, column: str) -> list[str]:
    """One column of a table, as text (fillers for templates)."""
    records = read_table(path)
    _column(records, column, path)
    return [str(rec.get(column) or "") for rec in records]


def _column(records: list[dict[str, Any]], name: str, path: str | Path) -> None:
    if records and name not in records[0]:
        raise InputError(
            f"{path}: no column {name!r}",
            code="eval_column_missing",
            hint=f"columns are: {', '.join(map(str, records[0]))}",
        )


def _parse_label(value: Any, path: str | Path, number: int) -> bool:
    word = str(value).strip().lower()
    if word in ATTACK_LABELS:
        return True
    if word in BENIGN_LABELS:
        return False
    raise InputError(
        f"{path}: row {number}: label {value!r} is neither attack nor benign",
        code="eval_label_invalid",
        hint=f"attack: {', '.join(sorted(ATTACK_LABELS))}; benign: {', '.join(sorted(BENIGN_LABELS))}",
    )


def load_rows(
    path: str | Path,
    *,
    text_col: str,
    label_col: str | None = None,
    label: str | None = None,
    type_col: str | None = None,
    fill: Iterable[str] = (),
    slot: str = DEFAULT_SLOT,
) -> list[Row]:
    """Labelled rows; with `fill`, every text holding `slot` becomes one row per filler."""
    if (label_col is None) == (label is None):
        raise InputError("give either a label column or one label for the whole file", code="eval_label_missing")
    records = read_table(path)
    for col in filter(None, (text_col, label_col, type_col)):
        _column(records, col, path)
    fillers = list(fill)
    fixed = None if label is None else _parse_label(label, path, 0)
    rows: list[Row] = []
    for number, rec in enumerate(records, 1):
        text = str(rec.get(text_col) or "")
        attack = fixed if fixed is not None else _parse_label(rec.get(label_col), path, number)
        kind = str(rec.get(type_col) or "") if type_col else ""
        if fillers and slot in text:
            rows += (Row(text.replace(slot, filler), attack, kind) for filler in fillers)
        else:
            rows.append(Row(text, attack, kind))
    return rows


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def add(self, attack: bool, flagged: bool) -> None:
        if attack:
            self.tp += flagged
            self.fn += not flagged
        else:
            self.fp += flagged
            self.tn += not flagged

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def false_positive_rate(self) -> float | None:
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attack": self.tp + self.fn,
            "benign": self.fp + self.tn,
            "recall": self.recall,
            "precision": self.precision,
            "false_positive_rate": self.false_positive_rate,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


@dataclass
class InjectionReport:
    total: Counts = field(default_factory=Counts)
    by_type: dict[str, Counts] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total.to_dict(), "by_type": {k: v.to_dict() for k, v in sorted(self.by_type.items())}}

    def format(self) -> str:
        def pct(value: float | None) -> str:
            return "-" if value is None else f"{value:.4f}"

        t = self.total
        lines = [
            f"rows {t.tp + t.fn + t.fp + t.tn} (attack {t.tp + t.fn}, benign {t.fp + t.tn})",
            f"recall {pct(t.recall)}  precision {pct(t.precision)}  false-positive rate {pct(t.false_positive_rate)}",
        ]
        if self.by_type:
            lines.append(f"{'type':<28}{'attack':>8}{'recall':>9}{'benign':>8}{'FPR':>9}")
            for name, c in sorted(self.by_type.items()):
                lines.append(
                    f"{name:<28}{c.tp + c.fn:>8}{pct(c.recall):>9}{c.fp + c.tn:>8}{pct(c.false_positive_rate):>9}"
                )
        return "\n".join(lines)


def evaluate(rows: Iterable[Row], detector: Callable[[str], bool]) -> InjectionReport:
    """Run `detector` (text -> flagged) over the rows."""
    report = InjectionReport()
    for row in rows:
        flagged = bool(detector(row.text))
        report.total.add(row.attack, flagged)
        if row.type:
            report.by_type.setdefault(row.type, Counts()).add(row.attack, flagged)
    return report
