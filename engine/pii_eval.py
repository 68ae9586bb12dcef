"""Measure PII recognizers on labelled data: recall and precision per labelled type.

Two formats are read as they are published:

- JSON lists (argus-redact fixtures): `{input, should_match, type, expected_text?}` records,
  each about one type, or `{input, entities: [{type, start, end}]}` records labelled in full;
  records of other shapes are counted as unused.
- JSONL (presidio-research): `{full_text, spans: [{entity_type, start_position, end_position}]}`,
  labelled in full.

Detections go through the masker's overlap resolution, so the figures are what masking does.
A detection matches a labelled span when their intersection is at least half their union.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from frontdesk.errors import InputError
from frontdesk.masking import Masker, Recognizer
from frontdesk.types import Entity

PHONE_TYPES = ("phone", "landline", "phone_intl")
# dataset type -> our types that count as finding it, per labelling vocabulary
ARGUS_TYPES: dict[str, tuple[str, ...]] = {
    "phone": PHONE_TYPES,
    "id_number": ("id_number",),
    "bank_card": ("bank_card",),
    "email": ("email",),
    "address": ("address",),
    "person": ("person",),
    "passport": ("passport",),
    "license_plate": ("license_plate",),
}
PRESIDIO_TYPES: dict[str, tuple[str, ...]] = {
    "PHONE_NUMBER": PHONE_TYPES,
    "CREDIT_CARD": ("bank_card",),
    "EMAIL_ADDRESS": ("email",),
    "US_SSN": ("ssn",),
    "IBAN_CODE": ("iban",),
    "IP_ADDRESS": ("ip_address",),
    "PERSON": ("person",),
    "STREET_ADDRESS": ("address",),
}


@dataclass(frozen=True)
class Case:
    """One labelled text: either about one type (`should_match`) or labelled in full (`spans`)."""

    text: str
    vocabulary: Mapping[str, tuple[str, ...]]
    type: str | None = None
    should_match: bool | None = None
    expected: str | None = None
    spans: tuple[tuple[str, int, int], ...] | None = None


@dataclass
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        return self.tp + self.fn

    @property
    def recall(self) -> float | None:
        return self.tp / self.support if self.support else None

    @property
    def precision(self) -> float | None:
        found = self.tp + self.fp
        return self.tp / found if found else None


@dataclass
class PiiReport:
    scores: dict[str, TypeScore] = field(default_factory=dict)
    cases: int = 0
    unused: int = 0  # records of a shape this evaluator does not read
    unsupported: dict[str, int] = field(default_factory=dict)  # labelled types we do not detect

    def to_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "unused_records": self.unused,
            "unsupported_types": dict(sorted(self.unsupported.items())),
            "types": {
                name: {
                    "support": s.support,
                    "recall": s.recall,
                    "precision": s.precision,
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                }
                for name, s in sorted(self.scores.items())
            },
        }

    def format(self) -> str:
        def pct(value: float | None) -> str:
            return "    -" if value is None else f"{value:.3f}"

        lines = [f"{'type':<16}{'support':>8}{'recall':>8}{'precision':>11}{'tp':>6}{'fp':>5}{'fn':>5}"]
        for name, s in sorted(self.scores.items()):
            lines.append(f"{name:<16}{s.support:>8}{pct(s.recall):>8}{pct(s.precision):>11}{s.tp:>6}{s.fp:>5}{s.fn:>5}")
        lines.append(f"{self.cases} cases, {self.unused} records of another shape skipped")
        if self.unsupported:
            skipped = ", ".join(f"{k} ({v})" for k, v in sorted(self.unsupported.items()))
            lines.append(f"labelled types not detected by any recognizer: {skipped}")
        return "\n".join(lines)


# --- loading --------------------------------------------------------------------------------


def load_cases(path: str | Path) -> tuple[list[Case], int]:
    """Cases from one file or every .json/.jsonl file of a folder; also the count of records
    of a shape not understood."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl"))
    elif path.exists():
        files = [path]
    else:
        raise InputError(f"{path}: no such file or folder", code="eval_data_missing")
    cases: list[Case] = []
    unused = 0
    for file in files:
        new, skipped = (_load_jsonl if file.suffix == ".jsonl" else _load_json)(file)
        cases += new
        unused += skipped
    return cases, unused


