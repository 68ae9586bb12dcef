"""Offline understanding, the embedded default: intent, entities, emotion, dialogue state.

Uses what the ruleset loaded (its trained classifier, recognizers and emotion
detector). An LLM plugin may refine the result later in the same stage.
"""

from __future__ import annotations

import re

from frontdesk.dialog import fill_slots, track_expectation
from frontdesk.hookspecs import hookimpl
from frontdesk.ruleset_model import OUT_OF_SCOPE
from frontdesk.types import IntentResult, Turn

# runs, not single characters: counting them is one regex pass and a few lengths
_CJK = re.compile("[\u4e00-\u9fff]+")
_LATIN = re.compile("[A-Za-z]+")


def detect_language(text: str, default: str) -> str:
    """zh when CJK characters make up a real share of the letters, en when Latin letters dominate."""
    sample = text[:2000]
    cjk = 0 if sample.isascii() else sum(map(len, _CJK.findall(sample)))
    latin = sum(map(len, _LATIN.findall(sample)))
    if cjk == 0 and latin == 0:
        return default
    return "zh" if cjk * 3 >= latin else "en"


@hookimpl(tryfirst=True)
def understand(turn: Turn) -> None:
    ruleset, text = turn.ruleset, turn.message.text
    language = detect_language(text, ruleset.spec.language)
    turn.flags["language"] = language
    ranked = ruleset.classifier.predict(text, top=3) if text.strip() else []
    name, confidence = ranked[0] if ranked else (None, 0.0)
    if name is None or confidence < ruleset.intent_threshold:
        name = OUT_OF_SCOPE
    turn.intent = IntentResult(name, confidence, ranked, "offline")
    turn.entities = ruleset.recognize(text, turn.message.timestamp)
    turn.emotion = ruleset.emotion(text, language)
    track_expectation(turn, fill_slots(turn))
