"""The HTTP app in process (httpx over ASGI) on the embedded MemoryStore: endpoints,
errors and limits, trace ids, the catch-all, and the `frontdesk serve` command line.
Multi-process behaviour with Redis is in test_http_redis.py."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from frontdesk.bootstrap import build_engine
from frontdesk.http_app import create_app
from frontdesk.http_schema import ERROR_CODES
from frontdesk.pipeline import Engine
from frontdesk.settings import Settings
from frontdesk.store import MemoryStore
from frontdesk.types import ConversationState

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "fixtures" / "mini"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def mini_engine() -> Engine:
    return build_engine([MINI])


def fresh(engine: Engine, store: Any = None) -> Engine:
    """The loaded rulesets over a new store: tests do not see each other's conversations."""
    return Engine(engine.rulesets, store or MemoryStore(), engine.pm, engine.default_ruleset, engine.services)


Factory = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def make_client(mini_engine: Engine, tmp_path: Path) -> AsyncIterator[Factory]:
    clients: list[httpx.AsyncClient] = []

    def make(store: Any = None, **settings: Any) -> httpx.AsyncClient:
        app = create_app(Settings(**{"audit_dir": tmp_path, **settings}), engine=fresh(mini_engine, store))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fd")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def client(make_client: Factory) -> httpx.AsyncClient:
    return make_client()


def msg(text: str, conversation_id: str = "c1", **extra: Any) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "user_id": "alice", "text": text, **extra}


