"""The answer cache: an in-process LRU in front of an optional shared Redis.

Keyed by tenant, ruleset version, tier, the request's customer scope (when the
answer is customer-specific, so it is never served to another customer), the
options that change the answer, and the normalised prompt. Prompts reach the
cache masked, as they reach the vendor. Redis failures make a miss, never a
failed turn: the cache is an optimisation.

Erasure: a customer-specific entry's key carries a tag of its scope,
`<prefix><tenant>:<tag>:<digest>`, and with Redis the set `<prefix><tenant>:<tag>:index`
lists the scope's entries, so `erase_scope` finds them without a scan. With Redis
such entries are not kept in process memory either, where an erasure on another
worker could not reach them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from redis.exceptions import RedisError

from frontdesk import json_codec
from frontdesk.llm_types import ChatRequest, ChatResponse, Usage
from frontdesk.redis_client import translate

log = logging.getLogger(__name__)
_SPACES = re.compile(r"\s+")


def scope_tag(scope: str) -> str:
    """A customer scope as it appears in keys: one tag per scope, the scope itself not readable."""
    return "s" + hashlib.sha256(scope.encode()).hexdigest()[:24]


@lru_cache(maxsize=256)  # system prompts and few-shot examples come back every turn; messages churn through
def normalize(text: str) -> str:
    """NFKC (full-width forms fold to ASCII) and collapsed whitespace; case is kept."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text)).strip()


class AnswerCache:
    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        max_entries: int = 10_000,
        redis: Any = None,  # a redis.asyncio client, shared by the workers
        prefix: str = "fd:llm:",
        redis_timeout: float = 0.1,  # a slow Redis must not slow the turn: past this, a miss
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.redis_timeout = redis_timeout
        self.max_entries = max_entries
        self.redis = redis
        self.prefix = prefix
        self._clock = clock
        self._lru: OrderedDict[str, tuple[float, ChatResponse]] = OrderedDict()

    def key(self, req: ChatRequest, *, tenant: str, ruleset_version: str, tier: str) -> str:
        material = json_codec.dumps(
            [
                ruleset_version,
                tier,
                req.customer_scope,
                req.json_mode,
                req.max_tokens,
                req.temperature,
                req.stop,
                [[m.role, normalize(m.content)] for m in req.messages],
            ]
        )
        # tenant stays readable in the key so an operator can purge one tenant
        digest = hashlib.sha256(material).hexdigest()
        if req.customer_scope is None:
            return f"{self.prefix}{tenant}:{digest}"
        return f"{self.prefix}{tenant}:{scope_tag(req.customer_scope)}:{digest}"

    def _scope_prefix(self, key: str) -> str | None:
        """`<prefix><tenant>:<tag>:` of a customer-specific key, None for a shared one."""
        head, sep, _ = key.rpartition(":")
        return head + sep if head.count(":") > self.prefix.count(":") else None

    def _in_process(self, key: str) -> bool:
        return self.redis is None or self._scope_prefix(key) is None

    async def get(self, key: str) -> ChatResponse | None:
        now = self._clock()
        item = self._lru.get(key)
        if item is not None:
            if item[0] > now:
                self._lru.move_to_end(key)
                return item[1]
            del self._lru[key]
        if self.redis is None:
            return None
        try:
            async with asyncio.timeout(self.redis_timeout):
                raw = await self.redis.get(key)
        except (RedisError, OSError, TimeoutError) as exc:  # any Redis trouble is a miss
            log.warning("answer cache: redis get failed: %s", type(exc).__name__)
            return None
        if raw is None:
            return None
        try:
            data = json_codec.loads(raw)
            expires_at = float(data.pop("expires_at"))
            data["usage"] = Usage(**data["usage"])
            resp = ChatResponse(**{**data, "cached": True})
        except (ValueError, TypeError, KeyError):
            return None
        if expires_at <= now:
            return None
        if self._in_process(key):
            self._remember(key, expires_at, resp)
        return resp

    async def set(self, key: str, resp: ChatResponse) -> None:
        expires_at = self._clock() + self.ttl
        resp = resp.as_cached()
        if self._in_process(key):
            self._remember(key, expires_at, resp)
        if self.redis is None:
            return
        value = json_codec.dumps_str({**dataclasses.asdict(resp), "expires_at": expires_at})
        ttl_ms = max(1, int(self.ttl * 1000))
        scope = self._scope_prefix(key)
        try:
            async with asyncio.timeout(self.redis_timeout):
                if scope is not None:  # indexed first: erasure can find every entry that exists
                    await self.redis.sadd(scope + "index", key)
                    await self.redis.pexpire(scope + "index", ttl_ms)
                await self.redis.set(key, value, px=ttl_ms)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("answer cache: redis set failed: %s", type(exc).__name__)

    async def erase_scope(self, tenant: str, scope: str) -> int:
        """Drop every answer cached for one customer scope; Redis errors raise (an erasure must finish)."""
        prefix = f"{self.prefix}{tenant}:{scope_tag(scope)}:"
        mine = [key for key in self._lru if key.startswith(prefix)]
        for key in mine:
            del self._lru[key]
        if self.redis is None:
            return len(mine)
        with translate():
            keys = await self.redis.smembers(prefix + "index")
            erased = sum([await self.redis.delete(key) for key in keys])
            await self.redis.delete(prefix + "index")
        return erased

    def _remember(self, key: str, expires_at: float, resp: ChatResponse) -> None:
        self._lru[key] = (expires_at, resp)
        self._lru.move_to_end(key)
        while len(self._lru) > self.max_entries:
            self._lru.popitem(last=False)
