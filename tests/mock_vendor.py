"""A fake model vendor over real HTTP, with scripted faults.

It speaks OpenAI chat completions (`POST /v1/chat/completions`, plain and SSE)
and Anthropic Messages (`POST /v1/messages`, plain and SSE) on a free port of
127.0.0.1, in a thread, so adapters are tested through their real transport.

    with MockVendor(api_key="sk-test") as mv:
        mv.script(Fault.error(429, retry_after="1"), model="gpt-x")   # next gpt-x request
        mv.set_default(Fault.latency(0.2))                            # every other request
        ...  # point a vendor at mv.openai_base_url or mv.anthropic_base_url
        assert mv.count(model="gpt-x") == 2
        assert mv.peak_in_flight <= 4   # requests being answered at once (streams until their end)

A scripted fault is used by the next valid request (right key, required
fields). The answer is predictable: "echo: " + the last user message (in JSON mode
`{"echo": ...}`); input tokens = characters of all messages, output tokens =
characters of the answer. Run it alone for benchmarks:
`python tests/mock_vendor.py --port 8900 [--latency 0.05]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNK_CHARS = 4  # streamed answers arrive in pieces this long


@dataclass(frozen=True)
class Fault:
    """How to answer one request; the default answers normally at once."""

    status: int = 200
    delay: float = 0.0  # seconds before answering
    retry_after: str | None = None  # Retry-After header sent with an error status
    hang: bool = False  # never answer (until the mock stops)
    malformed: bool = False  # 200 with a body, or a stream event, that is not JSON
    truncate_after: int | None = None  # stream: end cleanly after this many text chunks, no end marker
    abort_after: int | None = None  # stream: cut the connection after this many text chunks
    chunk_delay: float = 0.0  # stream: pause before each text chunk
    stream_error: str | None = None  # stream: an in-band error of this type after the first chunk
    text: str | None = None  # the answer instead of the echo (the error message with an error status)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        return cls(delay=seconds)

    @classmethod
    def error(cls, status: int, retry_after: str | None = None) -> Fault:
        return cls(status=status, retry_after=retry_after)

    @classmethod
    def hanging(cls) -> Fault:
        return cls(hang=True)

    @classmethod
    def bad_json(cls) -> Fault:
        return cls(malformed=True)

    @classmethod
    def truncated(cls, after: int = 1) -> Fault:
        return cls(truncate_after=after)

    @classmethod
    def aborted(cls, after: int = 1) -> Fault:
        return cls(abort_after=after)

    @classmethod
    def slow_stream(cls, interval: float) -> Fault:
        return cls(chunk_delay=interval)


@dataclass
class RecordedRequest:
    api: str  # openai | anthropic
    model: str
    stream: bool
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _Abort(Exception):
    """Raised inside a streaming body: the server drops the connection mid-answer."""


class MockVendor:
    def __init__(self, *, api_key: str | None = None, record: bool = True) -> None:
        self.api_key = api_key  # when set, requests without it get 401
        self.record = record  # keep every request (off for long benchmark runs)
        self.received = 0  # requests received, recorded or not
        self.in_flight = 0  # requests being answered now, a stream until its last byte
        self.peak_in_flight = 0  # the most at once since the last reset
        self._lock = threading.Lock()
        self._queues: dict[str | None, deque[Fault]] = defaultdict(deque)
        self._defaults: dict[str | None, Fault] = {}
        self._requests: list[RecordedRequest] = []
        self._stopping = threading.Event()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- the test's side ----------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    def script(self, *faults: Fault, model: str | None = None) -> None:
        """Queue faults for the next requests (of `model`, or of any model), one per request."""
        with self._lock:
            self._queues[model].extend(faults)

    def set_default(self, fault: Fault | None, *, model: str | None = None) -> None:
        """How to answer when no scripted fault is queued; None restores normal answers."""
        with self._lock:
            if fault is None:
                self._defaults.pop(model, None)
            else:
                self._defaults[model] = fault

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self._defaults.clear()
            self._requests.clear()
            self.received = 0
            self.peak_in_flight = self.in_flight

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, *, model: str | None = None, api: str | None = None) -> int:
        return sum(1 for r in self.requests if model in (None, r.model) and api in (None, r.api))

    def start(self) -> MockVendor:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app(), log_level="critical", access_log=False, lifespan="off", timeout_graceful_shutdown=2
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        for _ in range(500):
            if self._server.started:
                return self
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("mock vendor did not start")

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> MockVendor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the server's side --------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._counted(self._openai), methods=["POST"]),
                Route("/v1/messages", self._counted(self._anthropic), methods=["POST"]),
            ]
        )

    def _busy(self, change: int) -> None:
        with self._lock:
            self.in_flight += change
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def _counted(self, handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """The handler, counted in `in_flight` until its answer (a stream's last chunk) is sent."""

        async def endpoint(request: Request) -> Response:
            self._busy(1)
            streaming = False
            try:
                response = await handler(request)
                if isinstance(response, StreamingResponse):
                    response.body_iterator = self._until_sent(response.body_iterator)
                    streaming = True
                return response
            finally:
                if not streaming:
                    self._busy(-1)

        return endpoint

    async def _until_sent(self, body: AsyncIterable[Any]) -> AsyncIterator[Any]:
        try:
            async for chunk in body:
                yield chunk
        finally:
            self._busy(-1)

    def _record(self, api: str, request: Request, body: dict[str, Any]) -> None:
        with self._lock:
            self.received += 1
            if self.record:
                model = str(body.get("model", ""))
                self._requests.append(
                    RecordedRequest(api, model, bool(body.get("stream")), body, dict(request.headers))
                )

    def _next_fault(self, body: dict[str, Any]) -> Fault:
        model = str(body.get("model", ""))
        with self._lock:
            for queue in (self._queues.get(model), self._queues.get(None)):
                if queue:
                    return queue.popleft()
            return self._defaults.get(model) or self._defaults.get(None) or Fault()

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short when the mock stops (so hangs never block shutdown)."""
        end = time.monotonic() + seconds
        while not self._stopping.is_set() and (left := end - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 0.05))

    async def _prelude(self, fault: Fault) -> None:
        await self._pause(fault.delay)
        if fault.hang:
            await self._pause(3600)

    @staticmethod
    def _echo(messages: list[dict[str, Any]], fault: Fault, json_mode: bool) -> str:
        if fault.text is not None:
            return fault.text
        last = next((str(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        return json.dumps({"echo": last}, ensure_ascii=False) if json_mode else f"echo: {last}"

    @staticmethod
    def _chunks(text: str) -> list[str]:
        return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]

    async def _pieces(self, text: str, fault: Fault) -> AsyncIterator[tuple[int, str]]:
        for i, piece in enumerate(self._chunks(text)):
            if fault.truncate_after is not None and i >= fault.truncate_after:
                return
            if fault.abort_after is not None and i >= fault.abort_after:
                raise _Abort
            await self._pause(fault.chunk_delay)
            yield i, piece

    # OpenAI chat completions

    async def _openai(self, request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return _openai_error(400, "body is not a JSON object")
        self._record("openai", request, body)
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _openai_error(401, "Incorrect API key provided", "invalid_api_key")
        messages = body.get("messages")
        if not isinstance(body.get("model"), str) or not isinstance(messages, list) or not messages:
            return _openai_error(400, "model and messages are required")
        fault = self._next_fault(body)
        await self._prelude(fault)
        if fault.status != 200:
            return _openai_error(fault.status, fault.text or "scripted failure", retry_after=fault.retry_after)
        json_mode = (body.get("response_format") or {}).get("type") == "json_object"
        answer = self._echo(messages, fault, json_mode)
        usage = {
            "prompt_tokens": sum(len(str(m.get("content", ""))) for m in messages),
            "completion_tokens": len(answer),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        model = body["model"]
        if not body.get("stream"):
            if fault.malformed:
                return Response('{"id": "chatcmpl-1", "choices": [', media_type="application/json")
            return JSONResponse(
                {
                    "id": "chatcmpl-mock",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": model,
                    "choices": [
                        {"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}
                    ],
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
            data = {
                "id": "chatcmpl-mock",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

        async def events() -> AsyncIterator[str]:
            yield chunk({"role": "assistant", "content": ""})
            async for i, piece in self._pieces(answer, fault):
                if fault.malformed:
                    yield "data: {not json\n\n"
                yield chunk({"content": piece})
                if fault.stream_error and i == 0:
                    yield f"data: {json.dumps({'error': {'message': 'boom', 'type': fault.stream_error}})}\n\n"
            if fault.truncate_after is not None:
                return
            yield chunk({}, "stop")
            if include_usage:
                data = {
                    "id": "chatcmpl-mock",
                    "object": "chat.completion.chunk",
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                yield f"data: {json.dumps(data)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # Anthropic messages

    async def _anthropic(self, request: Request) -> Response:
        body = await _json_body(request)
        if body is None:
            return _anthropic_error(400, "invalid_request_error", "body is not a JSON object")
        self._record("anthropic", request, body)
        if self.api_key and request.headers.get("x-api-key") != self.api_key:
            return _anthropic_error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _anthropic_error(400, "invalid_request_error", "anthropic-version header is required")
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not isinstance(body.get("max_tokens"), int):
            return _anthropic_error(400, "invalid_request_error", "messages and max_tokens are required")
        if any(m.get("role") == "system" for m in messages):
            return _anthropic_error(400, "invalid_request_error", "system belongs in the top-level field")
        fault = self._next_fault(body)
        await self._prelude(fault)
        if fault.status != 200:
            kind = {429: "rate_limit_error", 529: "overloaded_error"}.get(fault.status, "api_error")
            return _anthropic_error(fault.status, kind, fault.text or "scripted failure", retry_after=fault.retry_after)
        answer = self._echo(messages, fault, json_mode=False)
        input_tokens = len(str(body.get("system", ""))) + sum(len(str(m.get("content", ""))) for m in messages)
        model = str(body.get("model"))
        if not body.get("stream"):
            if fault.malformed:
                return Response('{"type": "message", "content": [', media_type="application/json")
            return JSONResponse(
                {
                    "id": "msg_mock",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [{"type": "text", "text": answer}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": len(answer)},
                }
            )

        def event(name: str, data: dict[str, Any]) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data}, ensure_ascii=False)}\n\n"

        async def events() -> AsyncIterator[str]:
            message: dict[str, Any] = {
                "id": "msg_mock",
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": 1},
            }
            yield event("message_start", {"message": message})
            yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
            yield event("ping", {})
            async for i, piece in self._pieces(answer, fault):
                if fault.malformed:
                    yield "event: content_block_delta\ndata: {not json\n\n"
                yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
                if fault.stream_error and i == 0:
                    yield event("error", {"error": {"type": fault.stream_error, "message": "boom"}})
            if fault.truncate_after is not None:
                return
            yield event("content_block_stop", {"index": 0})
            yield event(
                "message_delta",
                {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": len(answer)}},
            )
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _headers(retry_after: str | None) -> dict[str, str]:
    return {"retry-after": retry_after} if retry_after is not None else {}


def _openai_error(status: int, message: str, code: str | None = None, retry_after: str | None = None) -> Response:
    body = {
        "error": {"message": message, "type": "invalid_request_error" if status < 500 else "server_error", "code": code}
    }
    return JSONResponse(body, status_code=status, headers=_headers(retry_after))


def _anthropic_error(status: int, kind: str, message: str, retry_after: str | None = None) -> Response:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return JSONResponse(body, status_code=status, headers=_headers(retry_after))


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the mock model vendor until interrupted.")
    parser.add_argument("--port", type=int, default=8900)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before every answer")
    args = parser.parse_args()
    mock = MockVendor(record=False)
    if args.latency:
        mock.set_default(Fault.latency(args.latency))
    uvicorn.run(mock.app(), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
