"""Conversation storage behind one interface: process memory (embedded default) or Redis.

A store keeps, per conversation: the state (slots, rule memory, status), the
transcript (also the history prompts show the model), the idempotency record of
each processed message, and a lock that serialises turns. Transcripts go through
`append_transcript`, the one seam where privacy masking applies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from frontdesk import json_codec
from frontdesk.errors import InputError
from frontdesk.settings import Settings
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
    """Everything in process memory: one process, no services (the embedded default).

    States, transcripts and results expire as on Redis (`state_ttl`, `transcript_ttl`, `result_ttl`,
    each counted from the last write) and are kept as JSON bytes: a copy, as a store gives, and
    objects Python's cyclic collector does not walk, however many conversations a process holds.
    Each map is kept in the order of its expiry times, so expired items are dropped from the front
    as new ones are written.
    """

    def __init__(
        self,
        *,
        state_ttl: float = 30 * 86400,
        transcript_ttl: float = 30 * 86400,
        transcript_limit: int = 1000,
        result_ttl: float = 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state_ttl = state_ttl
        self.transcript_ttl = transcript_ttl
        self.transcript_limit = transcript_limit
        self.result_ttl = result_ttl
        self._clock = clock
        self._states: dict[str, _Kept] = {}  # `about`: the user id, for erase_user
        self._transcripts: dict[str, _Kept] = {}  # `data`: the entries
        self._results: dict[tuple[str, str], _Kept] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._fence = 0

    async def load(self, conversation_id: str) -> ConversationState | None:
        kept = _live(self._states, conversation_id, self._clock())
        return None if kept is None else ConversationState.from_dict(json_codec.loads(kept.data))

    async def save(self, state: ConversationState, *, fence: int | None = None) -> None:
        # in-process locks never expire, so a fence can never be stale here
        now = self._clock()
        data = json_codec.dumps(state.to_dict())
        _renew(self._states, state.conversation_id, _Kept(now + self.state_ttl, data, state.user_id), now)

    async def append_transcript(self, conversation_id: str, entry: dict[str, Any]) -> None:
        now = self._clock()
        kept = _live(self._transcripts, conversation_id, now)
        entries = [] if kept is None else kept.data
        entries.append(json_codec.dumps(entry))
        del entries[: -self.transcript_limit]
        _renew(self._transcripts, conversation_id, _Kept(now + self.transcript_ttl, entries), now)

    async def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        return self._recent(conversation_id, self.transcript_limit)

    def _recent(self, conversation_id: str, n: int) -> list[dict[str, Any]]:
        kept = _live(self._transcripts, conversation_id, self._clock())
        return [] if kept is None or n <= 0 else [json_codec.loads(entry) for entry in kept.data[-n:]]

    async def get_result(self, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        kept = _live(self._results, (conversation_id, message_id), self._clock())
        return None if kept is None else json_codec.loads(kept.data)

    async def put_result(self, conversation_id: str, message_id: str, result: dict[str, Any]) -> None:
        now = self._clock()
        _renew(
            self._results, (conversation_id, message_id), _Kept(now + self.result_ttl, json_codec.dumps(result)), now
        )

    @asynccontextmanager
    async def turn(self, conversation_id: str, message_id: str, *, history: int = 0) -> AsyncIterator[OpenTurn]:
        async def commit(state: ConversationState, entry: dict[str, Any], result: dict[str, Any]) -> None:
            await self.save(state)
            await self.append_transcript(conversation_id, entry)
            await self.put_result(conversation_id, message_id, result)

        if (done := await self.get_result(conversation_id, message_id)) is not None:
            yield OpenTurn(None, done, [], commit)  # a retry does not wait for the conversation
            return
        async with self.lock(conversation_id):
            if (done := await self.get_result(conversation_id, message_id)) is not None:
                yield OpenTurn(None, done, [], commit)
                return
            yield OpenTurn(await self.load(conversation_id), None, self._recent(conversation_id, history), commit)

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
        ids = {cid for cid, kept in self._states.items() if kept.about == user_id}
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
        return MemoryStore(
            state_ttl=self.state_ttl,
            transcript_ttl=self.transcript_ttl,
            transcript_limit=self.transcript_limit,
            result_ttl=self.result_ttl,
            clock=self._clock,
        )

    async def aclose(self) -> None:
        return None


def memory_store(settings: Settings) -> MemoryStore:
    """The MemoryStore with the deployment's TTLs and transcript limit."""
    return MemoryStore(
        state_ttl=settings.state_ttl,
        transcript_ttl=settings.transcript_ttl,
        transcript_limit=settings.transcript_limit,
        result_ttl=settings.result_ttl,
    )


@dataclass(slots=True)
class _Kept:
    """One item of a MemoryStore map."""

    expires: float
    data: Any  # JSON bytes, or a transcript's list of them
    about: str | None = None


def _live(items: dict[Any, _Kept], key: Any, now: float) -> _Kept | None:
    kept = items.get(key)
    return None if kept is None or kept.expires <= now else kept


def _renew(items: dict[Any, _Kept], key: Any, kept: _Kept, now: float) -> None:
    """Write `kept` last (every item of a map lives as long: the order of writes is that of expiry)
    and drop the expired items at the front."""
    items.pop(key, None)
    items[key] = kept
    while True:  # ends at `kept` at the latest: ttls are positive
        oldest = next(iter(items))
        if items[oldest].expires > now:
            return
        del items[oldest]
