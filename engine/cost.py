"""Token and cost accounting per tenant, conversation and model; per-tenant daily budgets.

Amounts are integers in nano-units of the budget currency (`NANOS` per unit):
prices have at most 6 decimals per 1k tokens, so every cost is exact, and
Redis adds integers atomically.

Budgets fail closed and hold under concurrency: a call first *reserves* its
worst case (estimated prompt + maximum output tokens at the model's prices);
the reservation is refused when the day's spent + reserved + it would pass the
tenant's limit. After the call it is *settled* with the real cost (or released,
cost 0, when the call failed). A reservation never settled (a crashed worker)
expires after `reservation_ttl` seconds in the Redis tracker.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol

from redis.exceptions import RedisError

from frontdesk.errors import VendorError
from frontdesk.llm_types import Usage
from frontdesk.models_config import NANOS, BudgetConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reservation:
    tenant: str
    day: str  # UTC date the amount is charged to
    amount: int
    id: str


@dataclass
class Totals:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_nanos: int = 0

    @property
    def cost(self) -> Decimal:
        return Decimal(self.cost_nanos) / NANOS

    def add(self, usage: Usage, cost: int) -> None:
        self.calls += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_nanos += cost


class CostTracker(Protocol):
    async def reserve(self, tenant: str, amount: int) -> Reservation: ...

    async def settle(
        self, res: Reservation, *, usage: Usage | None, cost: int, model: str, conversation_id: str | None
    ) -> None: ...


def budget_exhausted(tenant: str) -> VendorError:
    # a VendorError so the pipeline degrades exactly as when no vendor answers
    return VendorError(
        f"tenant {tenant!r} has reached its daily model budget",
        code="budget_exhausted",
        retryable=False,
        hint="raise budgets.daily for the tenant in the models file, or wait for the next UTC day",
    )


def utc_day(clock: Callable[[], float]) -> str:
    return _day_name(int(clock() // 86400))


@lru_cache(maxsize=4)
def _day_name(days: int) -> str:
    """`YYYY-MM-DD` of a day counted from the epoch (every call of the day asks for the same one)."""
    return datetime.fromtimestamp(days * 86400, UTC).date().isoformat()


class MemoryCostTracker:
    """One process, no services. Check-and-reserve runs with no `await` in between,
    so on the event loop it is atomic: no lock is needed for concurrent turns.
    Figures are kept for `keep_days` UTC days, like the Redis tracker's keys."""

    def __init__(self, budgets: BudgetConfig, *, keep_days: int = 3, clock: Callable[[], float] = time.time) -> None:
        self.budgets = budgets
        self.keep_days = keep_days
        self._clock = clock
        self._today = ""
        self._ids = itertools.count()  # reservation ids: unique within the process is enough here
        self._limits: dict[str, int | None] = {}  # tenant -> daily limit in nanos (the budgets are frozen)
        self._spent: dict[tuple[str, str], int] = defaultdict(int)  # (tenant, day)
        self._reserved: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)  # (tenant, day) -> id -> amount
        self._holding: dict[tuple[str, str], int] = defaultdict(int)  # (tenant, day) -> sum of its reservations
        self._totals: dict[tuple[str, str, str], Totals] = defaultdict(Totals)  # (tenant, day, model or "")
        self._conversations: dict[tuple[str, str], tuple[str, Totals]] = {}  # (tenant, id) -> (last day, totals)

    def _prune(self, day: str) -> None:
        """On the first call of a new day, forget what is older than `keep_days`."""
        if day == self._today:
            return
        self._today = day
        oldest = (datetime.fromisoformat(day) - timedelta(days=self.keep_days - 1)).date().isoformat()
        tables: tuple[dict[Any, Any], ...] = (self._spent, self._reserved, self._holding, self._totals)
        for table in tables:
            for key in [k for k in table if k[1] < oldest]:
                del table[key]
        for key in [k for k, (last, _) in self._conversations.items() if last < oldest]:
            del self._conversations[key]

    async def reserve(self, tenant: str, amount: int) -> Reservation:
        day = utc_day(self._clock)
        self._prune(day)
        if tenant not in self._limits:
            self._limits[tenant] = self.budgets.daily_limit_nanos(tenant)
        limit = self._limits[tenant]
        key = (tenant, day)
        if limit is not None and self._spent[key] + self._holding[key] + amount > limit:
            raise budget_exhausted(tenant)
        res = Reservation(tenant, day, amount, f"{next(self._ids):x}")
        self._reserved[key][res.id] = amount
        self._holding[key] += amount
        return res

    async def settle(
        self, res: Reservation, *, usage: Usage | None, cost: int, model: str, conversation_id: str | None
    ) -> None:
        key = (res.tenant, res.day)
        self._holding[key] -= self._reserved[key].pop(res.id, 0)
        if usage is None:
            return
        self._spent[res.tenant, res.day] += cost
        self._totals[res.tenant, res.day, ""].add(usage, cost)
        self._totals[res.tenant, res.day, model].add(usage, cost)
        if conversation_id is not None:
            _, totals = self._conversations.get((res.tenant, conversation_id), ("", Totals()))
            totals.add(usage, cost)
            self._conversations[res.tenant, conversation_id] = (res.day, totals)

    async def totals(
        self, tenant: str, *, day: str | None = None, model: str | None = None, conversation_id: str | None = None
    ) -> Totals:
        """A conversation's totals (all days kept), or a tenant's for one UTC day (today), optionally one model's."""
        if conversation_id is not None:
            return self._conversations.get((tenant, conversation_id), ("", Totals()))[1]
        return self._totals.get((tenant, day or utc_day(self._clock), model or ""), Totals())

    async def held(self, tenant: str, *, day: str | None = None) -> tuple[int, int]:
        """(spent, reserved) for a tenant's day."""
        day = day or utc_day(self._clock)
        return self._spent.get((tenant, day), 0), self._holding.get((tenant, day), 0)