def error(response: httpx.Response, status: int, code: str) -> str:
    """Assert a documented error; returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "hint"}
    assert body["error"]["code"] == code
    assert ERROR_CODES[code][0] == status
    assert response.headers["x-trace-id"]
    return body["error"]["message"]


# --- turns --------------------------------------------------------------------------


async def test_a_message_returns_the_turn_without_explain(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/messages", json=msg("where is my order", channel="web"))
    assert response.status_code == 200
    body = response.json()
    assert body["reply"] == {
        "text": "Please tell me your order number.",
        "template": "ask_order_id",
        "source": "template",
    }
    assert body["intent"]["name"] == "order_status"
    assert body["conversation_id"] == "c1" and body["message_id"]
    assert body["trace_id"] == response.headers["x-trace-id"]
    assert "explain" not in body


@pytest.mark.parametrize("flag", ["1", "true"])
async def test_explain_adds_the_decision_trace(client: httpx.AsyncClient, flag: str) -> None:
    response = await client.post(f"/v1/messages?explain={flag}", json=msg("where is my order"))
    explain = response.json()["explain"]
    assert [r["id"] for r in explain["rules"]] == ["needs-id"]
    assert set(explain["timings_us"]) >= {"understand", "decide", "act"}
    assert explain["degradations"] == []


async def test_a_conversation_carries_slots_and_the_transcript(client: httpx.AsyncClient) -> None:
    await client.post("/v1/messages", json=msg("where is my order"))
    second = (await client.post("/v1/messages", json=msg("12345678"))).json()
    assert second["slots"] == {"order_id": "12345678"}
    assert second["reply"]["text"] == "Order 12345678 is being processed."
    conversation = (await client.get("/v1/conversations/c1")).json()
    assert conversation["state"]["turn"] == 2 and conversation["state"]["user_id"] == "alice"
    assert [e["user"] for e in conversation["transcript"]] == ["where is my order", "12345678"]
    assert conversation["transcript"][1]["message_id"] == second["message_id"]


async def test_customer_facts_and_the_ruleset_field_reach_the_rules(client: httpx.AsyncClient) -> None:
    body = msg("this is terrible service", customer={"level": "VIP"}, ruleset="mini")
    result = (await client.post("/v1/messages", json=body)).json()
    assert result["handoff"]["queue"] == "vip"
    assert [a["type"] for a in result["actions"]] == ["handoff", "tag"]


async def test_a_conversation_keeps_its_ruleset_and_refuses_another(tmp_path: Path) -> None:
    samples = ROOT / "rulesets"
    engine = build_engine([samples / "bank-en", samples / "shop-zh"])  # bank-en is the default
    app = create_app(Settings(audit_dir=tmp_path), engine=engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fd") as client:
        first = await client.post("/v1/messages", json=msg("我的订单到哪了", "zh-1", ruleset="shop-zh"))
        assert first.json()["ruleset"]["name"] == "shop-zh"
        second = (await client.post("/v1/messages", json=msg("订单号 202311220001234", "zh-1"))).json()
        assert second["ruleset"]["name"] == "shop-zh" and second["slots"] == {"order_id": "202311220001234"}
        refused = await client.post("/v1/messages", json=msg("I lost my card", "zh-1", ruleset="bank-en"))
        assert "shop-zh" in error(refused, 409, "ruleset_mismatch")
        state = (await client.get("/v1/conversations/zh-1")).json()["state"]
        assert state["ruleset"] == "shop-zh" and state["turn"] == 2


async def test_a_repeated_message_id_returns_the_first_result(client: httpx.AsyncClient) -> None:
    first, *repeats = await asyncio.gather(
        *(client.post("/v1/messages", json=msg("where is my order", message_id="m-1")) for _ in range(4))
    )
    assert all(r.json() == first.json() for r in repeats)
    later = await client.post("/v1/messages", json=msg("a different text", message_id="m-1"))
    assert later.json() == first.json()
    assert later.headers["x-trace-id"] != first.json()["trace_id"]  # the header is this request's
    conversation = (await client.get("/v1/conversations/c1")).json()
    assert len(conversation["transcript"]) == 1 and conversation["state"]["turn"] == 1


async def test_lone_surrogates_sent_by_channels_are_accepted(client: httpx.AsyncClient) -> None:
    body = b'{"conversation_id": "c1", "user_id": "u", "text": "where is my order \\ud83d"}'
    response = await client.post("/v1/messages", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert response.json()["intent"]["name"] == "order_status"


# --- trace ids ----------------------------------------------------------------------


async def test_a_w3c_traceparent_sets_the_trace_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/messages", json=msg("hi"), headers={"traceparent": TRACEPARENT})
    assert response.headers["x-trace-id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert response.json()["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.mark.parametrize("header", ["garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01", ""])
async def test_an_invalid_traceparent_gets_a_new_trace_id(client: httpx.AsyncClient, header: str) -> None:
    first = await client.get("/healthz", headers={"traceparent": header})
    second = await client.get("/healthz", headers={"traceparent": header})
    assert re.fullmatch("[0-9a-f]{32}", first.headers["x-trace-id"])
    assert first.headers["x-trace-id"] not in (second.headers["x-trace-id"], "0" * 32)


# --- conversations, close, erasure --------------------------------------------------


async def test_an_unknown_conversation_is_404(client: httpx.AsyncClient) -> None:
    error(await client.get("/v1/conversations/nope"), 404, "conversation_not_found")
    error(await client.post("/v1/conversations/nope/close"), 404, "conversation_not_found")


async def test_ids_with_slashes_and_non_ascii_work_in_paths(client: httpx.AsyncClient) -> None:
    await client.post("/v1/messages", json=msg("hi", conversation_id="wx/会话 1"))
    response = await client.get("/v1/conversations/wx%2F%E4%BC%9A%E8%AF%9D%201")
    assert response.status_code == 200 and response.json()["conversation_id"] == "wx/会话 1"
    assert (await client.post("/v1/conversations/wx%2F%E4%BC%9A%E8%AF%9D%201/close")).json()["status"] == "closed"


async def test_close_marks_the_conversation_closed_for_the_rules(client: httpx.AsyncClient) -> None:
    await client.post("/v1/messages", json=msg("where is my order"))
    closed = await client.post("/v1/conversations/c1/close")
    assert closed.json() == {"conversation_id": "c1", "status": "closed", "turn": 1}
    assert (await client.get("/v1/conversations/c1")).json()["state"]["status"] == "closed"


async def test_erasure_removes_every_conversation_of_the_customer(client: httpx.AsyncClient) -> None:
    for cid in ("a1", "a2"):
        await client.post("/v1/messages", json=msg("where is my order", conversation_id=cid, message_id=f"m-{cid}"))
    await client.post("/v1/messages", json={**msg("hi", conversation_id="b1"), "user_id": "bob"})
    response = await client.delete("/v1/customers/alice")
    erased = {"conversations": 2, "transcripts": 2, "results": 2, "audit_payloads": 2, "cached_answers": 0}
    assert response.json() == {"user_id": "alice", "erased": erased}
    for cid in ("a1", "a2"):
        error(await client.get(f"/v1/conversations/{cid}"), 404, "conversation_not_found")
    assert (await client.get("/v1/conversations/b1")).status_code == 200
    # the idempotency record went too: the same message id is a new turn now
    again = await client.post("/v1/messages", json=msg("where is my order", conversation_id="a1", message_id="m-a1"))
    assert again.status_code == 200
    assert (await client.get("/v1/conversations/a1")).json()["state"]["turn"] == 1
    error(await client.delete("/v1/customers/anonymous"), 400, "erase_anonymous")


# --- errors and limits --------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_before_parsing(make_client: Factory) -> None:
    client = make_client(max_body_bytes=300)
    error(await client.post("/v1/messages", json=msg("x" * 400)), 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        yield b'{"conversation_id": "c1", "user_id": "u", "text": "'
        for _ in range(100):
            yield b"x" * 50
        yield b'"}'

    response = await client.post("/v1/messages", content=chunks(), headers={"content-type": "application/json"})
    error(response, 413, "payload_too_large")
    assert (await client.post("/v1/messages", json=msg("x" * 100))).status_code == 200


async def test_a_message_longer_than_the_ruleset_allows_is_413(client: httpx.AsyncClient) -> None:
    limit = 4000  # the default of settings.max_message_length, which the mini ruleset keeps
    message = error(await client.post("/v1/messages", json=msg("x" * (limit + 1))), 413, "message_too_long")
    assert str(limit) in message
    assert (await client.post("/v1/messages", json=msg("x" * limit))).status_code == 200


@pytest.mark.parametrize(
    ("headers", "content"),
    [({"content-type": "text/plain"}, b"{}"), ({}, b""), ({"content-type": "application/xml"}, b"<a/>")],
)
async def test_a_body_not_sent_as_json_is_415(client: httpx.AsyncClient, headers: dict, content: bytes) -> None:
    error(await client.post("/v1/messages", content=content, headers=headers), 415, "unsupported_media_type")


async def test_json_with_a_charset_is_accepted(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "Application/JSON; charset=utf-8"}
    response = await client.post(
        "/v1/messages", content=b'{"conversation_id":"c","user_id":"u","text":"hi"}', headers=headers
    )
    assert response.status_code == 200


@pytest.mark.parametrize("content", [b"{not json", b'{"text": "a"', b"\xff\xfe", b""])
async def test_invalid_json_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post("/v1/messages", content=content, headers={"content-type": "application/json"})
    error(response, 400, "invalid_json")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"conversation_id": "c1", "user_id": "u"}, "text"),
        (msg("hi", customer="VIP"), "customer"),
        (msg("hi", txt="typo"), "txt"),
        (msg(""), "text"),
        ({**msg("hi"), "conversation_id": 7}, "conversation_id"),
        (["a list"], "body"),
    ],
)
async def test_a_schema_violation_is_422_naming_the_field(client: httpx.AsyncClient, body: Any, field: str) -> None:
    message = error(await client.post("/v1/messages", json=body), 422, "invalid_request")
    assert message.startswith(f"{field}: ")


async def test_a_bad_explain_flag_is_422(client: httpx.AsyncClient) -> None:
    message = error(await client.post("/v1/messages?explain=maybe", json=msg("hi")), 422, "invalid_request")
    assert message.startswith("explain")


async def test_an_unknown_ruleset_is_404(client: httpx.AsyncClient) -> None:
    error(await client.post("/v1/messages", json=msg("hi", ruleset="nope")), 404, "ruleset_not_found")


async def test_unknown_routes_and_methods_get_json_errors(client: httpx.AsyncClient) -> None:
    error(await client.get("/v2/nothing"), 404, "not_found")
    response = await client.put("/v1/messages", json={})
    error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "POST"


async def test_past_max_in_flight_a_worker_answers_429(mini_engine: Engine) -> None:
    store = MemoryStore()
    app = create_app(Settings(max_in_flight=1), engine=fresh(mini_engine, store))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fd") as client:
        async with store.lock("busy"):  # holds the first turn inside the engine
            first = asyncio.create_task(client.post("/v1/messages", json=msg("hi", conversation_id="busy")))
            while app.state.api.in_flight == 0:
                await asyncio.sleep(0.001)
            refused = await client.post("/v1/messages", json=msg("hi", conversation_id="other"))
            error(refused, 429, "overloaded")
            assert refused.headers["retry-after"] == "1"
        assert (await first).status_code == 200
        assert (await client.post("/v1/messages", json=msg("hi", conversation_id="other"))).status_code == 200


class BrokenStore(MemoryStore):
    """A store with a bug: what a client sees when the code fails unexpectedly."""

    async def load(self, conversation_id: str) -> ConversationState | None:
        raise KeyError("secret internals")


async def test_an_unexpected_exception_is_a_json_500_and_a_logged_traceback(
    make_client: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(BrokenStore())
    with caplog.at_level(logging.ERROR, logger="frontdesk.http"):
        response = await client.post("/v1/messages", json=msg("hi"), headers={"traceparent": TRACEPARENT})
    error(response, 500, "internal_error")
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in response.json()["error"]["hint"]
    record = next(r for r in caplog.records if r.name == "frontdesk.http")
    assert record.exc_info and "4bf92f3577b34da6a3ce929d0e0e4736" in record.getMessage()


# --- health -------------------------------------------------------------------------


async def test_health_and_readiness_on_memory(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "rulesets": ["mini"], "store": "memory", "redis": None, "degraded": False}


# --- the error table and the command line -------------------------------------------


def test_the_readme_error_table_lists_exactly_the_codes() -> None:
    rows = re.findall(r"^\| `([a-z_]+)` \| (\d{3}) \|", (ROOT / "README.md").read_text(), re.M)
    assert {code: int(status) for code, status in rows} == {code: s for code, (s, _) in ERROR_CODES.items()}


def test_serve_refuses_several_workers_without_redis() -> None:
    frontdesk = Path(sys.executable).parent / "frontdesk"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}
    done = subprocess.run(
        [str(frontdesk), "serve", "--workers", "2"], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 2
    assert "workers_need_redis" in done.stderr and "FRONTDESK_REDIS_URL" in done.stderr


async def test_ids_with_line_breaks_can_be_read_and_erased(client: httpx.AsyncClient) -> None:
    body = {"conversation_id": "wx\n1", "user_id": "open\r\nid", "text": "hi"}
    assert (await client.post("/v1/messages", json=body)).status_code == 200
    assert (await client.get("/v1/conversations/wx%0A1")).json()["conversation_id"] == "wx\n1"
    erased = (await client.delete("/v1/customers/open%0D%0Aid")).json()
    assert erased["user_id"] == "open\r\nid" and erased["erased"]["conversations"] == 1
