"""Token buckets per tenant, per user and per IP, checked together in one step.

A bucket holds up to `capacity` tokens and refills at `per_second`; a request
costs `cost` tokens from every bucket that applies and is let through only if
all of them can pay (a refused request takes nothing, so it cannot starve
anyone). Refused: `RateLimited` (429) with `retry_after` in seconds, when the
emptiest bucket will have refilled enough.

Tiers: a policy maps customer tiers to multipliers. A tier's user bucket is
`multiplier` times larger and refills that much faster, and on the shared
tenant bucket a `reserve` share of the capacity is kept back for higher tiers:
a request of a tier with multiplier m may draw the tenant bucket only down to
`reserve * capacity / max(m, 1)`. Under load, standard customers are refused
first while VIPs still get through.

Redis: one Lua script per request (one round trip) refills by the time elapsed
on the Redis server's clock (`TIME`, so worker clocks do not matter), takes the
tokens and answers. All buckets of a tenant share the hash tag `{rl:<tenant>}`,
so the one script is legal on Cluster too; the price is that a tenant's buckets
live on one shard, which its tenant bucket already forces (every request of the
tenant touches it). A bucket disappears once it would be full again:

    fd:<tenant>:{rl:<tenant>}:tenant          HASH  tokens, ts (µs)
    fd:<tenant>:{rl:<tenant>}:user:<user_id>  HASH
    fd:<tenant>:{rl:<tenant>}:ip:<address>    HASH

`MemoryRateLimiter` is the same algorithm for one process (embedded mode).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from frontdesk.api_keys import check_tenant
from frontdesk.errors import ConfigError, InputError, RateLimited
from frontdesk.redis_client import RedisClient, Script, redis_calls
from frontdesk.settings import Settings, parse_rate


@dataclass(frozen=True)
class Limit:
    capacity: float  # the largest burst
    per_second: float  # refill rate

    def __post_init__(self) -> None:
        if self.capacity <= 0 or self.per_second <= 0:
            raise ConfigError(f"rate limit {self} must have a positive capacity and refill rate")


@dataclass(frozen=True)
class Bucket:
    name: str  # "tenant", "user:<id>", "ip:<address>"
    capacity: float
    per_second: float
    floor: float  # tokens this request must leave in the bucket


@dataclass(frozen=True)
class RateLimitPolicy:
    tenant: Limit | None = None
    user: Limit | None = None
    ip: Limit | None = None
    tiers: Mapping[str, float] = field(default_factory=dict)  # tier -> multiplier; unknown tiers get 1
    reserve: float = 0.0  # share of the tenant bucket kept for tiers above 1

    def __post_init__(self) -> None:
        if not 0 <= self.reserve < 1 or any(m <= 0 for m in self.tiers.values()):
            raise ConfigError("rate limit reserve must be in [0, 1) and tier multipliers positive")

    def buckets(self, *, user: str | None, ip: str | None, tier: str | None, cost: float) -> list[Bucket]:
        """The buckets one request draws from (user and IP only when known)."""
        multiplier = self.tiers.get(tier, 1.0) if tier else 1.0
        buckets = []
        if self.tenant:
            floor = self.reserve * self.tenant.capacity / max(multiplier, 1.0)
            buckets.append(Bucket("tenant", self.tenant.capacity, self.tenant.per_second, floor))
        if self.user and user is not None:
            limit = self.user
            buckets.append(Bucket(f"user:{user}", limit.capacity * multiplier, limit.per_second * multiplier, 0.0))
        if self.ip and ip is not None:
            buckets.append(Bucket(f"ip:{ip}", self.ip.capacity, self.ip.per_second, 0.0))
        for bucket in buckets:
            if cost <= 0 or cost + bucket.floor > bucket.capacity:
                raise InputError(
                    f"a request costing {cost:g} can never pass the {bucket.name} bucket "
                    f"(capacity {bucket.capacity:g}, reserve {bucket.floor:g})",
                    code="rate_cost_invalid",
                    hint="raise the bucket's capacity or lower the cost",
                )
        return buckets


def _refused(tenant: str, bucket: Bucket, retry_after: float) -> RateLimited:
    return RateLimited(
        f"rate limit of {bucket.name} in tenant {tenant} exceeded",
        retry_after=retry_after,
        hint=f"retry after {retry_after:.3g}s (the Retry-After header)",
    )


class RateLimiter(Protocol):
    async def check(
        self, tenant: str, *, user: str | None = None, ip: str | None = None, tier: str | None = None, cost: float = 1
    ) -> int:
        """Take `cost` tokens from every bucket or raise RateLimited; returns the whole tokens left
        in the emptiest bucket (for a RateLimit-Remaining header)."""


# KEYS: buckets. ARGV: cost, then capacity, per_second, floor for each bucket.
# Returns {1, remaining} or {0, retry_after_ms, index of the bucket that refused}.
_TAKE = Script(
    """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cost = tonumber(ARGV[1])
