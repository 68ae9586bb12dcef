"""What flows between the router and a model vendor adapter.

Vendor-neutral: an adapter turns a `ChatRequest` into its vendor's wire format
and the vendor's answer back into a `ChatResponse` or `StreamDelta`s.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """One chat call. Contents must already be masked: they go to the vendor and the cache."""

    messages: tuple[ChatMessage, ...]
    model: str = ""  # the vendor's model id; the router fills it in per attempt
    max_tokens: int | None = None
    temperature: float | None = None
    stop: tuple[str, ...] = ()
    json_mode: bool = False
    cacheable: bool = True
    # set when the answer depends on who asks (e.g. the customer id); cached answers
    # are then never shared with another scope
    customer_scope: str | None = None

    @classmethod
    def of(cls, user: str, *, system: str | None = None, **kw: Any) -> ChatRequest:
        msgs = ((ChatMessage("system", system),) if system else ()) + (ChatMessage("user", user),)
        return cls(messages=msgs, **kw)

    @cached_property
    def estimated_prompt_tokens(self) -> int:
        return sum(estimate_tokens(m.content) + 4 for m in self.messages)

    def for_model(self, model: str) -> ChatRequest:
        """This request to one vendor model (the router's copy per attempt)."""
        copy = ChatRequest(
            self.messages,
            model,
            self.max_tokens,
            self.temperature,
            self.stop,
            self.json_mode,
            self.cacheable,
            self.customer_scope,
        )
        if "estimated_prompt_tokens" in self.__dict__:  # the messages are the same: so is the estimate
            copy.__dict__["estimated_prompt_tokens"] = self.__dict__["estimated_prompt_tokens"]
        return copy


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False  # the vendor did not report usage; counted from text

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ChatResponse:
    text: str
    usage: Usage = field(default_factory=Usage)
    model: str = ""  # as the vendor reported it
    finish_reason: str | None = None
    vendor: str = ""
    cached: bool = False

    def from_vendor(self, vendor: str) -> ChatResponse:
        return ChatResponse(self.text, self.usage, self.model, self.finish_reason, vendor, self.cached)

    def as_cached(self) -> ChatResponse:
        return ChatResponse(self.text, self.usage, self.model, self.finish_reason, self.vendor, True)


@dataclass(frozen=True)
class StreamDelta:
    """A piece of streamed text; the last one has `usage` (and usually `finish_reason`)."""

    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


class ChatClient(Protocol):
    """What a `register_models` factory returns for one configured vendor."""

    async def complete(self, req: ChatRequest) -> ChatResponse: ...

    def stream(self, req: ChatRequest) -> AsyncGenerator[StreamDelta, None]: ...

    async def aclose(self) -> None: ...


# CJK, kana, hangul and full-width forms cost about one token per character
_WIDE = re.compile("[\u2e80-\ua4cf\uac00-\ud7af\uf900-\uffef]")


def estimate_tokens(text: str) -> int:
    """A deliberately high token estimate (no tokenizer): budgets reserve with it."""
    narrow = len(text) if text.isascii() else len(_WIDE.sub("", text))
    return len(text) - narrow + math.ceil(narrow / 3)
