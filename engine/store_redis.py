"""Conversation storage in Redis, shared by many stateless workers.

Every key of one conversation carries the same Cluster hash tag (the part in
braces), so each Lua script below touches a single slot:

    fd:<tenant>:{conv:<id>}:state          STRING  ConversationState as JSON       (state_ttl)
    fd:<tenant>:{conv:<id>}:transcript     LIST    JSON entries, capped by LTRIM   (transcript_ttl)
    fd:<tenant>:{conv:<id>}:lock           STRING  random token of the lock owner  (lock_ttl)
    fd:<tenant>:{conv:<id>}:fence          STRING  INCR counter, one value per lock grant
    fd:<tenant>:{conv:<id>}:results        ZSET    message ids with a result, scored by expiry
    fd:<tenant>:{conv:<id>}:result:<mid>   STRING  idempotency record as JSON      (result_ttl)
    fd:<tenant>:{user:<id>}:conversations  SET     conversation ids of a user (erase_user)

Fencing: each lock grant INCRs the conversation's fence counter and yields the
new value; `save(state, fence=f)` refuses to write when the counter has moved
past `f`, i.e. when the lock expired and another worker took the conversation
over. Ids are written into keys with `%` and `}` percent-encoded, so an id can
neither end the hash tag early nor make two keys collide.

Redis errors never reach callers: they surface as `ServiceUnavailable`, and the
scripts run through the client's shared `RedisCalls` (redis_client.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from redis.asyncio.sentinel import SentinelConnectionPool

from frontdesk import json_codec
from frontdesk.errors import ConfigError, Conflict, InputError, ServiceUnavailable
from frontdesk.redis_client import (
    Arg,
    Mode,
    RedisClient,
    Script,
    as_text,
    bounded,
    connect_redis,
    redis_calls,
)
from frontdesk.store import OpenTurn
from frontdesk.types import ConversationState

log = logging.getLogger(__name__)

# Conversations of unidentified users are not indexed: one set holding every
# anonymous conversation would be a hot, unbounded key, and nobody can ask to
# erase "anonymous".
ANONYMOUS = "anonymous"
_TENANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_MAX_BACKOFF = 0.05


_ACQUIRE = Script(
    """
local owner = redis.call('GET', KEYS[1])
if owner == ARGV[1] then
  -- a client-side retry of a call that already succeeded: same grant, same fence
  return tonumber(redis.call('GET', KEYS[2]))
end
if owner then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local fence = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return fence
"""
)

_RELEASE = Script(
    """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
)

_SAVE = Script(
    """
if ARGV[3] ~= '' and tonumber(redis.call('GET', KEYS[2]) or '0') > tonumber(ARGV[3]) then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
)

_INDEX = Script(
    """
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
)

_APPEND = Script(
    """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
"""
)

