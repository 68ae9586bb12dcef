"""Turns through the whole pipeline (understand -> decide -> act) on the fixture ruleset."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from frontdesk.bootstrap import build_engine
from frontdesk.errors import Conflict, PayloadTooLarge
from frontdesk.store import MemoryStore
from frontdesk.types import Message

FIXTURE = Path(__file__).parent / "fixtures" / "mini"
MONDAY_10 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)  # London is UTC in January
SATURDAY_10 = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def engine():
    return build_engine([FIXTURE])


def say(engine, text, conversation="c", at=MONDAY_10, ruleset_name=None, **kw):
    return asyncio.run(engine.handle(Message(text, conversation_id=conversation, timestamp=at, **kw), ruleset_name))


def test_slot_is_asked_for_then_filled_and_the_topic_carries_over(engine):
    first = say(engine, "where is my order", "slots")
    assert first["reply"]["template"] == "ask_order_id"
    second = say(engine, "it is 12345678", "slots")
    assert second["intent"]["name"] == "order_status"
    assert second["slots"] == {"order_id": "12345678"}
    assert second["reply"]["text"] == "Order 12345678 is being processed."
    assert second["explain"]["intent"]["source"] == "carried"


def test_reask_limit_exhausted_hands_off(engine):
    say(engine, "where is my order", "reask")
    say(engine, "hmm", "reask")  # re-ask 1 (limit 1)
    third = say(engine, "no idea", "reask")
    assert third["handoff"]["queue"] == "general"
    assert "gave-up" in [r["id"] for r in third["explain"]["rules"]]


def test_window_rule_counts_within_the_duration_only(engine):
    def complaints(conversation, gaps):
        at, results = MONDAY_10, []
        for gap in gaps:
            at += timedelta(minutes=gap)
            results.append(say(engine, "this is terrible service", conversation, at=at))
        return [[a["type"] for a in r["actions"]] for r in results]

    assert complaints("w1", [0, 1, 1]) == [[], [], ["ticket"]]
    assert complaints("w2", [0, 6, 6]) == [[], [], []]  # the first fell out of the 10 minutes
    assert complaints("w3", [0, 1, 1, 1, 1, 1]) == [[], [], ["ticket"], [], [], ["ticket"]]  # resets


def test_rule_memory_lives_in_the_store_not_the_engine():
    store = MemoryStore()
    first = build_engine([FIXTURE], store=store)
    say(first, "this is terrible service", "mem")
    say(first, "this is terrible service", "mem", at=MONDAY_10 + timedelta(minutes=1))
    for i in range(1100):  # more conversations than durable-rules keeps sessions for
        say(first, "hello", f"other-{i}")
    restarted = build_engine([FIXTURE], store=store)
    third = say(restarted, "this is terrible service", "mem", at=MONDAY_10 + timedelta(minutes=2))
    assert [a["type"] for a in third["actions"]] == ["ticket"]


def test_business_hours_decide_between_rules(engine):
    open_ = say(engine, "talk to a human", "bh1", at=MONDAY_10)
    closed = say(engine, "talk to a human", "bh2", at=SATURDAY_10)
    assert open_["reply"]["template"] == "handoff_open" and open_["handoff"]["queue"] == "general"
    assert closed["reply"]["template"] == "handoff_closed" and closed["handoff"] is None
    assert [a["type"] for a in closed["actions"]] == ["ticket"]


def test_priority_and_stop_resolve_conflicts(engine):
    result = say(engine, "I want to complain, this is unacceptable", "vip", customer={"level": "VIP"})
    assert [r["id"] for r in result["explain"]["rules"]] == ["vip-complaint"]
    assert {s["rule"] for s in result["explain"]["suppressed"]} == {"complaint", "repeated-complaint"}
    assert result["handoff"] == {"queue": "vip", "priority": "high", "rule": "vip-complaint"}
    assert [a["type"] for a in result["actions"]] == ["handoff", "tag"]


def test_text_rules_match_with_python_regular_expressions(engine):
    anonymous = say(engine, "please cancel it", "rx1")
    named = say(engine, "please cancel it", "rx2", customer={"name": "Ann"})
    assert anonymous["reply"]["text"] == "Cancellation noted for you."
    assert named["reply"]["text"] == "Cancellation noted for Ann."


def test_out_of_scope_gets_the_fallback(engine):
    result = say(engine, "what is the capital of peru", "oos")
    assert result["intent"]["name"] == "out_of_scope"
    assert result["reply"] == {"text": "Sorry, I did not get that.", "template": "fallback", "source": "fallback"}


def test_same_message_id_returns_the_same_result_once(engine):
    first = say(engine, "this is terrible service", "idem", message_id="m-1")
    again = say(engine, "this is terrible service", "idem", message_id="m-1")
    assert again == first
    transcript = asyncio.run(engine.store.transcript("idem"))
    assert len(transcript) == 1


def test_explain_shows_candidates_matches_and_timings(engine):
    result = say(engine, "where is my package", "ex")
    explain = result["explain"]
    assert explain["intent"]["candidates"][0]["name"] == "order_status"
    assert len(explain["intent"]["candidates"]) == 3
    assert explain["rules"][0]["matched"] == {"intent": "order_status", "slots.order_id": None}
    assert set(explain["timings_us"]) == {"guard_input", "mask", "understand", "decide", "act", "guard_output"}


@pytest.mark.parametrize(
    "text",
    ["", "   ", "😀😀😀", "\ud800 lone surrogate", "ctrl\x00\x01\x1b[31m", "混合 mixed スクリプト عربى", "a" * 3999],
)
def test_any_text_gives_a_result(engine, text):
    result = say(engine, text, "weird")
    assert result["reply"] is not None
    assert isinstance(result["intent"]["name"], str)


def test_overlong_text_is_a_clear_error(engine):
    with pytest.raises(PayloadTooLarge) as info:
        say(engine, "a" * 100_000, "long")
    assert info.value.code == "message_too_long"
    assert "max_message_length" in info.value.hint


@pytest.fixture(scope="module")
def two_rulesets():
    samples = Path(__file__).parents[1] / "rulesets"
    return build_engine([samples / "bank-en", samples / "shop-zh"])  # bank-en is the default


def test_a_conversation_stays_with_the_ruleset_it_began_with(two_rulesets):
    first = say(two_rulesets, "我的订单到哪了", "sticky", ruleset_name="shop-zh")
    assert first["ruleset"]["name"] == "shop-zh" and first["reply"]["template"] == "ask_order_id"
    second = say(two_rulesets, "订单号 202311220001234", "sticky")  # no ruleset named: the conversation's
    assert second["ruleset"]["name"] == "shop-zh"
    assert second["slots"] == {"order_id": "202311220001234"}
    state = asyncio.run(two_rulesets.store.load("sticky"))
    assert state is not None and state.ruleset == "shop-zh"
    other = say(two_rulesets, "I lost my card", "fresh")  # a new conversation naming none: the default
    assert other["ruleset"]["name"] == "bank-en"


def test_naming_another_ruleset_mid_conversation_is_refused_and_saves_nothing(two_rulesets):
    say(two_rulesets, "我要退款", "switch", ruleset_name="shop-zh")
    with pytest.raises(Conflict) as info:
        say(two_rulesets, "I lost my card", "switch", ruleset_name="bank-en")
    assert info.value.code == "ruleset_mismatch" and "shop-zh" in info.value.hint
    state = asyncio.run(two_rulesets.store.load("switch"))
    assert state is not None and state.turn == 1 and state.ruleset == "shop-zh"
    again = say(two_rulesets, "我要退款", "switch", ruleset_name="shop-zh")  # the same one: fine
    assert again["ruleset"]["name"] == "shop-zh"


def test_a_conversation_whose_ruleset_is_no_longer_loaded_may_continue_on_another():
    store = MemoryStore()
    engine = build_engine([Path(__file__).parents[1] / "rulesets" / "shop-zh"], store=store)
    say(engine, "我要退款", "moved")

    def retire() -> None:
        state = asyncio.run(store.load("moved"))
        assert state is not None
        state.ruleset = "retired-ruleset"
        asyncio.run(store.save(state))

    retire()
    assert say(engine, "开发票", "moved")["ruleset"]["name"] == "shop-zh"  # named none: the default
    retire()
    assert say(engine, "你好", "moved", ruleset_name="shop-zh")["ruleset"]["name"] == "shop-zh"
    state = asyncio.run(store.load("moved"))
    assert state is not None and state.ruleset == "shop-zh" and state.turn == 3
