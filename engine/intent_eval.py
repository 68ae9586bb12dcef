"""Measure an intent classifier on labelled messages: accuracy, macro-F1, confusions,
out-of-scope detection and time per message.

A message is answered "out of scope" when its top probability is below the threshold
or its top label is the out-of-scope label; that is how a ruleset uses the classifier.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from frontdesk.errors import InputError
from frontdesk.types import IntentClassifier

CONFUSED_PAIRS = 10
NO_ANSWER = "(none)"  # what a classifier that returns no candidate is counted as answering


def evaluate(
    classifier: IntentClassifier,
    rows: Sequence[tuple[str, str]],
    *,
    threshold: float,
    oos_label: str | None,
) -> dict[str, Any]:
    """Score `classifier` on (text, expected label) rows.

    With `oos_label`, `accuracy` is in-scope accuracy (an in-scope message answered out of
    scope counts as wrong) and `oos` holds precision and recall of out-of-scope answers.
    Without it, `accuracy` is top-1 accuracy and the threshold only feeds `below_threshold`.
    """
    if not rows:
        raise InputError("no labelled messages to evaluate", code="data_empty")
    expected: list[str] = []
    answered: list[str] = []
    below: list[bool] = []
    timings_ns: list[int] = []
    for text, label in rows:
        start = time.perf_counter_ns()
        ranked = classifier.predict(text)
        timings_ns.append(time.perf_counter_ns() - start)
        top_label, top_prob = ranked[0] if ranked else (NO_ANSWER, 0.0)
        low = top_prob < threshold
        if oos_label is not None and (low or top_label == NO_ANSWER):
            top_label = oos_label
        expected.append(label)
        answered.append(top_label)
        below.append(low)
    in_scope = [i for i, label in enumerate(expected) if label != oos_label]
    return {
        "count": len(rows),
        "threshold": threshold,
        "oos_label": oos_label,
        "accuracy": _share(answered[i] == expected[i] for i in in_scope),
        "macro_f1": macro_f1(expected, answered),
        "below_threshold": _share(below[i] for i in in_scope),
        "oos": None if oos_label is None else _oos_scores(expected, answered, oos_label),
        "confused": confused_pairs(expected, answered),
        "us_per_message": {
            "p50": statistics.median(timings_ns) / 1000,
            "mean": statistics.fmean(timings_ns) / 1000,
        },
    }


def macro_f1(expected: Sequence[str], answered: Sequence[str]) -> float:
    """Unweighted mean F1 over every label that is expected or answered."""
    true_pos: Counter[str] = Counter()
    false_pos: Counter[str] = Counter()
    false_neg: Counter[str] = Counter()
    for gold, guess in zip(expected, answered, strict=True):
        if gold == guess:
            true_pos[gold] += 1
        else:
            false_pos[guess] += 1
            false_neg[gold] += 1
    labels = set(expected) | set(answered)
    scores = [2 * true_pos[label] / (2 * true_pos[label] + false_pos[label] + false_neg[label]) for label in labels]
    return statistics.fmean(scores)


def confused_pairs(expected: Sequence[str], answered: Sequence[str]) -> list[dict[str, Any]]:
    """The most frequent (expected, answered) mistakes, most frequent first."""
    pairs = Counter((gold, guess) for gold, guess in zip(expected, answered, strict=True) if gold != guess)
    ranked = sorted(pairs.items(), key=lambda item: (-item[1], item[0]))
    return [{"expected": gold, "answered": guess, "count": count} for (gold, guess), count in ranked[:CONFUSED_PAIRS]]


def _oos_scores(expected: list[str], answered: list[str], oos_label: str) -> dict[str, Any]:
    gold = [label == oos_label for label in expected]
    said = [label == oos_label for label in answered]
    hits = sum(g and s for g, s in zip(gold, said, strict=True))
    return {
        "count": sum(gold),
        "precision": hits / sum(said) if any(said) else None,
        "recall": hits / sum(gold) if any(gold) else None,
    }


def _share(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return sum(values) / len(values) if values else None
