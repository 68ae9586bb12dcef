"""`POST /v1/messages?stream=1`: Server-Sent Events with text deltas, then the full result."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from frontdesk.http_app import create_app
from frontdesk.settings import Settings

FIXTURE = Path(__file__).parent / "fixtures" / "mini"


def events(raw: str) -> list[tuple[str, dict]]:
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(rulesets=[FIXTURE], cache_dir=tmp_path / "cache", audit_dir=tmp_path / "audit")


@pytest.mark.anyio
async def test_stream_sends_deltas_then_the_result(settings):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"conversation_id": "s1", "user_id": "u1", "text": "where is my order"}
            response = await client.post("/v1/messages?stream=1", json=body)
            plain = await client.post("/v1/messages", json={**body, "conversation_id": "s2"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    got = events(response.text)
    assert [kind for kind, _ in got][-1] == "result"
    deltas = "".join(data["text"] for kind, data in got if kind == "delta")
    result = got[-1][1]
    assert deltas == result["reply"]["text"] == plain.json()["reply"]["text"]
    assert "explain" not in result and result["intent"]["name"] == "order_status"


@pytest.mark.anyio
async def test_stream_reports_a_bad_turn_in_band(settings):
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            body = {"conversation_id": "s3", "user_id": "u1", "text": "x" * 5000}
            response = await client.post("/v1/messages?stream=1", json=body)
    kind, data = events(response.text)[-1]
    assert kind == "error" and data["error"]["code"] == "message_too_long"
