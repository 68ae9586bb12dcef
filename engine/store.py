"""Conversation storage behind one interface: process memory (embedded default) or Redis.

A store keeps, per conversation: the state (slots, rule memory, status), the
transcript (which is also the history prompts show the model), the idempotency record of each processed message, and
a lock that serialises turns. Transcripts go through `append_transcript`, the
one seam where privacy masking applies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from frontdesk.errors import InputError
from frontdesk.types import ConversationState


@dataclass
class OpenTurn:
    """A conversation held for one turn (see `ConversationStore.turn`)."""

    state: ConversationState | None  # None: a new conversation
    result: dict[str, Any] | None  # the stored result when the message was processed already
    history: list[dict[str, Any]]  # the transcript's last entries, as many as asked for, oldest first
    # (state, transcript entry, result): write all three and end the hold
    commit: Callable[[ConversationState, dict[str, Any], dict[str, Any]], Awaitable[None]]


class ConversationStore(Protocol):
    def turn(self, conversation_id: str, message_id: str, *, history: int = 0) -> AbstractAsyncContextManager[OpenTurn]:
        """Hold the conversation for one turn: lock it and load its state and the last `history`
        transcript entries, or yield the stored result of `message_id` (then commit must not be
        called). `commit` saves the state (fenced), appends the transcript entry and stores the
        result at once. The hot path: a store may do it all in two round trips; the finer calls
        below serve everything else."""

    async def load(self, conversation_id: str) -> ConversationState | None: ...

    async def save(self, state: ConversationState, *, fence: int | None = None) -> None:
        """With the fence `lock` yielded, raise Conflict(code="conversation_lock_lost") if the
        lock was granted to someone else since."""

    async def aclose(self) -> None: ...

    async def append_transcript(self, conversation_id: str, entry: dict[str, Any]) -> None: ...

    async def transcript(self, conversation_id: str) -> list[dict[str, Any]]: ...

    async def get_result(self, conversation_id: str, message_id: str) -> dict[str, Any] | None: ...

    async def put_result(self, conversation_id: str, message_id: str, result: dict[str, Any]) -> None: ...

    def lock(self, conversation_id: str) -> Any:
        """An async context manager held for one turn; yields a fencing token (int)."""

    async def erase_user(self, user_id: str) -> dict[str, int]: ...

    async def ping(self) -> bool: ...

    def for_tenant(self, tenant: str) -> ConversationStore:
        """A store of the same kind and settings holding another tenant's data apart; it shares this
        store's connections, so only this store is closed."""


class MemoryStore:
    """Everything in process memory: one process, no services (the embedded default)."""

    def __init__(self, *, state_ttl: float = 30 * 86400, transcript_limit: int = 1000) -> None:
        self.state_ttl = state_ttl
        self.transcript_limit = transcript_limit
        self._states: dict[str, tuple[float, dict[str, Any]]] = {}
        self._transcripts: dict[str, list[dict[str, Any]]] = {}
        self._results: dict[tuple[str, str], dict[str, Any]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._fence = 0

    async def load(self, conversation_id: str) -> ConversationState | None:
        item = self._states.get(conversation_id)
        if item is None or item[0] < time.time():
            return None
        return ConversationState.from_dict(item[1])

    async def save(self, state: ConversationState, *, fence: int | None = None) -> None:
        # in-process locks never expire, so a fence can never be stale here
        self._states[state.conversation_id] = (time.time() + self.state_ttl, state.to_dict())

    async def append_transcript(self, conversation_id: str, entry: dict[str, Any]) -> None:
        entries = self._transcripts.setdefault(conversation_id, [])
        entries.append(entry)
        del entries[: -self.transcript_limit]

    async def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        return list(self._transcripts.get(conversation_id, []))

    async def get_result(self, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        return self._results.get((conversation_id, message_id))

    async def put_result(self, conversation_id: str, message_id: str, result: dict[str, Any]) -> None:
        self._results[(conversation_id, message_id)] = result

    @asynccontextmanager
    async def turn(self, conversation_id: str, message_id: str, *, history: int = 0) -> AsyncIterator[OpenTurn]:
        async def commit(state: ConversationState, entry: dict[str, Any], result: dict[str, Any]) -> None:
            await self.save(state)
            await self.append_transcript(conversation_id, entry)
            await self.put_result(conversation_id, message_id, result)

        if (done := self._results.get((conversation_id, message_id))) is not None:
            yield OpenTurn(None, done, [], commit)  # a retry does not wait for the conversation
            return
        async with self.lock(conversation_id):
            if (done := self._results.get((conversation_id, message_id))) is not None:
                yield OpenTurn(None, done, [], commit)
                return
            past = self._transcripts.get(conversation_id, [])[-history:] if history > 0 else []
            yield OpenTurn(await self.load(conversation_id), None, list(past), commit)

    @asynccontextmanager
    async def lock(self, conversation_id: str) -> AsyncIterator[int]:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        async with lock:
            self._fence += 1
            yield self._fence
        if not lock.locked():
            self._locks.pop(conversation_id, None)

    async def erase_user(self, user_id: str) -> dict[str, int]:
        if user_id == "anonymous":
            raise InputError(
                "the anonymous user cannot be erased",
                code="erase_anonymous",
                hint="erase by the user id the channel sent",
            )
        ids = [cid for cid, (_, s) in self._states.items() if s.get("user_id") == user_id]
        for cid in ids:
            self._states.pop(cid, None)
        transcripts = sum(1 for cid in ids if self._transcripts.pop(cid, None) is not None)
        results = [key for key in self._results if key[0] in ids]
        for key in results:
            del self._results[key]
        return {"conversations": len(ids), "transcripts": transcripts, "results": len(results)}

    async def ping(self) -> bool:
        return True

    def for_tenant(self, tenant: str) -> MemoryStore:
        return MemoryStore(state_ttl=self.state_ttl, transcript_limit=self.transcript_limit)

    async def aclose(self) -> None:
        return None
