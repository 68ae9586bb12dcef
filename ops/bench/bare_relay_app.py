"""The reference for bench_llm_http.py: a bare Starlette endpoint that relays the customer's
text to the model vendor with the HTTP client Frontdesk uses (httpx on the aiohttp
transport, one pooled client) and returns the model's answer, under the same server settings.

    FRONTDESK_LLM_BASE_URL=http://127.0.0.1:8900/v1 uvicorn --app-dir ops/bench bare_relay_app:app \
        --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import json
import os

import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

vendor = httpx.AsyncClient(
    base_url=os.environ["FRONTDESK_LLM_BASE_URL"],
    transport=AiohttpTransport(limits=httpx.Limits(max_connections=100, keepalive_expiry=30.0)),
    headers={"authorization": f"Bearer {os.environ.get('FRONTDESK_LLM_API_KEY', '')}"},
    timeout=httpx.Timeout(30.0),
)


async def post_message(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    question = {"model": os.environ["FRONTDESK_LLM_MODEL"], "messages": [{"role": "user", "content": body["text"]}]}
    response = await vendor.post("chat/completions", json=question)
    response.raise_for_status()
    answer = response.json()["choices"][0]["message"]["content"]
    return JSONResponse({"conversation_id": body["conversation_id"], "reply": {"text": answer}})


app = Starlette(routes=[Route("/v1/messages", post_message, methods=["POST"])])
