"""Security of the HTTP app in process (httpx over ASGI), on process memory and on a real
redis-server: API keys and scopes, tenant isolation, signed webhooks, rate limits, the
audit trail of turns and admin actions, and erasure. Several real workers: test_http_security_redis.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import llm_support
import pytest
import redis
from mock_vendor import MockVendor

from frontdesk.api_keys import ApiKeys, FileKeys, RedisKeys
from frontdesk.audit import AuditLog, FileAudit, RedisAudit
from frontdesk.bootstrap import build_engine
from frontdesk.errors import ConfigError, RateLimited
from frontdesk.http_app import create_app, error_response
from frontdesk.http_schema import ERROR_CODES
from frontdesk.pipeline import Engine
from frontdesk.settings import Settings
from frontdesk.store import MemoryStore
from frontdesk.store_redis import RedisStore
from frontdesk.webhook_auth import NONCE_HEADER, TIMESTAMP_HEADER, signed_headers

pytestmark = pytest.mark.anyio

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"
SECRET = "wecom-signing-secret"
PHONE = "13812345678"


@pytest.fixture(scope="module")
def mini_engine() -> Engine:
    return build_engine([MINI], services={})


@dataclass
class Rig:
    """Apps over one store kind; keys and audit trails where the app looks for them."""

    make: Callable[..., httpx.AsyncClient]
    key: Callable[..., Any]  # async (tenant, *scopes) -> presented key
    audit: Callable[[str], AuditLog]
    redis_url: str | None
    apps: list[Any]  # what make() made, in order


@pytest.fixture(params=["memory", "redis"])
async def rig(request: pytest.FixtureRequest, mini_engine: Engine, tmp_path: Path) -> AsyncIterator[Rig]:
    url = request.getfixturevalue("fresh_redis_url") if request.param == "redis" else None
    stores: list[RedisStore] = []
    clients: list[httpx.AsyncClient] = []
    apps: list[Any] = []

    def make(**settings: Any) -> httpx.AsyncClient:
        if url:
            stores.append(RedisStore.from_url(url))
            store: Any = stores[-1]
        else:
            store = MemoryStore()
        engine = Engine(mini_engine.rulesets, store, mini_engine.pm, mini_engine.default_ruleset, {})
        options = {"audit_dir": tmp_path / "audit", "keys_file": tmp_path / "keys.json", **settings}
        app = create_app(Settings(**options), engine=engine)
        apps.append(app)
        clients.append(httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fd"))
        return clients[-1]

    async def key(tenant: str, *scopes: str) -> str:
        if url:
            store = RedisStore.from_url(url)
            stores.append(store)
            keys = ApiKeys(RedisKeys(store.client))
        else:
            keys = ApiKeys(FileKeys(tmp_path / "keys.json"))
        presented, _ = await keys.create(tenant, list(scopes))
        return presented

    def audit(tenant: str) -> AuditLog:
        if url:
            stores.append(RedisStore.from_url(url))
            return AuditLog(RedisAudit(stores[-1].client, tenant), tenant=tenant)
        return AuditLog(FileAudit(tmp_path / "audit" / f"{tenant}.jsonl"), tenant=tenant)

    yield Rig(make, key, audit, url, apps)
    for client in clients:
        await client.aclose()
    for store in stores:
        await store.aclose()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def msg(text: str, conversation_id: str = "c1", user_id: str = "alice", **extra: Any) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "user_id": user_id, "text": text, **extra}


def error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert ERROR_CODES[code][0] == status
    return response.json()["error"]


# --- authentication and scopes ------------------------------------------------------


async def test_auth_off_needs_no_key_and_serves_the_configured_tenant(rig: Rig) -> None:
    client = rig.make(tenant="solo")
    assert (await client.post("/v1/messages", json=msg("where is my order"))).status_code == 200
    assert (await client.get("/v1/conversations/c1")).status_code == 200
    (record,) = [r for r in await rig.audit("solo").tail(10)]
    assert (record.kind, record.actor, record.subject) == ("turn", "unauthenticated", "alice")


async def test_with_keys_every_v1_endpoint_needs_one_and_401_says_bearer(rig: Rig) -> None:
    client = rig.make(auth="keys")
    calls = [
        client.post("/v1/messages", json=msg("hi")),
        client.get("/v1/conversations/c1"),
        client.post("/v1/conversations/c1/close"),
        client.delete("/v1/customers/alice"),
    ]
    for call in calls:
        response = await call
        error(response, 401, "auth_missing")
        assert response.headers["www-authenticate"] == "Bearer"
    bad = await client.post("/v1/messages", json=msg("hi"), headers=bearer("fd_0123456789abcdef_" + "x" * 43))
    error(bad, 401, "auth_invalid")
    error(await client.get("/v1/conversations/c1", headers={"authorization": "Basic abc"}), 401, "auth_missing")
    for open_path in ("/healthz", "/readyz", "/openapi.json"):
        assert (await client.get(open_path)).status_code == 200


async def test_scopes_messages_analyst_admin(rig: Rig) -> None:
    client = rig.make(auth="keys")
    messages, analyst, admin = [await rig.key("acme", scope) for scope in ("messages", "analyst", "admin")]
    assert (await client.post("/v1/messages", json=msg("where is my order"), headers=bearer(messages))).is_success
    error(await client.get("/v1/conversations/c1", headers=bearer(messages)), 403, "auth_scope")
    error(await client.post("/v1/messages", json=msg("hi"), headers=bearer(analyst)), 403, "auth_scope")
    assert (await client.get("/v1/conversations/c1", headers=bearer(analyst))).json()["state"]["turn"] == 1
    error(await client.post("/v1/conversations/c1/close", headers=bearer(analyst)), 403, "auth_scope")
    error(await client.delete("/v1/customers/alice", headers=bearer(analyst)), 403, "auth_scope")
    assert (await client.post("/v1/conversations/c1/close", headers=bearer(admin))).json()["status"] == "closed"
    assert (await client.get("/v1/conversations/c1", headers=bearer(admin))).status_code == 200  # admin implies
    assert (await client.delete("/v1/customers/alice", headers=bearer(admin))).status_code == 200


async def test_a_revoked_key_is_refused_at_once(rig: Rig, tmp_path: Path) -> None:
    client = rig.make(auth="keys")
    key = await rig.key("acme", "messages")
    assert (await client.post("/v1/messages", json=msg("hi"), headers=bearer(key))).status_code == 200
    key_id = key.split("_")[1]
    if rig.redis_url:
        keys = ApiKeys(RedisKeys(RedisStore.from_url(rig.redis_url).client))
    else:
        keys = ApiKeys(FileKeys(tmp_path / "keys.json"))
    await keys.revoke(key_id)
    await keys.aclose()
    error(await client.post("/v1/messages", json=msg("hi"), headers=bearer(key)), 401, "auth_revoked")


# --- tenant isolation ---------------------------------------------------------------


async def test_tenants_never_see_continue_or_erase_each_others_conversations(rig: Rig) -> None:
    client = rig.make(auth="keys")
    a, b = await rig.key("tenant-a", "admin"), await rig.key("tenant-b", "admin")
    first = await client.post("/v1/messages", json=msg("where is my order"), headers=bearer(a))
    assert first.json()["reply"]["template"] == "ask_order_id"

    # same conversation id and user id under another tenant: nothing of A's
    error(await client.get("/v1/conversations/c1", headers=bearer(b)), 404, "conversation_not_found")
    error(await client.post("/v1/conversations/c1/close", headers=bearer(b)), 404, "conversation_not_found")
    erased = (await client.delete("/v1/customers/alice", headers=bearer(b))).json()["erased"]
    assert erased == {"conversations": 0, "transcripts": 0, "results": 0, "audit_payloads": 0, "cached_answers": 0}
    b_turn = (await client.post("/v1/messages", json=msg("12345678"), headers=bearer(b))).json()
    assert b_turn["reply"]["template"] == "fallback"  # A's conversation expected an order id; B's knows nothing

    a_turn = (await client.post("/v1/messages", json=msg("12345678"), headers=bearer(a))).json()
    assert a_turn["slots"] == {"order_id": "12345678"}  # A's conversation went on untouched
    a_conv = (await client.get("/v1/conversations/c1", headers=bearer(a))).json()
    b_conv = (await client.get("/v1/conversations/c1", headers=bearer(b))).json()
    assert [e["user"] for e in a_conv["transcript"]] == ["where is my order", "12345678"]
    assert [e["user"] for e in b_conv["transcript"]] == ["12345678"]
    a_audit, b_audit = await rig.audit("tenant-a").tail(50), await rig.audit("tenant-b").tail(50)
    assert [r.kind for r in a_audit] == ["turn", "turn"] and {r.tenant for r in a_audit} == {"tenant-a"}
    assert [r.kind for r in b_audit] == ["erasure", "turn"]
    if rig.redis_url:  # one conversation id, two key spaces
        with redis.Redis.from_url(rig.redis_url) as raw:
            states = {t: json.loads(raw.get(f"fd:{t}:{{conv:c1}}:state")) for t in ("tenant-a", "tenant-b")}
            assert not raw.exists("fd:default:{conv:c1}:state")
        assert {t: (s["user_id"], s["turn"]) for t, s in states.items()} == {
            "tenant-a": ("alice", 2),
            "tenant-b": ("alice", 1),
        }


# --- signed webhooks ----------------------------------------------------------------


async def test_a_signed_webhook_runs_a_turn_for_its_channels_tenant_once(rig: Rig) -> None:
    hooks = {"wecom": {"secrets": [SECRET], "tenant": "shop"}}
    client = rig.make(auth="keys", webhook_secrets=hooks)
    body = json.dumps(msg("where is my order", "wx-1", "openid-1", channel="ignored")).encode()
    headers = {"content-type": "application/json", **signed_headers(SECRET, body)}
    done = await client.post("/v1/webhooks/wecom", content=body, headers=headers)
    assert done.status_code == 200 and done.json()["reply"]["template"] == "ask_order_id"

    replay = await client.post("/v1/webhooks/wecom", content=body, headers=headers)
    error(replay, 401, "replay_detected")
    assert replay.headers["www-authenticate"] == "Frontdesk-Signature"
    forged = {**headers, **signed_headers("guessed", body)}
    error(await client.post("/v1/webhooks/wecom", content=body, headers=forged), 401, "signature_invalid")
    stale = {"content-type": "application/json", **signed_headers(SECRET, body, ts=1_000_000_000)}
    error(await client.post("/v1/webhooks/wecom", content=body, headers=stale), 401, "signature_expired")
    unsigned = {"content-type": "application/json"}
    error(await client.post("/v1/webhooks/wecom", content=body, headers=unsigned), 401, "signature_invalid")
    error(await client.post("/v1/webhooks/line", content=body, headers=headers), 404, "webhook_not_found")

    shop = await rig.key("shop", "analyst")
    conversation = (await client.get("/v1/conversations/wx-1", headers=bearer(shop))).json()
    assert conversation["state"]["turn"] == 1  # once, in the channel's tenant
    other = await rig.key("other", "analyst")
    error(await client.get("/v1/conversations/wx-1", headers=bearer(other)), 404, "conversation_not_found")
    (record,) = await rig.audit("shop").tail(5)
    assert (record.actor, record.payload and record.payload["channel"]) == ("webhook:wecom", "wecom")


async def test_the_signature_covers_the_exact_bytes(rig: Rig) -> None:
    client = rig.make(webhook_secrets={"web": {"secrets": ["old", SECRET]}})
    body = json.dumps(msg("hi", "w-2")).encode()
    headers = {"content-type": "application/json", **signed_headers(SECRET, body)}  # the second secret (rotation)
    tampered = body.replace(b"hi", b"ho")
    error(await client.post("/v1/webhooks/web", content=tampered, headers=headers), 401, "signature_invalid")
    assert (await client.post("/v1/webhooks/web", content=body, headers=headers)).status_code == 200
    fresh = {**headers, NONCE_HEADER: "n" * 32, TIMESTAMP_HEADER: headers[TIMESTAMP_HEADER]}
    error(await client.post("/v1/webhooks/web", content=body, headers=fresh), 401, "signature_invalid")


# --- rate limits --------------------------------------------------------------------


async def test_user_buckets_with_tiers_then_429_with_retry_after(rig: Rig) -> None:
    client = rig.make(rate_user="1/h burst 2", rate_tiers={"VIP": 2})

    async def passed(user: str, n: int, **extra: Any) -> list[httpx.Response]:
        responses = [await client.post("/v1/messages", json=msg("hi", f"c-{user}", user, **extra)) for _ in range(n)]
        return responses

    standard = await passed("std", 4)
    assert [r.status_code for r in standard] == [200, 200, 429, 429]
    error(standard[2], 429, "rate_limited")
    assert 3590 <= int(standard[2].headers["retry-after"]) <= 3600  # a token per hour
    vip = await passed("vip", 6, customer={"level": "VIP"})
    assert [r.status_code for r in vip] == [200] * 4 + [429] * 2
    anonymous = await passed("anonymous", 5)  # anonymous callers share no user bucket
    assert [r.status_code for r in anonymous] == [200] * 5


async def test_the_tenant_reserve_keeps_room_for_declared_tiers(rig: Rig) -> None:
    client = rig.make(rate_tenant="1/h burst 4", rate_reserve=0.5, rate_tiers={"VIP": 2})
    standard = [await client.post("/v1/messages", json=msg("hi", f"s{i}", f"s{i}")) for i in range(3)]
    assert [r.status_code for r in standard] == [200, 200, 429]  # standard customers stop at half
    vip = [
        await client.post("/v1/messages", json=msg("hi", f"v{i}", f"v{i}", customer={"level": "VIP"})) for i in range(2)
    ]
    assert [r.status_code for r in vip] == [200, 429]  # VIPs may go down to a quarter


async def test_the_address_bucket_counts_every_v1_request(rig: Rig) -> None:
    client = rig.make(rate_ip="1/h burst 3")
    assert (await client.post("/v1/messages", json=msg("hi"))).status_code == 200
    assert (await client.get("/v1/conversations/c1")).status_code == 200
    assert (await client.post("/v1/messages", json=msg("hi", user_id="bob"))).status_code == 200
    error(await client.get("/v1/conversations/c1"), 429, "rate_limited")
    assert (await client.get("/healthz")).status_code == 200  # probes are not limited


def test_retry_after_rounds_up() -> None:
    assert error_response(RateLimited("slow", retry_after=2.4)).headers["retry-after"] == "3"
    assert error_response(RateLimited("slow", retry_after=0.001)).headers["retry-after"] == "1"
    assert error_response(RateLimited("slow", retry_after=5)).headers["retry-after"] == "5"


def test_invalid_rate_settings_fail_at_start_up(mini_engine: Engine) -> None:
    with pytest.raises(ValueError, match="is not a rate"):
        Settings(rate_user="lots")
    with pytest.raises(ConfigError, match="rate_limits_invalid"):
        create_app(Settings(rate_tenant="1/s burst 1", rate_reserve=0.5), engine=mini_engine)
    with pytest.raises(ConfigError, match="webhook_secret_missing"):
        create_app(Settings(webhook_secrets={"web": {"secrets": [""]}}), engine=mini_engine)


# --- the audit trail and erasure ----------------------------------------------------


async def test_turns_and_admin_actions_are_audited_masked_and_erasure_keeps_the_chain(rig: Rig) -> None:
    client = rig.make(auth="keys")
    admin = await rig.key("acme", "admin")
    key_id = admin.split("_")[1]
    text = f"call me on {PHONE}, this is terrible service"
    for cid in ("a1", "a2"):
        assert (await client.post("/v1/messages", json=msg(text, cid), headers=bearer(admin))).status_code == 200
    other = msg("where is my order", "b1", "bob")
    assert (await client.post("/v1/messages", json=other, headers=bearer(admin))).status_code == 200
    assert (await client.post("/v1/conversations/a1/close", headers=bearer(admin))).status_code == 200

    trail = rig.audit("acme")
    records = await trail.tail(50)
    assert [(r.kind, r.subject) for r in records] == [
        ("turn", "alice"),
        ("turn", "alice"),
        ("turn", "bob"),
        ("admin", "alice"),
    ]
    assert {r.actor for r in records} == {f"key:{key_id}"}
    turn = records[0].payload
    assert turn is not None and PHONE not in json.dumps(records[0].payload)
    assert turn["text"] == "call me on ⟨PHONE_1⟩, this is terrible service"
    assert (turn["intent"], turn["rules"], turn["masked"]) == ("complaint", ["complaint"], ["phone"])
    assert [a["type"] for a in turn["actions"]] == ["reply"]
    assert records[3].payload == {"action": "conversations.close", "conversation_id": "a1"}
    assert (await trail.verify()).ok

    erased = (await client.delete("/v1/customers/alice", headers=bearer(admin))).json()["erased"]
    assert erased == {"conversations": 2, "transcripts": 2, "results": 2, "audit_payloads": 3, "cached_answers": 0}
    after = await trail.tail(50)
    assert [r.payload is None for r in after] == [True, True, False, True, False]
    assert (after[-1].kind, after[-1].subject, after[-1].payload) == ("erasure", "alice", {"records": 3})
    report = await trail.verify()
    assert report.ok and report.erased == 3
    assert (await client.delete("/v1/customers/alice", headers=bearer(admin))).json()["erased"]["audit_payloads"] == 0


async def test_retention_trims_the_trails_of_every_tenant_served(rig: Rig) -> None:
    client = rig.make(auth="keys", audit_retention_days=1e-9)  # everything is older than 0.1 ms
    for tenant in ("old-a", "old-b"):
        key = await rig.key(tenant, "messages")
        assert (await client.post("/v1/messages", json=msg("hi"), headers=bearer(key))).status_code == 200
    await asyncio.sleep(0.01)
    assert await rig.apps[-1].state.api.tenants.trim_audits() == 2
    for tenant in ("old-a", "old-b"):
        report = await rig.audit(tenant).verify()
        assert report.ok and report.records == 0 and report.anchor.seq == 1  # verification starts after them


async def test_a_turn_the_audit_trail_cannot_take_is_not_saved(rig: Rig, tmp_path: Path) -> None:
    client = rig.make()
    assert (await client.post("/v1/messages", json=msg("where is my order"))).status_code == 200
    trail = tmp_path / "audit" / "default.jsonl"
    if rig.redis_url:  # an audit stream Redis cannot append to: a key of the wrong type
        with redis.Redis.from_url(rig.redis_url) as raw:
            raw.delete("fd:default:{audit:default}:log")
            raw.set("fd:default:{audit:default}:log", "not a stream")
        failed = await client.post("/v1/messages", json=msg("12345678"))
        error(failed, 503, "redis_error")
    else:
        trail.write_text(trail.read_text() + "not json\n")
        error(await client.post("/v1/messages", json=msg("12345678")), 500, "audit_file_corrupt")
    conversation = (await client.get("/v1/conversations/c1")).json()
    assert conversation["state"]["turn"] == 1 and len(conversation["transcript"]) == 1


# --- the model service: tenant-scoped cache, erasure of cached answers ---------------


async def test_cached_answers_are_per_tenant_and_erased_with_the_customer(mock: MockVendor, tmp_path: Path) -> None:
    service = llm_support.service(mock, tenant="default")
    app = create_app(
        Settings(auth="keys", audit_dir=tmp_path, keys_file=tmp_path / "keys.json"),
        engine=llm_support.engine(service),
    )
    keys = ApiKeys(FileKeys(tmp_path / "keys.json"))
    one, two = [bearer((await keys.create(t, ["admin"]))[0]) for t in ("one", "two")]
    product = "do you sell umbrellas"  # the same answer for every customer of a tenant
    order = "where is my order 12345678"  # the prompt shows the customer's slot and level: theirs alone

    async def source(client: httpx.AsyncClient, key: dict[str, str], text: str, cid: str, user: str = "ann") -> str:
        body = msg(text, cid, user, customer={"level": "Gold"})
        response = await client.post("/v1/messages", json=body, headers=key)
        assert response.status_code == 200, response.text
        return response.json()["reply"]["source"]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fd") as client:
        assert await source(client, one, product, "p1") == "llm"
        assert await source(client, one, product, "p2", "bob") == "cache"
        assert await source(client, two, product, "p3") == "llm"  # another tenant never gets tenant one's entry
        assert await source(client, one, order, "o1") == "llm"
        assert await source(client, one, order, "o2") == "cache"
        assert await source(client, two, order, "o3") == "llm"
        erased = (await client.delete("/v1/customers/ann", headers=one)).json()["erased"]
        assert erased["cached_answers"] == 1 and erased["conversations"] == 3
        assert await source(client, one, order, "o4") == "llm"  # erased: asked of the vendor again
        assert await source(client, two, order, "o5") == "cache"  # tenant two's customer ann is not erased
        assert await source(client, one, product, "p4") == "cache"  # nothing of the customer's
    assert mock.count() == 5
    await service.aclose()
