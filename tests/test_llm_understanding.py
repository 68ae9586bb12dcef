"""LLM understanding through the engine against the mock vendor: the cascade, repair, entities, privacy."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from llm_support import FIXTURE, SMALL_MODEL, engine, say, write_ruleset
from mock_vendor import Fault, MockVendor

from frontdesk.bootstrap import build_engine
from frontdesk.errors import RulesetError
from frontdesk.llm_service import LLMService
from frontdesk.ruleset import load_ruleset
from frontdesk.store_redis import RedisStore

pytestmark = pytest.mark.anyio


def understood(intent: str, confidence: float = 0.9, emotion: str = "neutral", **entities: str) -> Fault:
    body = {"intent": intent, "confidence": confidence, "entities": entities, "emotion": emotion}
    return Fault(text=json.dumps(body))


async def test_a_confident_offline_answer_calls_no_vendor(mock: MockVendor, llm: LLMService) -> None:
    result = await say(engine(llm), "I want to complain")
    assert mock.received == 0
    assert (result["intent"]["name"], result["explain"]["intent"]["source"]) == ("complaint", "offline")
    notes = result["explain"]["notes"]
    assert any(n.startswith("understanding: offline") and "understand_below 0.6" in n for n in notes)
    assert result["explain"]["model_calls"] == []


async def test_an_unsure_offline_answer_asks_the_model_once(mock: MockVendor, llm: LLMService) -> None:
    mock.script(understood("complaint", 0.85, emotion="negative"))
    result = await say(engine(llm), "hmm")
    assert mock.received == 1
    (request,) = mock.requests
    assert request.body["response_format"] == {"type": "json_object"}
    system = request.body["messages"][0]["content"]
    assert "- product_question: questions about products" in system
    assert '"do you sell umbrellas"' in system
    assert "<customer_message>\nhmm\n</customer_message>" in request.body["messages"][1]["content"]
    assert result["intent"] == {"name": "complaint", "confidence": 0.85}
    assert result["explain"]["intent"]["source"] == "llm"
    assert result["emotion"]["label"] == "negative"
    assert result["reply"]["text"] == "We are sorry to hear that."  # the rules decided on the model's facts
    note = next(n for n in result["explain"]["notes"] if n.startswith("understanding: llm"))
    # the offline score itself is the classifier's business: only that it was under the threshold matters here
    assert re.search(r"offline confidence 0\.[0-5]\d < understand_below 0\.6\)", note), note
    assert "replaces offline out_of_scope" in note


async def test_invalid_output_is_repaired_once_then_the_offline_result_stands(
    mock: MockVendor, llm: LLMService
) -> None:
    result = await say(engine(llm), "hmm")  # the mock answers {"echo": ...}: no intent
    assert mock.received == 2
    first, repair = (r.body["messages"] for r in mock.requests)
    assert repair[-2] == {"role": "assistant", "content": json.dumps({"echo": first[1]["content"]})}
    assert "intent: Field required" in repair[-1]["content"]
    assert result["intent"]["name"] == "out_of_scope"
    assert result["explain"]["intent"]["source"] == "offline"
    assert "llm:understanding_invalid" in result["explain"]["degradations"]
    assert result["reply"]["template"] == "fallback"


async def test_a_repaired_answer_is_used(mock: MockVendor, llm: LLMService) -> None:
    mock.script(understood("refund"), understood("order_status", 0.7))
    result = await say(engine(llm), "hmm")
    assert mock.received == 2
    assert (
        'intent "refund" is not one of: order_status, product_question, complaint, out_of_scope'
        in (mock.requests[1].body["messages"][-1]["content"])
    )
    assert result["intent"] == {"name": "order_status", "confidence": 0.7}
    assert result["reply"]["template"] == "ask_order_id"


async def test_the_ruleset_can_ask_for_the_model_even_when_offline_is_sure(mock: MockVendor, llm: LLMService) -> None:
    mock.script(understood("complaint", 0.95))
    result = await say(engine(llm), "I want to complain", customer={"level": "SVIP"})  # llm.understand_when
    assert mock.received == 1
    assert any("llm.understand_when holds" in n for n in result["explain"]["notes"])


async def test_entities_are_kept_only_when_the_recognizer_confirms_them_in_the_message(
    mock: MockVendor, llm: LLMService
) -> None:
    # the pattern needs word boundaries, so offline misses the number glued to "order#"
    mock.script(understood("order_status", 0.9, order_id="12345678"), Fault(text="It ships today."))
    kept = await say(engine(llm), "order#12345678x ??", "kept", customer={"level": "SVIP"})
    assert kept["slots"] == {"order_id": "12345678"}
    assert kept["entities"] == [{"type": "order_id", "value": "12345678", "text": "12345678", "start": 6, "end": 14}]
    assert kept["reply"]["text"] == "It ships today."  # rule order-known answered with the slot

    mock.script(understood("order_status", 0.9, order_id="99999999", color="red"))
    invented = await say(engine(llm), "order#12345678x ??", "invented", customer={"level": "SVIP"})
    assert invented["slots"] == {} and invented["entities"] == []
    assert any("unconfirmed entities dropped: order_id, color" in n for n in invented["explain"]["notes"])


async def test_a_vendor_outage_leaves_the_offline_result(mock: MockVendor, llm: LLMService) -> None:
    mock.set_default(Fault.error(503))
    result = await say(engine(llm), "hmm")
    assert mock.received == 2  # the retry policy's two attempts
    assert result["explain"]["intent"]["source"] == "offline"
    assert "llm:understanding_unavailable" in result["explain"]["degradations"]
    assert result["reply"]["template"] == "fallback"


async def test_the_vendor_never_sees_an_original_phone_number(
    mock: MockVendor, llm: LLMService, tmp_path: Path
) -> None:
    ruleset = write_ruleset(tmp_path / "facts", customer_facts=["level", "phone"])
    mock.script(understood("product_question", 0.9), Fault(text="We will call ⟨PHONE_1⟩ about the coat."))
    customer = {"level": "SVIP", "phone": "13900139000"}
    said = "call me on 13800138000: is the green coat in stock"
    result = await say(engine(llm, ruleset), said, customer=customer)
    assert mock.received == 2  # understanding, then the answer
    sent = json.dumps([r.body for r in mock.requests], ensure_ascii=False)
    assert "13800138000" not in sent and "13900139000" not in sent
    assert "call me on ⟨PHONE_1⟩" in sent and "- phone: ⟨PHONE_2⟩" in sent
    # the customer's own number is restored in the reply (privacy.restore: [phone])
    assert result["reply"] == {"text": "We will call 13800138000 about the coat.", "template": None, "source": "llm"}
    assert mock.requests[1].model == SMALL_MODEL


async def test_history_reaches_the_model_masked(mock: MockVendor, llm: LLMService) -> None:
    eng = engine(llm)
    await say(eng, "my number is 13800138000", "history")
    mock.reset()
    mock.script(understood("complaint"))
    await say(eng, "hmm", "history")
    prompt = mock.requests[0].body["messages"][1]["content"]
    assert "customer: <customer_message>\nmy number is ⟨PHONE_1⟩\n</customer_message>" in prompt
    assert "13800138000" not in prompt


async def test_history_is_the_transcript_shared_by_workers(
    mock: MockVendor, llm: LLMService, fresh_redis_url: str
) -> None:
    first, second = (RedisStore.from_url(fresh_redis_url) for _ in range(2))
    try:
        one = build_engine([FIXTURE], store=first, services={"llm": llm})
        for i in range(5):
            await say(one, f"I want to complain, number {i}", "shared")
        mock.reset()
        mock.script(understood("complaint"))
        await say(build_engine([FIXTURE], store=second, services={"llm": llm}), "hmm", "shared")
    finally:
        await first.aclose()
        await second.aclose()
    prompt = mock.requests[0].body["messages"][1]["content"]
    shown = re.findall(r"complain, number (\d)", prompt)
    assert shown == ["1", "2", "3", "4"]  # llm.history_turns (4) of them, oldest first
    assert prompt.count("assistant: We are sorry to hear that.") == 4


def test_understand_when_is_checked_like_a_rule(tmp_path: Path) -> None:
    folder = write_ruleset(tmp_path / "bad", understand_when={"customer.level": "VIP", "slots.nope": {"present": True}})
    with pytest.raises(RulesetError) as info:
        load_ruleset(folder)
    assert [(p.code, p.line) for p in info.value.problems] == [("unknown-fact", 11)]  # the understand_when line
