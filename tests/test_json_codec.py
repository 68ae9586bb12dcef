"""engine/json_codec.py: orjson's speed without losing what the standard library accepts."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk import json_codec

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_matches_the_standard_library(value: object) -> None:
    encoded = json_codec.dumps(value)
    assert json_codec.loads(encoded) == json.loads(encoded.decode("utf-8")) == value
    assert json_codec.loads(json_codec.dumps_str(value)) == value


@pytest.mark.parametrize("n", [2**64, 10**29 + 1, -(2**63) - 1, 2**64 - 1, -(2**63)])
def test_integers_beyond_64_bits_are_read_exactly(n: int) -> None:
    assert json_codec.loads(str(n)) == n and json_codec.loads(f"[{n}]".encode()) == [n]
    assert isinstance(json_codec.loads(memoryview(f'{{"n": {n}}}'.encode()))["n"], int)


def test_lone_surrogates_and_huge_integers_take_the_fallback() -> None:
    value = {"text": "a\ud800b", "n": 2**80 + 1}
    assert json_codec.loads(json_codec.dumps(value)) == value
    text = json_codec.dumps_str(value)
    text.encode("utf-8")  # encodable: Redis and files take it
    assert json_codec.loads(text) == value


def test_sorted_keys_and_compact_output() -> None:
    assert json_codec.dumps({"b": 1, "a": "é"}, sort_keys=True) == '{"a":"é","b":1}'.encode()


def test_invalid_json_raises_a_value_error() -> None:
    with pytest.raises(ValueError):
        json_codec.loads(b"{not json")
