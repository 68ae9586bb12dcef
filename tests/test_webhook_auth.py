"""Signed webhooks: signature, timestamp window and replay protection, with nonces in
process memory and in a real redis-server shared by two workers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator

import pytest
from redis_server import RedisServer

from frontdesk.api_keys import Unauthorized
from frontdesk.errors import ConfigError
from frontdesk.redis_client import connect_redis
from frontdesk.webhook_auth import (
    NONCE_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    MemoryNonces,
    RedisNonces,
    WebhookVerifier,
    sign,
    signed_headers,
)

pytestmark = pytest.mark.anyio

SECRET = "whsec_test"
BODY = '{"message_id":"m1","text":"我的订单到哪了"}'.encode()
NOW = 1_718_000_000
NONCE = "n" * 16


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(clock: Clock) -> WebhookVerifier:
    return WebhookVerifier([SECRET], MemoryNonces(clock), clock=clock)


async def refused(verifier: WebhookVerifier, headers: dict[str, str], body: bytes = BODY) -> str:
    with pytest.raises(Unauthorized) as err:
        await verifier.verify(headers, body)
    assert err.value.status == 401 and err.value.hint
    return err.value.code


def test_sign_is_hmac_sha256_over_timestamp_nonce_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.{NONCE}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW, NONCE) == "v1=" + expected
    assert sign(SECRET.encode(), BODY, NOW, NONCE) == "v1=" + expected


async def test_a_signed_request_passes_once(verifier: WebhookVerifier) -> None:
    headers = signed_headers(SECRET, BODY, ts=NOW)
    assert set(headers) == {TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER}
    await verifier.verify(headers, BODY)
    assert await refused(verifier, headers) == "replay_detected"
    await verifier.verify(signed_headers(SECRET, BODY, ts=NOW), BODY)  # a fresh nonce is fine


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),  # body changed
        lambda h, b: ({**h, TIMESTAMP_HEADER: str(NOW - 1)}, b),  # timestamp changed
        lambda h, b: ({**h, NONCE_HEADER: "m" * 16}, b),  # nonce changed
        lambda h, b: ({**h, SIGNATURE_HEADER: "v1=" + "0" * 64}, b),
        lambda h, b: ({**h, SIGNATURE_HEADER: h[SIGNATURE_HEADER].replace("v1=", "v0=")}, b),
        lambda h, b: ({**h, SIGNATURE_HEADER: sign("other secret", b, NOW, NONCE)}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != SIGNATURE_HEADER}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != NONCE_HEADER}, b),
        lambda h, b: ({**h, TIMESTAMP_HEADER: "soon"}, b),
        lambda h, b: ({**h, NONCE_HEADER: "short"}, b),
        lambda h, b: ({**h, NONCE_HEADER: "{" * 16}, b),
    ],
)
async def test_anything_tampered_is_signature_invalid(verifier: WebhookVerifier, tamper) -> None:
    headers, body = tamper(signed_headers(SECRET, BODY, ts=NOW, nonce=NONCE), BODY)
    assert await refused(verifier, headers, body) == "signature_invalid"
    # a refused forgery does not burn the nonce of the genuine request
    await verifier.verify(signed_headers(SECRET, BODY, ts=NOW, nonce=NONCE), BODY)


@pytest.mark.parametrize(("skew", "ok"), [(-300, True), (300, True), (-301, False), (301, False), (-86400, False)])
async def test_timestamp_window(verifier: WebhookVerifier, clock: Clock, skew: int, ok: bool) -> None:
    headers = signed_headers(SECRET, BODY, ts=NOW + skew)
    if ok:
        await verifier.verify(headers, BODY)
    else:
        assert await refused(verifier, headers) == "signature_expired"


async def test_a_nonce_is_remembered_while_its_timestamp_could_pass(clock: Clock) -> None:
    nonces = MemoryNonces(clock)
    verifier = WebhookVerifier([SECRET], nonces, clock=clock)
    # signed 300 s ahead: acceptable until NOW + 600, so the nonce must be kept that long
    headers = signed_headers(SECRET, BODY, ts=NOW + 300, nonce=NONCE)
    await verifier.verify(headers, BODY)
    clock.now = NOW + 600
    assert await refused(verifier, headers) == "replay_detected"
    clock.now = NOW + 601
    assert await refused(verifier, headers) == "signature_expired"


async def test_memory_nonces_expire_and_stay_bounded(clock: Clock) -> None:
    nonces = MemoryNonces(clock)
    for i in range(100):
        assert await nonces.claim(f"{i:016d}", 10) is True
        clock.now += 1
    assert len(nonces._expiry) <= 11
    assert await nonces.claim(f"{99:016d}", 10) is False
    assert await nonces.claim(f"{0:016d}", 10) is True  # long expired: a new nonce again


async def test_rotation_accepts_every_configured_secret_and_several_signatures(clock: Clock) -> None:
    verifier = WebhookVerifier(["new secret", "old secret"], MemoryNonces(clock), clock=clock)
    await verifier.verify(signed_headers("old secret", BODY, ts=NOW), BODY)
    await verifier.verify(signed_headers("new secret", BODY, ts=NOW), BODY)
    headers = signed_headers("retired", BODY, ts=NOW, nonce=NONCE)
    headers[SIGNATURE_HEADER] += ", " + sign("new secret", BODY, NOW, NONCE)
    await verifier.verify(headers, BODY)
    assert await refused(verifier, signed_headers("retired", BODY, ts=NOW)) == "signature_invalid"


def test_a_verifier_needs_a_secret() -> None:
    for secrets in ([], [""]):
        with pytest.raises(ConfigError):
            WebhookVerifier(secrets, MemoryNonces())


# --- nonces in Redis ---------------------------------------------------------------------


@pytest.fixture
async def workers(fresh_redis_url: str) -> AsyncIterator[list[WebhookVerifier]]:
    clients = [connect_redis(fresh_redis_url) for _ in range(2)]
    yield [WebhookVerifier([SECRET], RedisNonces(c, "acme")) for c in clients]
    for c in clients:
        await c.aclose()


async def test_a_replay_to_another_worker_is_detected(workers: list[WebhookVerifier]) -> None:
    headers = signed_headers(SECRET, BODY)
    await workers[0].verify(headers, BODY)
    assert await refused(workers[1], headers) == "replay_detected"


async def test_concurrent_copies_of_one_request_pass_exactly_once(workers: list[WebhookVerifier]) -> None:
    headers = signed_headers(SECRET, BODY)
    results = await asyncio.gather(*(workers[i % 2].verify(headers, BODY) for i in range(20)), return_exceptions=True)
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, Unauthorized) and r.code == "replay_detected" for r in results if r is not None)


async def test_redis_nonce_key_is_tenant_scoped_with_ttl(fresh_redis_url: str, redis_server: RedisServer) -> None:
    client = connect_redis(fresh_redis_url)
    acme, globex = RedisNonces(client, "acme"), RedisNonces(client, "globex")
    assert await acme.claim(NONCE, 600) is True
    assert await acme.claim(NONCE, 600) is False
    assert await globex.claim(NONCE, 600) is True  # tenants do not share nonce memory
    with redis_server.client() as raw:
        assert set(raw.keys("*")) == {f"fd:acme:{{nonce:{NONCE}}}", f"fd:globex:{{nonce:{NONCE}}}"}
        assert 590_000 < raw.pttl(acme.key(NONCE)) <= 600_000
    await client.aclose()