# Expired ids are pruned from the index on every put, so it stays bounded.
_PUT_RESULT = Script(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZADD', KEYS[2], string.format('%d', now + tonumber(ARGV[2])), ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
"""
)

# KEYS: state, transcript, fence, results, result:<mid>...; ARGV: user_id, fence_ttl_ms.
_ERASE = Script(
    """
local state = redis.call('GET', KEYS[1])
if state and cjson.decode(state).user_id ~= ARGV[1] then return {-1, 0, 0} end
local results = 0
for i = 5, #KEYS do results = results + redis.call('DEL', KEYS[i]) end
redis.call('DEL', KEYS[4])
-- keep the fence a little longer so a straggling turn cannot re-create the state
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return {redis.call('DEL', KEYS[1]), redis.call('DEL', KEYS[2]), results}
"""
)

# A turn's first round trip. KEYS: lock, fence, state, result:<mid>, transcript; ARGV: token,
# lock_ttl_ms, fence_ttl_ms, history. -> {0, result} for a message processed already (no lock
# taken), {-1} when another turn holds the conversation, else {fence, state JSON or '', the last
# `history` transcript entries}.
_BEGIN = Script(
    """
local done = redis.call('GET', KEYS[4])
if done then return {0, done} end
local owner = redis.call('GET', KEYS[1])
local fence
if owner == ARGV[1] then
  fence = tonumber(redis.call('GET', KEYS[2]))  -- a client-side retry of a granted call
elseif owner then
  return {-1}
else
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  fence = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
local past = {}
if tonumber(ARGV[4]) > 0 then past = redis.call('LRANGE', KEYS[5], -tonumber(ARGV[4]), -1) end
return {fence, redis.call('GET', KEYS[3]) or '', past}
"""
)

# A turn's last round trip: the fenced save, the transcript entry, the result and
# the release, all or nothing (a worker dying between them cannot leave a turn
# half-written). KEYS: state, fence, transcript, result:<mid>, results, lock.
# ARGV: state, state_ttl_ms, fence, entry, transcript_limit, transcript_ttl_ms,
# result, result_ttl_ms, message_id, token.
_COMMIT = Script(
    """
if tonumber(redis.call('GET', KEYS[2]) or '0') > tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('RPUSH', KEYS[3], ARGV[4])
redis.call('LTRIM', KEYS[3], -tonumber(ARGV[5]), -1)
redis.call('PEXPIRE', KEYS[3], ARGV[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[8])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
redis.call('ZADD', KEYS[5], string.format('%d', now + tonumber(ARGV[8])), ARGV[9])
redis.call('PEXPIRE', KEYS[5], ARGV[8])
if redis.call('GET', KEYS[6]) == ARGV[10] then redis.call('DEL', KEYS[6]) end
return 1
"""
)


def _tag_safe(value: str) -> str:
    return value.replace("%", "%25").replace("}", "%7D")


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


@dataclass(frozen=True)
class ConversationKeys:
    """Names of every key of one conversation; all share one hash slot."""

    prefix: str

    @property
    def state(self) -> str:
        return self.prefix + "state"

    @property
    def transcript(self) -> str:
        return self.prefix + "transcript"

    @property
    def lock(self) -> str:
        return self.prefix + "lock"

    @property
    def fence(self) -> str:
        return self.prefix + "fence"

    @property
    def results(self) -> str:
        return self.prefix + "results"

    def result(self, message_id: str) -> str:
        return f"{self.prefix}result:{message_id}"


class RedisLock:
    """Serialises the turns of one conversation across processes; yields a fencing token."""

    def __init__(self, store: RedisStore, conversation_id: str) -> None:
        self._store = store
        self._conversation_id = conversation_id
        self._keys = store.keys(conversation_id)
        self.token = secrets.token_hex(16)

    async def __aenter__(self) -> int:
        fence, _ = await self.acquire(_ACQUIRE, [self._keys.lock, self._keys.fence])
        return fence

    async def acquire(self, script: Script, keys: Sequence[str], more: Sequence[Arg] = ()) -> tuple[int, Any]:
        """Run `script` (_ACQUIRE or _BEGIN: same keys and arguments first, `more` after them) until
        it grants the lock or has an answer; -> (fence, reply), fence 0 when the answer came
        without the lock."""
        store = self._store
        deadline = time.monotonic() + store.acquire_timeout
        delay = 0.002
        args = (self.token, store._lock_ttl_ms, store._fence_ttl_ms, *more)
        while True:
            try:
                reply = await store._script(script, keys, args)
            except asyncio.CancelledError:
                # the server may have granted the lock before the reply was lost:
                # hand it back rather than wedge the conversation for lock_ttl
                await asyncio.shield(self._release())
                raise
            if isinstance(reply, list):  # _BEGIN: {-1} while busy
                if reply[0] != -1:
                    return int(reply[0]), reply
            elif reply:  # _ACQUIRE: the fence, 0 while busy
                return int(reply), None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Conflict(
                    f"conversation {self._conversation_id!r} is busy with another turn",
                    code="conversation_busy",
                    hint="retry the message later; a turn holds the conversation for at most "
                    f"lock_ttl={store.lock_ttl:g}s",
                )
            # jittered exponential backoff so waiting workers do not poll in lockstep
            await asyncio.sleep(min(delay * random.uniform(0.5, 1.0), remaining))
            delay = min(delay * 2, _MAX_BACKOFF)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if await self._release() is False:
            log.warning(
                "lock of %r expired before release: the turn outlived lock_ttl=%gs",
                self._conversation_id,
                self._store.lock_ttl,
            )

    async def _release(self) -> bool | None:
        """Compare-and-delete: False when no longer the owner, None when Redis is unreachable."""
        try:
            return bool(await self._store._script(_RELEASE, (self._keys.lock,), (self.token,)))
        except ServiceUnavailable as err:
            # the lock expires by itself; failing a finished turn would not help
            log.warning("could not release lock of %r: %s", self._conversation_id, err)
            return None


class RedisTurn:
    """`RedisStore.turn`: one round trip to begin (result, lock, fence and state) and one to commit."""

    def __init__(self, store: RedisStore, conversation_id: str, message_id: str, history: int) -> None:
        self._store = store
        self._conversation_id = conversation_id
        self._message_id = message_id
        self._history = max(0, history)
        self._keys = store.keys(conversation_id)
        self._lock = RedisLock(store, conversation_id)
        self._fence = 0
        self._before: tuple[str, float] | None = None  # (user_id, updated_at) as loaded

    async def __aenter__(self) -> OpenTurn:
        keys = self._keys
        self._fence, reply = await self._lock.acquire(
            _BEGIN,
            [keys.lock, keys.fence, keys.state, keys.result(self._message_id), keys.transcript],
            (self._history,),
        )
        if self._fence == 0:
            return OpenTurn(None, json_codec.loads(reply[1]), [], self.commit)
        raw, past = reply[1], reply[2]
        state = ConversationState.from_dict(json_codec.loads(raw)) if raw else None
        self._before = (state.user_id, state.updated_at) if state else None
        return OpenTurn(state, None, [json_codec.loads(entry) for entry in past], self.commit)

    async def commit(self, state: ConversationState, entry: dict[str, Any], result: dict[str, Any]) -> None:
        store, keys = self._store, self._keys
        if state.user_id != ANONYMOUS and store._index_due(self._before, state):
            await store._index(state)
        written = await store._script(
            _COMMIT,
            (keys.state, keys.fence, keys.transcript, keys.result(self._message_id), keys.results, keys.lock),
            (
                *(json_codec.dumps(state.to_dict()), store._state_ttl_ms, self._fence),
                *(json_codec.dumps(entry), store.transcript_limit, store._transcript_ttl_ms),
                *(json_codec.dumps(result), store._result_ttl_ms, self._message_id, self._lock.token),
            ),
        )
        if not written:
            raise store._lock_lost(state.conversation_id, self._fence)
        self._fence = 0  # released by the script

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fence:  # held and not committed: the turn failed
            await self._lock.__aexit__(exc_type, exc, tb)


class RedisStore:
    """The ConversationStore protocol on Redis (standalone, Sentinel or Cluster)."""

    def __init__(
        self,
        client: RedisClient,
        *,
        tenant: str = "default",
        state_ttl: float = 30 * 86400,
        transcript_ttl: float = 30 * 86400,
        transcript_limit: int = 1000,
        result_ttl: float = 86400,
        lock_ttl: float = 30.0,
        acquire_timeout: float = 10.0,
        command_timeout: float = 2.0,
    ) -> None:
        if not _TENANT.fullmatch(tenant):
            raise ConfigError(
                f"invalid tenant id {tenant!r}",
                hint="use 1-64 characters from A-Z a-z 0-9 _ . -",
            )
        if min(state_ttl, transcript_ttl, result_ttl, lock_ttl, transcript_limit) <= 0:
            raise ConfigError("store TTLs and transcript_limit must be positive")
        self.client = client
        self.tenant = tenant
        self.state_ttl = state_ttl
        self.transcript_ttl = transcript_ttl
        self.transcript_limit = transcript_limit
        self.result_ttl = result_ttl
        self.lock_ttl = lock_ttl
        self.acquire_timeout = acquire_timeout
        self.command_timeout = command_timeout
        # The fence must outlive the state it guards; the user index must outlive
        # everything written for the user (a turn writes within one lock hold).
        self._fence_ttl_ms = _ms(state_ttl + lock_ttl)
        # A turn refreshes the index only when it is the first in a new period of
        # half the longest TTL (see _index_due), so the index lives one period longer.
        longest = max(state_ttl, transcript_ttl, result_ttl)
        self._index_period = longest / 2
        self._index_ttl_ms = _ms(longest + self._index_period + lock_ttl)
        self._state_ttl_ms, self._transcript_ttl_ms = _ms(state_ttl), _ms(transcript_ttl)
        self._result_ttl_ms, self._lock_ttl_ms = _ms(result_ttl), _ms(lock_ttl)
        self.calls = redis_calls(client)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        mode: Mode | None = None,
        client_options: dict[str, Any] | None = None,
        **settings: Any,
    ) -> RedisStore:
        """Connect with `connect_redis(url, mode, **client_options)`; `settings` as __init__.

        Without socket_timeout: redis-py would wrap every write in asyncio.wait_for, a
        task per command (a third of a command's CPU); `_bounded` limits each call instead.
        """
        return cls(connect_redis(url, mode, **{"socket_timeout": None, **(client_options or {})}), **settings)

    def for_tenant(self, tenant: str) -> RedisStore:
        return RedisStore(
            self.client,
            tenant=tenant,
            state_ttl=self.state_ttl,
            transcript_ttl=self.transcript_ttl,
            transcript_limit=self.transcript_limit,
            result_ttl=self.result_ttl,
            lock_ttl=self.lock_ttl,
            acquire_timeout=self.acquire_timeout,
            command_timeout=self.command_timeout,
        )

    async def aclose(self) -> None:
        pool = getattr(self.client, "connection_pool", None)
        await self.client.aclose()
        if isinstance(pool, SentinelConnectionPool):
            for sentinel in pool.sentinel_manager.sentinels:
                await sentinel.aclose()

    def _bounded(self) -> AbstractAsyncContextManager[None]:
        return bounded(self.command_timeout)

    async def _script(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        return await self.calls.script(script, keys, args, self.command_timeout)

    async def _index(self, state: ConversationState) -> None:
        """List the conversation under its user, for erase_user."""
        await self._script(_INDEX, (self.user_index_key(state.user_id),), (state.conversation_id, self._index_ttl_ms))

    def keys(self, conversation_id: str) -> ConversationKeys:
        return ConversationKeys(f"fd:{self.tenant}:{{conv:{_tag_safe(conversation_id)}}}:")

    def user_index_key(self, user_id: str) -> str:
        return f"fd:{self.tenant}:{{user:{_tag_safe(user_id)}}}:conversations"

    async def load(self, conversation_id: str) -> ConversationState | None:
        async with self._bounded():
            raw = await self.client.get(self.keys(conversation_id).state)
        return None if raw is None else ConversationState.from_dict(json_codec.loads(raw))

    async def save(self, state: ConversationState, *, fence: int | None = None) -> None:
        """Write the state; with `fence`, only if no later lock grant has happened."""
        keys = self.keys(state.conversation_id)
        data = json_codec.dumps(state.to_dict())
        # index first: a crash between the two leaves an extra id, never a
        # conversation that erase_user cannot find
        if state.user_id != ANONYMOUS:
            await self._index(state)
        written = await self._script(
            _SAVE, (keys.state, keys.fence), (data, self._state_ttl_ms, "" if fence is None else fence)
        )
        if not written:
            raise self._lock_lost(state.conversation_id, fence)

    async def append_transcript(self, conversation_id: str, entry: dict[str, Any]) -> None:
        await self._script(
            _APPEND,
            (self.keys(conversation_id).transcript,),
            (json_codec.dumps(entry), self.transcript_limit, self._transcript_ttl_ms),
        )

    async def transcript(self, conversation_id: str) -> list[dict[str, Any]]:
        async with self._bounded():
            raw = await self.client.lrange(self.keys(conversation_id).transcript, 0, -1)
        return [json_codec.loads(item) for item in raw]

    async def get_result(self, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        async with self._bounded():
            raw = await self.client.get(self.keys(conversation_id).result(message_id))
        return None if raw is None else json_codec.loads(raw)

    async def put_result(self, conversation_id: str, message_id: str, result: dict[str, Any]) -> None:
        keys = self.keys(conversation_id)
        await self._script(
            _PUT_RESULT,
            (keys.result(message_id), keys.results),
            (json_codec.dumps(result), self._result_ttl_ms, message_id),
        )

    def lock(self, conversation_id: str) -> RedisLock:
        return RedisLock(self, conversation_id)

    def turn(self, conversation_id: str, message_id: str, *, history: int = 0) -> RedisTurn:
        return RedisTurn(self, conversation_id, message_id, history)

    def _index_due(self, before: tuple[str, float] | None, after: ConversationState) -> bool:
        """Whether a turn must (re)index its conversation under the user: when it is new, changed
        user, or is the first turn in a new period. Everything a conversation writes expires at
        most the longest TTL after its last turn, and the last refresh happened at most one
        period before that turn: the index, refreshed with longest + period, outlives it all."""
        if before is None or before[0] != after.user_id:
            return True
        return int(before[1] // self._index_period) != int(after.updated_at // self._index_period)

    def _lock_lost(self, conversation_id: str, fence: int | None) -> Conflict:
        return Conflict(
            f"conversation {conversation_id!r} was taken over by another worker; state of fence {fence} not saved",
            code="conversation_lock_lost",
            hint=f"the turn outlived lock_ttl={self.lock_ttl:g}s; raise lock_ttl above "
            "the slowest turn (model timeouts included)",
        )

    async def erase_user(self, user_id: str) -> dict[str, int]:
        """Erase the user's conversations, transcripts and results; one conversation at a time.

        Each conversation is erased under its lock, so no turn is half-way through
        it; a conversation now saved under another user id is left alone. A
        conversation busy past acquire_timeout raises Conflict(conversation_busy)
        after the ones before it are erased: calling again finishes the job.
        """
        if user_id == ANONYMOUS:
            raise InputError(
                "cannot erase the anonymous user",
                code="erase_anonymous",
                hint="erasure needs a real user id; anonymous conversations are not indexed",
            )
        index = self.user_index_key(user_id)
        counts = {"conversations": 0, "transcripts": 0, "results": 0}
        async with self._bounded():
            members = await self.client.smembers(index)
        for member in members:
            conversation_id = as_text(member)
            keys = self.keys(conversation_id)
            async with self.lock(conversation_id):
                async with self._bounded():
                    mids = await self.client.zrange(keys.results, 0, -1)
                state, transcript, results = await self._script(
                    _ERASE,
                    (keys.state, keys.transcript, keys.fence, keys.results, *(keys.result(as_text(m)) for m in mids)),
                    (user_id, self._lock_ttl_ms),
                )
            if state >= 0:
                counts["conversations"] += state
                counts["transcripts"] += transcript
                counts["results"] += results
            async with self._bounded():
                await self.client.srem(index, conversation_id)
        return counts

    async def ping(self) -> bool:
        try:
            async with asyncio.timeout(self.command_timeout):
                return bool(await self.client.ping())
        except Exception:  # never raises: health checks report, they do not fail
            return False
