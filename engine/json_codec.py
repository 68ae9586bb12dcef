"""JSON for the hot path: orjson, with the standard library behind it for what orjson refuses.

orjson encodes and decodes several times faster than `json`, which matters
because every turn encodes its state, result, transcript entry and response.
It refuses two things a customer message can legitimately carry through the
engine: lone surrogates (`"\\ud800"` is valid JSON text) and integers beyond
64 bits (it writes none and reads them as floats). Those rare values take the
standard library's path, so the result is the same either way (compact
UTF-8 output, non-ASCII kept as is; integers exact).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_SEPARATORS = (",", ":")
# orjson reads an integer beyond [-2**63, 2**64) as a float: text with a run of 19 or more digits
# takes the standard library's exact path. Found by mapping digits to "0" and the rest to " " and
# searching the run: both in C, a fraction of what a regular expression over the text costs.
_DIGITS_AS_ZEROS = bytes(48 if 48 <= b <= 57 else 32 for b in range(256))
_LONG_RUN = b"0" * 19


def dumps(obj: Any, *, sort_keys: bool = False) -> bytes:
    """Compact UTF-8 JSON; lone surrogates are written as escapes rather than refused."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS if sort_keys else 0)
    except TypeError:
        text = json.dumps(obj, ensure_ascii=False, separators=_SEPARATORS, sort_keys=sort_keys)
        return text.encode("utf-8", "backslashreplace")


def dumps_str(obj: Any, *, sort_keys: bool = False) -> str:
    """`dumps` as text, for APIs that want `str` (Redis arguments, files)."""
    try:
        return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode()
    except TypeError:
        # All-ASCII escapes: the text stays encodable even with a lone surrogate in it.
        return json.dumps(obj, separators=_SEPARATORS, sort_keys=sort_keys)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON; raises `json.JSONDecodeError` (a ValueError) on invalid text, like `json.loads`."""
    if isinstance(data, memoryview):
        data = bytes(data)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if _LONG_RUN not in raw.translate(_DIGITS_AS_ZEROS):  # digits inside a string just take the slower path
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)
