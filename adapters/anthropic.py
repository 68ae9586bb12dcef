"""Anthropic Messages API (`POST {base_url}/v1/messages`).

System messages travel in the top-level `system` field; `max_tokens` is
required by the API, so requests without one get `DEFAULT_MAX_TOKENS`. The API
has no JSON mode: `json_mode` adds a system instruction instead.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import httpx

from frontdesk.adapters.http_client import (
    VendorHTTP,
    bad_response,
    error_in_stream,
    parse_json,
    post_json,
    post_sse,
)
from frontdesk.errors import VendorError
from frontdesk.hookspecs import hookimpl
from frontdesk.llm_types import ChatRequest, ChatResponse, StreamDelta, Usage
from frontdesk.models_config import VendorConfig
from frontdesk.types import Register

PATH = "/v1/messages"
API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
JSON_INSTRUCTION = "Answer with one JSON object and nothing else."


def _input_tokens(usage: dict[str, Any]) -> int:
    # prompt-cache reads and writes are billed input too; counted at the input price
    return sum(
        int(usage.get(k) or 0) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    )


class AnthropicClient:
    def __init__(self, vendor: VendorConfig) -> None:
        headers = {"x-api-key": vendor.api_key.get_secret_value(), "anthropic-version": API_VERSION}
        self.label = f"anthropic vendor {httpx.URL(vendor.base_url).host}"
        self._http = VendorHTTP(vendor, headers, self.label)
        self._url = self._http.url(PATH)

    def _payload(self, req: ChatRequest, *, stream: bool) -> dict[str, Any]:
        system = [m.content for m in req.messages if m.role == "system"]
        if req.json_mode:
            system.append(JSON_INSTRUCTION)
        payload: dict[str, Any] = {
            "model": req.model,
            "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [{"role": m.role, "content": m.content} for m in req.messages if m.role != "system"],
        }
        if system:
            payload["system"] = "\n\n".join(system)
        if req.temperature is not None:
            payload["temperature"] = req.temperature
        if req.stop:
            payload["stop_sequences"] = list(req.stop)
        if stream:
            payload["stream"] = True
        return payload

    async def complete(self, req: ChatRequest) -> ChatResponse:
        data = await post_json(self._http, self._url, self._payload(req, stream=False))
        try:
            text = "".join(b["text"] for b in data["content"] if b.get("type") == "text")
            usage = data["usage"]
            return ChatResponse(
                text=text,
                usage=Usage(_input_tokens(usage), int(usage["output_tokens"])),
                model=str(data.get("model", req.model)),
                finish_reason=data.get("stop_reason"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise bad_response(self.label, f"unexpected message shape ({exc!r})") from exc

    async def stream(self, req: ChatRequest) -> AsyncGenerator[StreamDelta, None]:
        input_tokens = output_tokens = 0
        finish: str | None = None
        done = False
        payload = self._payload(req, stream=True)
        async with aclosing(post_sse(self._http, self._url, payload)) as events:
            async for _, data in events:
                event = parse_json(self.label, data)
                kind = event.get("type")
                if kind == "error":
                    raise error_in_stream(self.label, event.get("error"))
                text = ""
                try:
                    if kind == "message_start":
                        usage = event["message"].get("usage") or {}
                        input_tokens = _input_tokens(usage)
                        output_tokens = int(usage.get("output_tokens") or 0)
                    elif kind == "content_block_delta" and event["delta"].get("type") == "text_delta":
                        text = event["delta"]["text"]
                    elif kind == "message_delta":
                        finish = event["delta"].get("stop_reason") or finish
                        # cumulative, not an increment
                        output_tokens = int((event.get("usage") or {}).get("output_tokens", output_tokens))
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise bad_response(self.label, f"unexpected {kind} event ({exc!r})") from exc
                if text:
                    yield StreamDelta(text=text)
                if kind == "message_stop":
                    done = True
                    break
        if not done:
            raise VendorError(
                f"{self.label} stream ended before message_stop", code="vendor_stream_interrupted", retryable=True
            )
        yield StreamDelta(finish_reason=finish, usage=Usage(input_tokens, output_tokens))

    async def aclose(self) -> None:
        await self._http.aclose()


@hookimpl
def register_models(register: Register) -> None:
    register("anthropic", AnthropicClient)
