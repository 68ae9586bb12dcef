"""Offline emotion detection: a bilingual lexicon matched in one pass over the text.

Every phrase (lexicon + the ruleset's cues) is compiled into trie-shaped regexes
(one for English words, one for the rest), so a scan is a left-to-right pass
whose cost grows with the text, not with the lexicon. Between matches a little state handles negation (不满意,
not happy, not bad), intensifiers (非常, 太, very, so) and the intensity of
exclamation marks and ALL CAPS. Chinese and English phrases live in one table,
so mixed text works whatever language the ruleset says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from frontdesk.errors import ConfigError
from frontdesk.hookspecs import hookimpl
from frontdesk.plugins import emotion_lexicon_data as data
from frontdesk.types import Emotion, EmotionDetector, EmotionLabel, Register

CUE_KINDS = ("negative", "positive", "anger", "urgency")
_CUE_WEIGHT = {"negative": 1.0, "positive": 1.0, "anger": 1.5, "urgency": 1.0}
_CLAUSE_END = frozenset(",.!?;:，。！？；：、\n\r\t…~")
_CAPS_WORD = re.compile(r"[A-Z]{4}")
_ALNUM = re.compile("[a-z0-9]")  # in lower-cased text: where an English word may start
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
MAX_CUES = 16  # explain records stay small whatever the text


def _base_entries() -> dict[str, tuple[str, float]]:
    """phrase -> (kind, weight); later tables win, so a fixed expression overrides its words."""
    entries: dict[str, tuple[str, float]] = {}
    tables: list[tuple[str, Mapping[str, float]]] = [
        ("negator", dict.fromkeys(data.NEGATORS, 1.0)),
        ("intensifier", data.INTENSIFIERS),
        ("urgency", dict.fromkeys(data.URGENCY, 1.0)),
        ("positive", data.POSITIVE),
        ("negative", data.NEGATIVE),
        ("anger", data.ANGER),
        ("neutral", dict.fromkeys(data.NEUTRAL, 0.0)),
    ]
    for kind, table in tables:
        for phrase, weight in table.items():
            entries[phrase.lower()] = (kind, weight)
    return entries


_BASE = _base_entries()


def _word_char(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _trie_regex(phrases: Iterable[str]) -> str:
    """One alternation shaped as a trie: each position tries a few characters, not every phrase."""
    trie: dict[str, Any] = {}
    for phrase in phrases:
        node = trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        node[""] = {}
    return "|".join(re.escape(ch) + _emit(child, ch) for ch, child in sorted(trie.items()))


def _emit(node: dict[str, Any], last: str) -> str:
    branches = [re.escape(ch) + _emit(child, ch) for ch, child in sorted(node.items()) if ch]
    if "" not in node:
        return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    end = "(?![a-z0-9])" if _word_char(last) else ""
    if not branches:
        return end
    if not end:
        return "(?:" + "|".join(branches) + ")?"  # greedy: the longer phrase first
    return "(?:" + "|".join([*branches, end]) + ")"


class Lexicon:
    """Compiled phrases with their kind and weight.

    Two scans: English words (whole words only: no 'sue' in 'issue'), tried only
    where a word starts, and everything else (Chinese, emoji, stickers), which the
    engine finds by first character. One alternation for both is several times slower.

    The word scan runs only on text with an ASCII letter or digit. The other scan has a
    twin without the phrases that start with an emoji beyond the BMP, for text without
    such characters: the regex engine skips ahead on a set of BMP first characters in
    one lookup, but tests astral ones one by one at every position.
    """

    def __init__(self, entries: dict[str, tuple[str, float]]) -> None:
        self.entries = entries
        words = [p for p in entries if _word_char(p[0])]
        others = [p for p in entries if not _word_char(p[0])]
        bmp = [p for p in others if p[0] <= "\uffff"]
        self.words = re.compile(r"(?<![a-z0-9])(?:" + _trie_regex(words) + ")") if words else None
        self.others = re.compile(_trie_regex(others)) if others else None
        if len(bmp) == len(others):
            self.others_bmp = self.others
        else:
            self.others_bmp = re.compile(_trie_regex(bmp)) if bmp else None

    def matches(self, text: str) -> list[re.Match[str]]:
        """Matches of both scans in text order; a match overlapping an earlier one is dropped."""
        words = list(self.words.finditer(text)) if self.words and _ALNUM.search(text) else []
        others = self.others_bmp if _ASTRAL.search(text) is None else self.others
        found = list(others.finditer(text)) if others else []
        if not words or not found:
            return words or found  # the matches of one scan never overlap
        kept: list[re.Match[str]] = []
        last_end = 0
        for m in sorted(words + found, key=re.Match.start):
            if m.start() >= last_end:
                last_end = m.end()
                kept.append(m)
        return kept


@lru_cache(maxsize=32)
def _lexicon(extra: tuple[tuple[str, str], ...]) -> Lexicon:
    entries = dict(_BASE)
    for phrase, kind in extra:
        entries[phrase] = (kind, _CUE_WEIGHT[kind])
    return Lexicon(entries)


def _governs(text: str, end: int, start: int) -> bool:
    """A negator ending at `end` reaches a word at `start`: same clause, a few characters or words on."""
    if start - end > 16:
        return False
    gap = text[end:start]
    if any(c in _CLAUSE_END for c in gap):
        return False
    return len(gap) <= 3 or (gap.isascii() and gap.count(" ") <= 4)


def _adjacent(text: str, end: int, start: int) -> bool:
    """An intensifier only lifts the word right after it (非常的好, very bad)."""
    return end >= 0 and start - end <= 2 and not any(c in _CLAUSE_END for c in text[end:start])


def _intensity(text: str) -> float:
    """Exclamation marks, repeated question marks and ALL CAPS make whatever was said stronger."""
    bangs = min(text.count("!") + text.count("！"), 3)
    factor = 1.0 + 0.15 * bangs
    if "??" in text or "？？" in text:
        factor += 0.15
    if text.isupper() and _CAPS_WORD.search(text):
        factor += 0.3
    return factor


def _label(score: float) -> EmotionLabel:
    if score <= -0.25:
        return "negative"
    return "positive" if score >= 0.25 else "neutral"


def detect(text: str, lexicon: Lexicon) -> Emotion:
    """Score `text` against `lexicon`; never raises on any string."""
    lowered = text.lower().replace("’", "'")
    aligned = len(lowered) == len(text)  # a few characters grow when lower-cased (İ)
    entries = lexicon.entries
    raw = 0.0
    anger = urgency = False
    cues: list[str] = []
    negated = False
    neg_start = neg_end = boost_end = -1
    boost = outer = 1.0
    for m in lexicon.matches(lowered):
        start, end = m.span()
        kind, weight = entries[m.group()]
        if kind == "negator":
            if negated and _governs(lowered, neg_end, start):
                negated = False  # double negation
            else:
                negated, neg_start = True, start
                # 非常不满意: an intensifier in front of the negation still counts
                outer = boost if _adjacent(lowered, boost_end, start) else 1.0
            neg_end, boost, boost_end = end, 1.0, -1
            continue
        if kind == "intensifier":
            boost = (boost if _adjacent(lowered, boost_end, start) else 1.0) * weight
            boost_end = end
            continue
        in_negation = negated and _governs(lowered, neg_end, start)
        # inside a negation an intensifier softens instead: 不太好 is milder than 太好
        mult = outer if in_negation else boost if _adjacent(lowered, boost_end, start) else 1.0
        negated, neg_end, boost, boost_end, outer = False, -1, 1.0, -1, 1.0
        if kind == "neutral" or (kind == "urgency" and in_negation):
            continue
        cue_start = neg_start if in_negation else start
        word = text[start:end] if aligned else ""
        if len(word) >= 3 and word.isascii() and word.isupper():
            mult *= 1.5  # "the WORST"
        if kind == "urgency":
            urgency = True
        elif kind == "anger":
            anger = True
            raw -= weight * mult
        else:
            value = weight * mult if kind == "positive" else -weight * mult
            if in_negation:  # not happy is negative; not bad is only mildly positive
                value = -value * (0.8 if value > 0 else 0.4)
            raw += value
        cue = (text if aligned else lowered)[cue_start:end]
        if len(cues) < MAX_CUES and cue not in cues:
            cues.append(cue)
    raw *= _intensity(text)
    score = raw / (abs(raw) + 1.0)
    if anger:
        score = min(score, -0.5)
    return Emotion(_label(score), round(score, 3), anger, urgency, cues)


def _extra_cues(cues: Mapping[str, Iterable[str]] | None) -> tuple[tuple[str, str], ...]:
    extra: dict[str, str] = {}
    for kind, phrases in (cues or {}).items():
        if kind not in CUE_KINDS:
            raise ConfigError(
                f"unknown emotion cue kind {kind!r}",
                code="emotion_cue_kind",
                hint=f"use one of: {', '.join(CUE_KINDS)}",
            )
        if isinstance(phrases, str):
            phrases = [phrases]  # one phrase written without list brackets
        for phrase in phrases:
            if not isinstance(phrase, str) or not phrase.strip():
                raise ConfigError(
                    f"emotion cue under {kind!r} must be a non-empty string, got {phrase!r}",
                    code="emotion_cue_invalid",
                    hint="list phrases as plain strings",
                )
            extra[phrase.strip().lower()] = kind
    return tuple(sorted(extra.items()))


def lexicon_detector(cues: Mapping[str, Iterable[str]] | None = None) -> EmotionDetector:
    """Detector over the built-in lexicon plus a ruleset's cues ("negative", "positive", "anger", "urgency")."""
    lexicon = _lexicon(_extra_cues(cues))

    def detector(text: str, language: str) -> Emotion:
        # `language` is part of the detector protocol; the lexicon covers zh and en at once
        return detect(text, lexicon)

    return detector


@hookimpl
def register_emotion_detectors(register: Register) -> None:
    register("lexicon", lexicon_detector)
