"""The only module that imports `durable`: runs compiled rulesets one turn at a time.

durable-rules 2.0.28 is fast but has defects (DESIGN.md); this module and the
compiler wall them off:
- it drives the C engine (`durable_rules_engine`) directly: the Python `Host`
  starts timer threads that race our calls, mutates its input and spends most
  of a turn in per-action Python glue;
- one session (sid) per loaded ruleset, reused by every turn: the turn's fact is
  asserted, its actions consumed, and the fact retracted before returning. So the
  1,024-sessions-per-ruleset limit is never approached, no turn leaves anything
  behind (rule memory lives in the conversation store), and the engine skips its
  costly per-session set-up (≈30 µs instead of ≈300 µs a turn at 200 rules);
- actions are always consumed before anything else touches the session
  (deleting a session with pending actions corrupts the heap);
- a lowest-priority catch-all rule (added by the compiler) handles every fact, so
  no turn is ever "unhandled" (the unhandled-message + delete_state segfault);
- every fact gets a unique `id`, so identical turns are never de-duplicated;
- facts hold only flat strings, numbers and 1s (never lists) under the compiler's generated
  property names, so their JSON is written here directly, without `json.dumps`' set-up cost;
- an action message is `{"<rule id>":{"m":<fact>}}`, one rule per action (durable's own `Host`
  reads only the first key too); rule ids are plain names, so the name is sliced out rather
  than the whole fact parsed back;
- one lock per ruleset serialises calls (the C engine is not re-entrant).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from json.encoder import encode_basestring
from typing import Any

import durable_rules_engine as engine

from frontdesk.errors import RuntimeRulesError

CATCH_ALL = "__frontdesk_catch_all__"
TURN_MARKER = ("fdkind", "turn")
_HANDLED = 0
SID = "turns"
_FACT_TAIL = f'"sid":"{SID}","id":"turn-%d","{TURN_MARKER[0]}":"{TURN_MARKER[1]}"}}'
_encode = json.JSONEncoder(ensure_ascii=False).encode


def fact_json(facts: dict[str, Any], turn: int) -> str:
    """One turn's fact as JSON text, values encoded as `json.dumps(..., ensure_ascii=False)` does."""
    parts = ["{"]
    for key, value in facts.items():
        kind = type(value)
        text = encode_basestring(value) if kind is str else str(value) if kind is int else _encode(value)
        parts.append(f'"{key}":{text},')
    parts.append(_FACT_TAIL % turn)
    return "".join(parts)


class RulesRuntime:
    """One compiled ruleset loaded into the durable-rules C engine."""

    _ids = itertools.count(1)

    def __init__(self, name: str, definition: dict[str, Any]) -> None:
        self.name = f"{name}-{next(self._ids)}"
        self._lock = threading.Lock()
        self._turns = itertools.count(1)  # unique fact ids: identical turns are never de-duplicated
        self._rules = frozenset(definition)
        try:
            self._handle = engine.create_ruleset(self.name, json.dumps(definition, ensure_ascii=False))
        except Exception as exc:  # durable raises bare errors with numeric codes
            raise RuntimeRulesError(
                f"durable-rules refused the compiled ruleset: {exc}",
                hint="this is a compiler defect: please report it with the ruleset",
            ) from exc

    def fire(self, facts: dict[str, Any]) -> list[str]:
        """Assert one turn's facts; return the names of the rules that matched, in engine order."""
        with self._lock:
            text = fact_json(facts, next(self._turns))
            fired: list[str] = []
            try:
                code, state = engine.assert_fact(self._handle, text)
                if code == _HANDLED:
                    result = engine.start_action_for_state(self._handle, state)
                    while result:
                        fired.append(self._rule_of(result[1] if isinstance(result, tuple | list) else result))
                        result = engine.complete_and_start_action(self._handle, state)
            except Exception as exc:
                raise RuntimeRulesError(f"durable-rules failed on a turn: {exc}") from exc
            finally:
                self._forget(text)
            # a rule fires once per matching alternative of an `$or`; report it once
            return [name for name in dict.fromkeys(fired) if name != CATCH_ALL]

    def _rule_of(self, message: str) -> str:
        """The rule an action message `{"<rule id>":{"m":<fact>}}` names."""
        name = message[2 : message.find('"', 2)]
        return name if name in self._rules else next(iter(json.loads(message)))

    def _forget(self, text: str) -> None:
        """Retract the turn's fact; if the engine refuses, drop the whole session instead."""
        try:
            engine.retract_fact(self._handle, text)
        except Exception:
            with contextlib.suppress(Exception):  # a rejected fact never created the session
                engine.delete_state(self._handle, SID)

    def close(self) -> None:
        engine.delete_ruleset(self._handle)
