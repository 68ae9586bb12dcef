"""HMAC-SHA256 signed webhook requests, with a timestamp window and single-use nonces.

A sender adds three headers:

    X-Frontdesk-Timestamp: 1718000000                 Unix seconds
    X-Frontdesk-Nonce:     4f1c0b9e5a7d2c83e1f6a9b0c4  16-128 characters A-Z a-z 0-9 _ -
    X-Frontdesk-Signature: v1=<hex>                   HMAC-SHA256(secret, "<timestamp>.<nonce>." + body)

Several `v1=` values may be given, comma-separated, and several secrets may be
configured: both sides rotate a secret without downtime. A request is refused
(401) when no signature matches (`signature_invalid`), when its timestamp is
more than `tolerance` seconds away from now (`signature_expired`), or when its
nonce was seen before (`replay_detected`). A nonce is remembered for twice the
tolerance (plus a second), the whole time its timestamp could still be accepted. It is claimed
only after the signature checks out, so forged requests cannot burn nonces.
A sender retrying a request signs it again with a fresh nonce.

Nonce memory: Redis (`SET NX PX`, shared by every worker) or process memory
(embedded mode, one process):

    fd:<tenant>:{nonce:<nonce>}   STRING  "1"   (2 x tolerance + 1 s)
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from frontdesk.api_keys import Unauthorized, check_tenant
from frontdesk.errors import ConfigError
from frontdesk.redis_client import RedisClient, translate

TIMESTAMP_HEADER = "X-Frontdesk-Timestamp"
NONCE_HEADER = "X-Frontdesk-Nonce"
SIGNATURE_HEADER = "X-Frontdesk-Signature"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")
_TIMESTAMP = re.compile(r"\d{1,12}")


def _key(secret: str | bytes) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign(secret: str | bytes, body: bytes, ts: int, nonce: str) -> str:
    """The `X-Frontdesk-Signature` value: `v1=<hex>`."""
    mac = hmac.new(_key(secret), f"{ts}.{nonce}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signed_headers(
    secret: str | bytes, body: bytes, *, ts: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """All three headers for one request (a fresh nonce and the current time by default)."""
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or secrets.token_hex(16)
    return {TIMESTAMP_HEADER: str(ts), NONCE_HEADER: nonce, SIGNATURE_HEADER: sign(secret, body, ts, nonce)}


class NonceStore(Protocol):
    async def claim(self, nonce: str, ttl: float) -> bool:
        """True the first time a nonce is seen within `ttl` seconds."""


class MemoryNonces:
    """One process's nonce memory; entries expire in insertion order (one TTL for all)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}

    async def claim(self, nonce: str, ttl: float) -> bool:
        now = self._clock()
        while self._expiry:
            oldest, expires = next(iter(self._expiry.items()))
            if expires >= now:
                break
            del self._expiry[oldest]
        if nonce in self._expiry:
            return False
        self._expiry[nonce] = now + ttl
        return True


class RedisNonces:
    """Nonce memory shared by every worker of a tenant."""

    def __init__(self, client: RedisClient, tenant: str) -> None:
        self.client = client
        self.tenant = check_tenant(tenant)

    def key(self, nonce: str) -> str:
        return f"fd:{self.tenant}:{{nonce:{nonce}}}"  # nonces are checked against _NONCE: no braces

    async def claim(self, nonce: str, ttl: float) -> bool:
        with translate():
            return bool(await self.client.set(self.key(nonce), "1", nx=True, px=max(1, int(ttl * 1000))))


class WebhookVerifier:
    def __init__(
        self,
        signing_secrets: Sequence[str | bytes],
        nonces: NonceStore,
        *,
        tolerance: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not signing_secrets or not all(signing_secrets):
            raise ConfigError("a webhook verifier needs at least one non-empty secret", code="webhook_secret_missing")
        self._keys = [_key(s) for s in signing_secrets]
        self.nonces = nonces
        self.tolerance = tolerance
        self._clock = clock

    async def verify(self, headers: Mapping[str, str], body: bytes) -> None:
        """Pass `request.headers` (case-insensitive) and the raw body; raise Unauthorized if not genuine."""
        ts, nonce, signature = (headers.get(h) for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER))
        if not (ts and nonce and signature and _TIMESTAMP.fullmatch(ts) and _NONCE.fullmatch(nonce)):
            raise Unauthorized(
                "webhook request is not signed",
                code="signature_invalid",
                hint=f"send {TIMESTAMP_HEADER} (Unix seconds), {NONCE_HEADER} (16-128 of A-Z a-z 0-9 _ -) "
                f"and {SIGNATURE_HEADER}: v1=<hex>",
            )
        message = f"{ts}.{nonce}.".encode() + body
        expected = [hmac.new(key, message, hashlib.sha256).hexdigest().encode() for key in self._keys]
        offered = [v.strip()[3:].encode() for v in signature.split(",") if v.strip().startswith("v1=")]
        # every pair is compared, so timing does not reveal which secret or value came close
        matches = [hmac.compare_digest(e, o) for e in expected for o in offered]
        if not any(matches):
            raise Unauthorized(
                "webhook signature does not match",
                code="signature_invalid",
                hint='sign HMAC-SHA256(secret, "<timestamp>.<nonce>." + raw body) and send v1=<hex>',
            )
        skew = self._clock() - int(ts)
        if abs(skew) > self.tolerance:
            raise Unauthorized(
                f"webhook timestamp is {abs(skew):.0f}s {'old' if skew > 0 else 'in the future'}",
                code="signature_expired",
                hint=f"sign with the current time (tolerance {self.tolerance:g}s); check the sender's clock",
            )
        # a timestamp up to `tolerance` ahead stays acceptable for 2 x tolerance; one second of margin
        if not await self.nonces.claim(nonce, 2 * self.tolerance + 1):
            raise Unauthorized(
                "webhook nonce was already used",
                code="replay_detected",
                hint="send every request, retries included, with a fresh nonce and signature",
            )
