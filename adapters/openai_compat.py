"""OpenAI-compatible chat completions (`POST {base_url}/chat/completions`).

One adapter for every vendor speaking this wire format: OpenAI, DeepSeek, Qwen
(DashScope compatible mode), Moonshot, vLLM, Ollama. `base_url` includes the
version path (e.g. https://api.openai.com/v1). JSON mode sends
`response_format: {"type": "json_object"}`; OpenAI then wants the word "JSON" in
the prompt.
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
from frontdesk.llm_types import ChatRequest, ChatResponse, StreamDelta, Usage, estimate_tokens
from frontdesk.models_config import VendorConfig
from frontdesk.types import Register

PATH = "chat/completions"  # relative: appended to base_url's path


class OpenAICompatClient:
    def __init__(self, vendor: VendorConfig) -> None:
        secret = vendor.api_key.get_secret_value()
        self._stream_usage = vendor.stream_usage
        self.label = f"openai-compatible vendor {httpx.URL(vendor.base_url).host}"
        self._http = VendorHTTP(vendor, {"authorization": f"Bearer {secret}"} if secret else {}, self.label)
        self._url = self._http.url(PATH)

    def _payload(self, req: ChatRequest, *, stream: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": req.model,
            "messages": [{"role": m.role, "content": m.content} for m in req.messages],
        }
        if req.max_tokens is not None:
            payload["max_tokens"] = req.max_tokens
        if req.temperature is not None:
            payload["temperature"] = req.temperature
        if req.stop:
            payload["stop"] = list(req.stop)
        if req.json_mode:
            payload["response_format"] = {"type": "json_object"}
        if stream:
            payload["stream"] = True
            if self._stream_usage:
                payload["stream_options"] = {"include_usage": True}
        return payload

    async def complete(self, req: ChatRequest) -> ChatResponse:
        data = await post_json(self._http, self._url, self._payload(req, stream=False))
        try:
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
            usage = data.get("usage") or {}
            return ChatResponse(
                text=text,
                usage=Usage(int(usage["prompt_tokens"]), int(usage["completion_tokens"]))
                if usage
                else Usage(req.estimated_prompt_tokens, estimate_tokens(text), estimated=True),
                model=str(data.get("model", req.model)),
                finish_reason=choice.get("finish_reason"),
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise bad_response(self.label, f"unexpected completion shape ({exc!r})") from exc

    async def stream(self, req: ChatRequest) -> AsyncGenerator[StreamDelta, None]:
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        done = False
        payload = self._payload(req, stream=True)
        async with aclosing(post_sse(self._http, self._url, payload)) as events:
            async for _, data in events:
                if data.strip() == "[DONE]":
                    done = True
                    break
                chunk = parse_json(self.label, data)
                if chunk.get("error"):
                    raise error_in_stream(self.label, chunk["error"])
                try:
                    if chunk.get("usage"):
                        usage = Usage(int(chunk["usage"]["prompt_tokens"]), int(chunk["usage"]["completion_tokens"]))
                    deltas = [
                        (c.get("finish_reason"), (c.get("delta") or {}).get("content"))
                        for c in chunk.get("choices") or ()
                    ]
                except (KeyError, TypeError, ValueError, AttributeError) as exc:
                    raise bad_response(self.label, f"unexpected chunk shape ({exc!r})") from exc
                for finish_reason, text in deltas:
                    finish = finish_reason or finish
                    if text:
                        parts.append(text)
                        yield StreamDelta(text=text)
        if not done:
            raise VendorError(
                f"{self.label} stream ended before [DONE]", code="vendor_stream_interrupted", retryable=True
            )
        if usage is None:
            usage = Usage(req.estimated_prompt_tokens, estimate_tokens("".join(parts)), estimated=True)
        yield StreamDelta(finish_reason=finish, usage=usage)

    async def aclose(self) -> None:
        await self._http.aclose()


@hookimpl
def register_models(register: Register) -> None:
    register("openai", OpenAICompatClient)