local levels, wait, refuser = {}, 0, 0
for i, key in ipairs(KEYS) do
  local capacity, rate, floor = tonumber(ARGV[i*3-1]), tonumber(ARGV[i*3]), tonumber(ARGV[i*3+1])
  local state = redis.call('HMGET', key, 'tokens', 'ts')
  local level = capacity
  if state[1] then
    local elapsed = math.max(0, now - tonumber(state[2]))
    level = math.min(capacity, tonumber(state[1]) + elapsed * rate / 1000000)
  end
  levels[i] = level
  local missing = cost + floor - level
  if missing > 0 and missing / rate > wait then wait, refuser = missing / rate, i end
end
if refuser > 0 then return {0, math.ceil(wait * 1000), refuser} end
local remaining = nil
for i, key in ipairs(KEYS) do
  local capacity, rate = tonumber(ARGV[i*3-1]), tonumber(ARGV[i*3])
  local left = levels[i] - cost
  redis.call('HSET', key, 'tokens', string.format('%.6f', left), 'ts', string.format('%d', now))
  redis.call('PEXPIRE', key, math.ceil((capacity - left) / rate * 1000) + 1000)
  local whole = math.floor(left - tonumber(ARGV[i*3+1]))
  if remaining == nil or whole < remaining then remaining = whole end
end
return {1, remaining or 0}
"""
)


class RedisRateLimiter:
    """Buckets shared by every worker; one round trip per check."""

    def __init__(self, client: RedisClient, policy: RateLimitPolicy) -> None:
        self.client = client
        self.policy = policy
        self._calls = redis_calls(client)

    @staticmethod
    def key(tenant: str, bucket: str) -> str:
        return f"fd:{tenant}:{{rl:{tenant}}}:{bucket}"

    async def check(
        self, tenant: str, *, user: str | None = None, ip: str | None = None, tier: str | None = None, cost: float = 1
    ) -> int:
        check_tenant(tenant)
        buckets = self.policy.buckets(user=user, ip=ip, tier=tier, cost=cost)
        if not buckets:
            return 0
        args: list[float] = [cost]
        for b in buckets:
            args += [b.capacity, b.per_second, b.floor]
        keys = [self.key(tenant, b.name) for b in buckets]
        reply = await self._calls.script(_TAKE, keys, args, timeout=None)  # callers bound it (Access.limit)
        if reply[0] == 1:
            return int(reply[1])
        raise _refused(tenant, buckets[int(reply[2]) - 1], int(reply[1]) / 1000)


class MemoryRateLimiter:
    """The same buckets in one process's memory (embedded mode)."""

    def __init__(self, policy: RateLimitPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._levels: dict[tuple[str, str], tuple[float, float]] = {}  # (tenant, bucket) -> (tokens, at)
        self._checks = 0

    async def check(
        self, tenant: str, *, user: str | None = None, ip: str | None = None, tier: str | None = None, cost: float = 1
    ) -> int:
        check_tenant(tenant)
        buckets = self.policy.buckets(user=user, ip=ip, tier=tier, cost=cost)
        now = self._clock()
        self._checks += 1
        if self._checks % 4096 == 0:
            self._forget_full(now)
        levels = []
        wait, refuser = 0.0, None
        for b in buckets:
            tokens, at = self._levels.get((tenant, b.name), (b.capacity, now))
            level = min(b.capacity, tokens + max(0.0, now - at) * b.per_second)
            levels.append(level)
            missing = cost + b.floor - level
            if missing > 0 and missing / b.per_second > wait:
                wait, refuser = missing / b.per_second, b
        if refuser is not None:
            raise _refused(tenant, refuser, math.ceil(wait * 1000) / 1000)
        for b, level in zip(buckets, levels, strict=True):
            self._levels[(tenant, b.name)] = (level - cost, now)
        return min((math.floor(level - cost - b.floor) for b, level in zip(buckets, levels, strict=True)), default=0)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: absent means full, so memory stays bounded by activity."""
        limits = [lim for lim in (self.policy.tenant, self.policy.user, self.policy.ip) if lim]
        longest = max((lim.capacity / lim.per_second for lim in limits), default=0.0)  # tiers scale both alike
        for key, (_, at) in list(self._levels.items()):
            if now - at > longest:
                del self._levels[key]


def policy_from_settings(settings: Settings) -> RateLimitPolicy | None:
    """FRONTDESK_RATE_*; None when no bucket is set. Checked here, at start-up, rather than on every request."""
    tenant, user, ip = (
        None if text is None else Limit(*parse_rate(text))
        for text in (settings.rate_tenant, settings.rate_user, settings.rate_ip)
    )
    if not (tenant or user or ip):
        return None
    policy = RateLimitPolicy(tenant, user, ip, tiers=settings.rate_tiers, reserve=settings.rate_reserve)
    for tier in (None, *settings.rate_tiers):
        try:
            policy.buckets(user="u", ip="ip", tier=tier, cost=1)
        except InputError as exc:
            raise ConfigError(
                f"rate limits: {exc.message}" + (f" (tier {tier})" if tier else ""),
                code="rate_limits_invalid",
                hint="raise the bursts of FRONTDESK_RATE_* or the tier's multiplier, or lower FRONTDESK_RATE_RESERVE",
            ) from None
    return policy