# KEYS: budget hash, reservations zset. ARGV: amount, limit (-1: none), id, now, expires_at, key ttl
_RESERVE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4])
for _, rid in ipairs(expired) do
  local amt = redis.call('HGET', KEYS[1], 'r:' .. rid)
  if amt then
    redis.call('HINCRBY', KEYS[1], 'reserved', '-' .. amt)
    redis.call('HDEL', KEYS[1], 'r:' .. rid)
  end
  redis.call('ZREM', KEYS[2], rid)
end
local limit = tonumber(ARGV[2])
if limit >= 0 then
  local used = tonumber(redis.call('HGET', KEYS[1], 'spent') or '0')
             + tonumber(redis.call('HGET', KEYS[1], 'reserved') or '0')
  if used + tonumber(ARGV[1]) > limit then return 0 end
end
redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[1])
redis.call('HSET', KEYS[1], 'r:' .. ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[6])
return 1
"""

# KEYS: budget hash, reservations zset. ARGV: id, counted (1/0), cost, input, output, model, key ttl
_SETTLE = """
local amt = redis.call('HGET', KEYS[1], 'r:' .. ARGV[1])
if amt then
  redis.call('HINCRBY', KEYS[1], 'reserved', '-' .. amt)
  redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
end
if ARGV[2] == '1' then
  for _, prefix in ipairs({'', 'm:' .. ARGV[6] .. ':'}) do
    redis.call('HINCRBY', KEYS[1], prefix .. 'spent', ARGV[3])
    redis.call('HINCRBY', KEYS[1], prefix .. 'calls', 1)
    redis.call('HINCRBY', KEYS[1], prefix .. 'in', ARGV[4])
    redis.call('HINCRBY', KEYS[1], prefix .. 'out', ARGV[5])
  end
  redis.call('EXPIRE', KEYS[1], ARGV[7])
