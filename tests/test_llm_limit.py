"""The `limit` degradation: while its thresholds hold, a worker's model calls are capped (counted at the mock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_support import Clock, engine, say, service
from mock_vendor import Fault, MockVendor

from frontdesk.cli import main
from frontdesk.http_app import create_app
from frontdesk.llm_service import LLMService, stream_turn
from frontdesk.settings import Settings
from frontdesk.types import Message

pytestmark = pytest.mark.anyio
BUSY = {"text": "Our assistant is busy; please try again in a minute.", "template": "try_later", "source": "fallback"}
# the breaker stays out of the way: these tests are about the degradation policy
BREAKER = {"min_calls": 4, "error_rate": 0.9, "slow_call_seconds": 30}


@pytest.fixture(autouse=True)
def _clean(mock: MockVendor) -> None:
    mock.reset()


def limited_service(mock: MockVendor, clock: Clock, *actions: str, **limit: int) -> LLMService:
    step = {"p99_latency_ms": 100, "error_rate": 0.1, "match": "all", "action": ["limit", *actions], "limit": limit}
    return service(mock, clock=clock, routing={"breaker": BREAKER}, degradation={"window_seconds": 10, "steps": [step]})


async def post_all(client: httpx.AsyncClient, texts: list[str], prefix: str, **extra: Any) -> list[dict[str, Any]]:
    """The turns at once over HTTP; every one must be a 200."""

    async def post(i: int, text: str) -> httpx.Response:
        body = {"conversation_id": f"{prefix}-{i}", "user_id": f"{prefix}-{i}", "text": text, **extra}
        return await client.post("/v1/messages?explain=1", json=body)

    responses = await asyncio.gather(*(post(i, text) for i, text in enumerate(texts)))
    assert [r.status_code for r in responses] == [200] * len(texts), [r.text for r in responses if r.is_error]
    return [r.json() for r in responses]


def questions(n: int, tag: str) -> list[str]:
    return [f"do you sell umbrellas in size {tag}{i}" for i in range(n)]


async def test_over_the_thresholds_calls_are_capped_and_the_rest_degrade(mock: MockVendor, tmp_path: Path) -> None:
    clock = Clock()
    svc = limited_service(mock, clock, "serve_cached", concurrent=3)
    app = create_app(Settings(audit_dir=tmp_path), engine=engine(svc))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fd") as client:
            # slow but not failing: `match: all` keeps the limit off
            mock.set_default(Fault.latency(0.15))
            slow = await post_all(client, questions(8, "slow"), "slow")
            assert mock.peak_in_flight > 3
            # a cached answer, on the primary tier only
            vip = await post_all(client, ["are the gloves waterproof"], "vip", customer={"level": "VIP"})
            # slow and failing: two failed first tries among 13 calls
            mock.script(Fault.error(500), Fault.error(500))
            await post_all(client, questions(2, "failing"), "failing")
            clock.offset += 1  # past the moment a verdict is reused
            mock.reset()
            mock.set_default(Fault.latency(1.0))  # the admitted calls are still running when the rest arrive
            burst = await post_all(client, [*questions(19, "burst"), "are the gloves waterproof"], "burst")
            assert (mock.received, mock.peak_in_flight) == (3, 3)
            clock.offset += 11  # the slow and failing calls leave the 10 s window
            mock.reset()
            mock.set_default(Fault.latency(0.3))
            recovered = await post_all(client, questions(8, "recovered"), "recovered")
            assert mock.peak_in_flight > 3
    finally:
        await svc.aclose()
    for r in slow + recovered:
        assert r["reply"]["source"] == "llm" and r["explain"]["degradations"] == []
        assert not any("limit" in note for note in r["explain"]["notes"])
    answered = [r for r in burst if r["reply"]["source"] == "llm"]
    refused = [r for r in burst if r["reply"]["source"] != "llm"]
    assert len(answered) == 3 and len(refused) == 17
    for r in burst:  # every turn says the limit is in force, and why
        in_force = "llm degraded to limit (concurrent 3; over it: serve_cached): p99 "
        assert any(note.startswith(in_force) for note in r["explain"]["notes"])
    for r in answered:
        assert r["explain"]["degradations"] == []
    for r in refused:
        assert r["explain"]["degradations"][0] == "llm:limit"
        assert [call["outcome"] for call in r["explain"]["model_calls"]] in ([], ["cache_hit"])
        assert any(
            "over the llm limit: 3 model calls in flight on this worker, limit.concurrent 3 (p99 " in note
            for note in r["explain"]["notes"]
        )
    *others, gloves = refused
    assert gloves["reply"] == {**vip[0]["reply"], "source": "cache"}  # serve_cached: the primary tier's answer
    assert gloves["explain"]["degradations"] == ["llm:limit", "llm:cached_answer"]
    for r in others:
        assert r["reply"] == BUSY and r["explain"]["degradations"] == ["llm:limit", "llm:fallback_reply"]
    assert svc.gate.in_flight == 0


async def test_a_limit_with_templates_only_gives_the_turns_over_it_templates(mock: MockVendor) -> None:
    clock = Clock()
    svc = limited_service(mock, clock, "templates_only", per_second=2)
    eng = engine(svc)
    try:
        mock.set_default(Fault.latency(0.15))
        cached = await say(eng, "are the gloves waterproof", "vip", customer={"level": "VIP"})
        mock.script(Fault.error(500))
        for i, text in enumerate(questions(4, "warm")):
            await say(eng, text, f"warm-{i}")
        clock.offset += 1  # a new second, and past the moment a verdict is reused
        mock.reset()
        mock.set_default(None)
        turns = [await say(eng, text, f"turn-{i}") for i, text in enumerate(questions(2, "turn"))]
        gloves = await say(eng, "are the gloves waterproof", "gloves")  # a third call in the same second
        unsure = await say(eng, "hmm", "unsure")  # understanding would ask the model: it stays offline
        assert mock.received == 2
        clock.offset += 1  # the next second admits calls again
        later = await say(eng, "do you have wool socks", "later")
    finally:
        await svc.aclose()
    assert [t["reply"]["source"] for t in turns] == ["llm", "llm"] and later["reply"]["source"] == "llm"
    assert cached["reply"]["source"] == "llm"
    # the cached answer of the primary tier does not stand in: the step says templates
    assert gloves["reply"] == BUSY and gloves["explain"]["degradations"] == ["llm:limit", "llm:fallback_reply"]
    note = "over the llm limit: 2 model calls started on this worker in the last second, limit.per_second 2"
    assert any(note in n for n in gloves["explain"]["notes"])
    assert unsure["explain"]["degradations"] == ["llm:limit"] and unsure["explain"]["model_calls"] == []
    offline = "understanding: offline (offline confidence"
    assert any(n.startswith(offline) and note in n for n in unsure["explain"]["notes"])
    assert mock.received == 3


def test_models_check_validates_limit_steps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "models.yaml"
    head = (
        "vendors: {oa: {kind: openai, base_url: 'http://x/v1'}}\n"
        "models: {a: {vendor: oa, model: m, context_window: 8000}}\n"
        "tiers: {primary: [a]}\n"
        "degradation:\n"
        "  steps:\n"
    )
    path.write_text(
        head + "    - {p99_latency_ms: 1500, error_rate: 0.1, match: all, action: [limit, serve_cached]}\n"
        "    - {error_rate: 0.5, action: limit, limit: {concurent: 2}}\n",
        encoding="utf-8",
    )
    assert main(["models", "check", str(path)]) == 1
    found = capsys.readouterr().out.splitlines()
    assert found[0].startswith(f"{path}:6:7: limit-missing `degradation.steps.[0].limit`: the limit action needs")
    assert found[1].startswith(f"{path}:7:48: unknown-key unknown key `concurent` — did you mean `concurrent`?")
    assert found[2] == "2 problem(s)"
    path.write_text(
        head + "    - {p99_latency_ms: 1500, error_rate: 0.1, match: all, action: [limit, serve_cached],\n"
        "       limit: {concurrent: 8, per_second: 20}}\n",
        encoding="utf-8",
    )
    assert main(["models", "check", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == [
        "  degradation: p99 > 1500 ms and errors > 10% → limit (concurrent 8, per_second 20), serve_cached"
    ]


async def test_a_stream_holds_its_place_under_the_limit_until_it_ends(mock: MockVendor) -> None:
    clock = Clock()
    svc = limited_service(mock, clock, "serve_cached", concurrent=1)
    eng = engine(svc)
    try:
        mock.set_default(Fault.latency(0.15))
        mock.script(Fault.error(500))
        for i, text in enumerate(questions(4, "warm")):
            await say(eng, text, f"warm-{i}")
        clock.offset += 1
        mock.reset()
        mock.set_default(Fault.slow_stream(0.02))  # about a second of text
        streaming = asyncio.create_task(
            collect(stream_turn(eng, Message("do you have wool socks", conversation_id="streamed")))
        )
        while mock.in_flight == 0:
            await asyncio.sleep(0.01)
        refused = await say(eng, "are the gloves waterproof", "refused")
        deltas, result = await streaming
        assert svc.gate.in_flight == 0
        admitted = await say(eng, "is the red jacket in stock", "admitted")  # the stream's place is free again
    finally:
        await svc.aclose()
    assert result["reply"]["source"] == "llm" and "".join(deltas) == result["reply"]["text"]
    assert refused["reply"] == BUSY and refused["explain"]["degradations"] == ["llm:limit", "llm:fallback_reply"]
    assert admitted["reply"]["source"] == "llm" and mock.peak_in_flight == 1


async def collect(events: AsyncIterator[tuple[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    deltas: list[str] = []
    async for kind, value in events:
        if kind == "result":
            return deltas, value
        deltas.append(value)
    raise AssertionError("no result")
