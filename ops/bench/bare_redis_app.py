"""The reference for bench_http.py: a bare Starlette endpoint that parses the same
JSON body and does one Redis GET and one SET, under the same server settings.

    FRONTDESK_REDIS_URL=redis://127.0.0.1:6379/0 uvicorn --app-dir ops/bench bare_redis_app:app \
        --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import json
import os

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

redis = Redis.from_url(os.environ["FRONTDESK_REDIS_URL"])


async def post_message(request: Request) -> JSONResponse:
    body = json.loads(await request.body())
    key = f"bare:{{conv:{body['conversation_id']}}}:state"
    turn = int(await redis.get(key) or 0) + 1
    await redis.set(key, turn, px=600_000)
    return JSONResponse({"conversation_id": body["conversation_id"], "turn": turn, "reply": {"text": body["text"]}})


app = Starlette(routes=[Route("/v1/messages", post_message, methods=["POST"])])
