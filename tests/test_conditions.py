"""Compiled conditions agree with the reference evaluation, fact for fact."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.conditions import Atom, as_number, canon, compile_predicate, eval_atom, is_missing

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**13), 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "VIP", "3", "3.0", "true", "abc", "cancel it", "1e3"]),
    st.text(max_size=6),
)
FACTS = st.one_of(SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.text(max_size=2), SCALARS, max_size=2))
ATOMS = st.one_of(
    st.builds(
        Atom,
        st.just("f"),
        st.sampled_from(["eq", "ne", "contains"]),
        SCALARS.filter(lambda v: v is not None),
        st.just(()),
    ),
    st.builds(
        Atom,
        st.just("f"),
        st.sampled_from(["in", "not_in"]),
        st.lists(SCALARS.filter(lambda v: v is not None), min_size=1, max_size=3),
        st.just(()),
    ),
    st.builds(
        Atom,
        st.just("f"),
        st.sampled_from(["gt", "gte", "lt", "lte"]),
        st.one_of(st.integers(-5, 5), st.floats(-5, 5)),
        st.just(()),
    ),
    st.builds(Atom, st.just("f"), st.sampled_from(["missing", "present"]), st.booleans(), st.just(())),
    st.builds(
        Atom,
        st.just("f"),
        st.sampled_from(["matches", "not_matches"]),
        st.sampled_from(["a", "^3", "cancel|stop", "^$", "(?i)vip"]).map(re.compile),
        st.just(()),
    ),
)


@settings(max_examples=1500, deadline=None)
@given(ATOMS, FACTS, st.booleans())
def test_compiled_atom_agrees_with_eval_atom(atom: Atom, fact: object, present: bool) -> None:
    facts = {"f": fact} if present else {}
    assert compile_predicate(atom)(facts) == eval_atom(atom, facts)


class Text(str):
    """A str subclass: the fast paths test for exact types and must not change its answer."""


def test_helpers_keep_their_meaning_for_edge_values() -> None:
    assert [is_missing(v) for v in (None, "", [], {}, Text(""), 0, 0.0, False, (), "x")] == [
        True, True, True, True, True, False, False, False, False, False,
    ]  # fmt: skip
    assert [canon(v) for v in ("a", Text("b"), True, 3.0, 2.5, 7)] == ["a", "b", "true", "3", "2.5", "7"]
    assert [as_number(v) for v in (5, 10**12, 10**12 + 1, -(10**12), 10**400, True, "2.5", "x")] == [
        5.0, 1e12, None, -1e12, None, None, 2.5, None,
    ]  # fmt: skip
    assert compile_predicate(Atom("t", "matches", re.compile("b"), ()))({"t": Text("abc")})