end
return 1
"""

# KEYS: conversation hash. ARGV: cost, input, output, key ttl
_CONVERSATION = """
redis.call('HINCRBY', KEYS[1], 'spent', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'calls', 1)
redis.call('HINCRBY', KEYS[1], 'in', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'out', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""


def _totals(data: dict[Any, Any], prefix: str = "") -> Totals:
    text = {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}

    def get(name: str) -> int:
        return int(text.get(prefix + name, 0))

    return Totals(get("calls"), get("in"), get("out"), get("spent"))


class RedisCostTracker:
    """Shared by every worker: one hash per tenant and UTC day, changed only by Lua scripts."""

    def __init__(
        self,
        redis: Any,  # a redis.asyncio client
        budgets: BudgetConfig,
        *,
        prefix: str = "fd:cost:",
        reservation_ttl: float = 600.0,
        keep_days: int = 3,
        redis_timeout: float = 0.5,  # a slow Redis must not hold the turn: past this, fail closed
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.redis = redis
        self.budgets = budgets
        self.prefix = prefix
        self.reservation_ttl = reservation_ttl
        self.redis_timeout = redis_timeout
        self.keep_seconds = keep_days * 86400  # day hashes, and a conversation's since its last call
        self._clock = clock
        self._reserve = redis.register_script(_RESERVE)
        self._settle = redis.register_script(_SETTLE)
        self._conversation = redis.register_script(_CONVERSATION)

    def _keys(self, tenant: str, day: str) -> list[str]:
        # one hash tag, so a Redis cluster keeps both keys on one slot for the scripts
        base = f"{self.prefix}{{{tenant}:{day}}}"
        return [base, base + ":res"]

    async def reserve(self, tenant: str, amount: int) -> Reservation:
        now = self._clock()
        day = utc_day(self._clock)
        limit = self.budgets.daily_limit_nanos(tenant)
        res = Reservation(tenant, day, amount, os.urandom(8).hex())
        args = [amount, -1 if limit is None else limit, res.id, now, now + self.reservation_ttl, self.keep_seconds]
        try:
            async with asyncio.timeout(self.redis_timeout):
                granted = await self._reserve(keys=self._keys(tenant, day), args=args)
        except (RedisError, OSError, TimeoutError) as exc:  # the budget cannot be checked: fail closed
            raise VendorError(
                "the model budget store is unreachable", code="budget_unavailable", retryable=False
            ) from exc
        if not granted:
            raise budget_exhausted(tenant)
        return res

    async def settle(
        self, res: Reservation, *, usage: Usage | None, cost: int, model: str, conversation_id: str | None
    ) -> None:
        u = usage or Usage()
        args = [res.id, int(usage is not None), cost, u.input_tokens, u.output_tokens, model, self.keep_seconds]
        try:
            async with asyncio.timeout(self.redis_timeout):
                await self._settle(keys=self._keys(res.tenant, res.day), args=args)
                if usage is None or conversation_id is None:
                    return
                args = [cost, u.input_tokens, u.output_tokens, self.keep_seconds]
                await self._conversation(keys=[f"{self.prefix}conv:{res.tenant}:{conversation_id}"], args=args)
        except (RedisError, OSError, TimeoutError) as exc:
            # the answer is already out; the reservation expires after reservation_ttl
            log.error("cost: settling %s for tenant %s failed: %s", cost, res.tenant, type(exc).__name__)

    async def totals(
        self, tenant: str, *, day: str | None = None, model: str | None = None, conversation_id: str | None = None
    ) -> Totals:
        """A conversation's totals (all days), or a tenant's for one UTC day (today), optionally one model's."""
        if conversation_id is not None:
            return _totals(await self.redis.hgetall(f"{self.prefix}conv:{tenant}:{conversation_id}"))
        data = await self.redis.hgetall(self._keys(tenant, day or utc_day(self._clock))[0])
        return _totals(data, "" if model is None else f"m:{model}:")

    async def held(self, tenant: str, *, day: str | None = None) -> tuple[int, int]:
        """(spent, reserved) for a tenant's day."""
        data = await self.redis.hmget(self._keys(tenant, day or utc_day(self._clock))[0], ["spent", "reserved"])
        return int(data[0] or 0), int(data[1] or 0)
