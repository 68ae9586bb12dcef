"""Who is calling the HTTP API, and may they: API keys with scopes, signed webhooks, rate limits.

    Access.caller(request, scope)         FRONTDESK_AUTH=keys: the Bearer key's tenant, 401/403 otherwise;
                                          off: FRONTDESK_TENANT, nothing checked
    Access.webhook_caller(channel, ...)   FRONTDESK_WEBHOOK_SECRETS: HMAC signature, timestamp window and
                                          single-use nonce, always checked; the channel's tenant
    Access.limit(tenant, user, ip, tier)  FRONTDESK_RATE_*: token buckets, 429 rate_limited

With Redis (the conversation store's client) keys, nonces and buckets are shared
by every worker; without it keys come from FRONTDESK_KEYS_FILE and nonces and
buckets live in process memory. While Redis is down, keys and nonces cannot be
checked (503); with degrade_to_memory the buckets go on per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from starlette.requests import Request

from frontdesk.api_keys import ApiKeys, FileKeys, RedisKeys, key_from_authorization
from frontdesk.errors import NotFound, ServiceUnavailable
from frontdesk.rate_limit import MemoryRateLimiter, RateLimiter, RedisRateLimiter, policy_from_settings
from frontdesk.redis_client import RedisClient, bounded
from frontdesk.settings import Settings
from frontdesk.webhook_auth import MemoryNonces, NonceStore, RedisNonces, WebhookVerifier

UNAUTHENTICATED = "unauthenticated"


@dataclass(frozen=True)
class Caller:
    tenant: str
    actor: str  # as the audit trail names it: key:<key id>, webhook:<channel>, or unauthenticated


class Access:
    def __init__(self, settings: Settings, redis: RedisClient | None, *, timeout: float | None = None) -> None:
        self.tenant = settings.tenant
        self.timeout = timeout  # per Redis call: a hung server fails the request instead of holding it
        self.keys: ApiKeys | None = None
        if settings.auth == "keys":
            pepper = settings.key_pepper.get_secret_value() if settings.key_pepper else None
            self.keys = ApiKeys(RedisKeys(redis) if redis is not None else FileKeys(settings.keys_file), pepper=pepper)
        self.limiter: RateLimiter | None = None
        self.local_limiter: MemoryRateLimiter | None = None  # degrade_to_memory while Redis is down
        if policy := policy_from_settings(settings):
            self.limiter = RedisRateLimiter(redis, policy) if redis is not None else MemoryRateLimiter(policy)
            if redis is not None and settings.degrade_to_memory:
                self.local_limiter = MemoryRateLimiter(policy)
        self.webhooks: dict[str, tuple[str, WebhookVerifier]] = {}
        for channel, signers in settings.webhook_secrets.items():
            tenant = signers.tenant or settings.tenant
            nonces: NonceStore = RedisNonces(redis, tenant) if redis is not None else MemoryNonces()
            secrets = [s.get_secret_value() for s in signers.secrets]
            verifier = WebhookVerifier(secrets, nonces, tolerance=settings.webhook_tolerance)
            self.webhooks[channel] = (tenant, verifier)

    async def caller(self, request: Request, scope: str) -> Caller:
        """Unauthorized (401) or Forbidden (403) unless the key may use `scope`."""
        if self.keys is None:
            return Caller(self.tenant, UNAUTHENTICATED)
        presented = key_from_authorization(request.headers.get("authorization"))
        async with bounded(self.timeout):
            info = await self.keys.verify(presented, scope)
        return Caller(info.tenant, f"key:{info.key_id}")

    async def webhook_caller(self, channel: str, headers: Mapping[str, str], body: bytes) -> Caller:
        """Unauthorized (401) unless the raw body is signed for `channel` and its nonce is new."""
        found = self.webhooks.get(channel)
        if found is None:
            raise NotFound(
                f"no webhook channel {channel!r}",
                code="webhook_not_found",
                hint="declare it in FRONTDESK_WEBHOOK_SECRETS",
            )
        tenant, verifier = found
        async with bounded(self.timeout):
            await verifier.verify(headers, body)
        return Caller(tenant, f"webhook:{channel}")

    async def limit(self, tenant: str, *, user: str | None, ip: str | None, tier: str | None) -> None:
        """Take a token from the tenant's, the user's and the address's bucket, or raise RateLimited (429)."""
        if self.limiter is None:
            return
        try:
            async with bounded(self.timeout):
                await self.limiter.check(tenant, user=user, ip=ip, tier=tier)
        except ServiceUnavailable as exc:
            if self.local_limiter is None or exc.code != "redis_unavailable":
                raise
            await self.local_limiter.check(tenant, user=user, ip=ip, tier=tier)