def _load_json(file: Path) -> tuple[list[Case], int]:
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: not valid JSON: {exc}", code="eval_data_invalid") from exc
    if not isinstance(records, list):
        raise InputError(f"{file}: expected a JSON list of records", code="eval_data_invalid")
    cases, unused = [], 0
    for rec in records:
        text = rec.get("input") if isinstance(rec, dict) else None
        if not isinstance(text, str):
            unused += 1
        elif "should_match" in rec and isinstance(rec.get("type"), str):
            expected = rec.get("expected_text")
            cases.append(
                Case(
                    text,
                    ARGUS_TYPES,
                    type=rec["type"],
                    should_match=bool(rec["should_match"]),
                    expected=expected if isinstance(expected, str) and expected in text else None,
                )
            )
        elif isinstance(rec.get("entities"), list):
            spans = tuple((e["type"], int(e["start"]), int(e["end"])) for e in rec["entities"])
            cases.append(Case(text, ARGUS_TYPES, spans=spans))
        else:
            unused += 1
    return cases, unused


def _load_jsonl(file: Path) -> tuple[list[Case], int]:
    cases, unused = [], 0
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                spans = tuple(
                    (s["entity_type"], int(s["start_position"]), int(s["end_position"])) for s in rec["spans"]
                )
                text = rec["full_text"]
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(
                    f"{file}:{number}: not a {{full_text, spans}} record: {exc}",
                    code="eval_data_invalid",
                ) from exc
            cases.append(Case(text, PRESIDIO_TYPES, spans=spans))
    return cases, unused


# --- scoring --------------------------------------------------------------------------------


def _same_span(a: tuple[int, int], b: tuple[int, int]) -> bool:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return inter > 0 and 2 * inter >= max(a[1], b[1]) - min(a[0], b[0])


def _occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    out, pos = [], text.find(needle)
    while pos >= 0:
        out.append((pos, pos + len(needle)))
        pos = text.find(needle, pos + 1)
    return out


def evaluate(cases: Iterable[Case], recognizers: Mapping[str, Recognizer], unused: int = 0) -> PiiReport:
    masker = Masker(recognizers)
    report = PiiReport(unused=unused)
    for case in cases:
        report.cases += 1
        found = masker.detect(case.text)
        if case.spans is None:
            _score_single(case, found, report)
        else:
            _score_spans(case, found, report)
    return report


def _supported(report: PiiReport, case: Case, dataset_type: str) -> tuple[str, ...] | None:
    ours = case.vocabulary.get(dataset_type)
    if ours is None:
        report.unsupported[dataset_type] = report.unsupported.get(dataset_type, 0) + 1
    return ours


def _score_single(case: Case, found: list[Entity], report: PiiReport) -> None:
    assert case.type is not None
    ours = _supported(report, case, case.type)
    if ours is None:
        return
    score = report.scores.setdefault(case.type, TypeScore())
    hits = [(e.start, e.end) for e in found if e.type in ours]
    if not case.should_match:
        score.fp += bool(hits)
        return
    if case.expected is not None:
        targets = _occurrences(case.text, case.expected)
        hit = any(_same_span(h, t) for h in hits for t in targets)
    else:
        hit = bool(hits)
    if hit:
        score.tp += 1
    else:
        score.fn += 1


def _score_spans(case: Case, found: list[Entity], report: PiiReport) -> None:
    assert case.spans is not None
    for dataset_type in {t for t, _, _ in case.spans}:
        _supported(report, case, dataset_type)
    for dataset_type, ours in case.vocabulary.items():
        gold = [(s, e) for t, s, e in case.spans if t == dataset_type]
        preds = [(e.start, e.end) for e in found if e.type in ours]
        if not gold and not preds:
            continue
        score = report.scores.setdefault(dataset_type, TypeScore())
        unmatched = list(preds)
        for span in gold:
            match = next((p for p in unmatched if _same_span(p, span)), None)
            if match is None:
                score.fn += 1
            else:
                score.tp += 1
                unmatched.remove(match)
        score.fp += len(unmatched)
