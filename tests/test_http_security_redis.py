"""Security across real `frontdesk serve` workers sharing a real redis-server: keys made
with `frontdesk keys create`, tenant isolation, webhook replays seen by another worker,
rate limits that hold across workers, and `frontdesk audit verify` on the trail the
turns wrote, before and after someone tampers with it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from test_http_redis import FRONTDESK, Serve, serve_all

from frontdesk.webhook_auth import signed_headers

pytestmark = pytest.mark.anyio

RUN = uuid.uuid4().hex[:6]  # tenants of this module's run, apart from other tests'
HOOK_TENANT, LIMITED = f"hook-{RUN}", f"limited-{RUN}"
SECRET = "shared-webhook-secret"


def cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
    env["FRONTDESK_REDIS_URL"] = redis_url
    return subprocess.run([str(FRONTDESK), *args], capture_output=True, text=True, timeout=120, env=env)


@pytest.fixture(scope="module")
def servers(redis_url: str) -> Iterator[tuple[Serve, ...]]:
    """Two workers with API keys and a webhook channel; two open workers with rate limits."""
    keyed = {
        "FRONTDESK_AUTH": "keys",
        "FRONTDESK_WEBHOOK_SECRETS": json.dumps({"wecom": {"secrets": [SECRET], "tenant": HOOK_TENANT}}),
    }
    limited = {
        "FRONTDESK_TENANT": LIMITED,
        "FRONTDESK_RATE_TENANT": "1/h burst 20",
        "FRONTDESK_RATE_USER": "1/h burst 2",
        "FRONTDESK_RATE_TIERS": json.dumps({"VIP": 3}),
    }
    yield from serve_all(*(Serve(redis_url, **env) for env in (keyed, keyed, limited, limited)))


def create_key(redis_url: str, tenant: str, scope: str) -> dict[str, str]:
    done = cli(redis_url, "keys", "create", "--tenant", tenant, "--scope", scope)
    assert done.returncode == 0, done.stderr
    return {"authorization": f"Bearer {done.stdout.strip()}"}


def msg(text: str, conversation_id: str, user_id: str = "alice", **extra: Any) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "user_id": user_id, "text": text, **extra}


async def test_two_tenants_on_two_workers_stay_apart(servers: tuple[Serve, ...], redis_url: str) -> None:
    a_tenant, b_tenant = f"a-{RUN}", f"b-{RUN}"
    a, b = create_key(redis_url, a_tenant, "admin"), create_key(redis_url, b_tenant, "admin")
    one, two = servers[0].url, servers[1].url
    async with httpx.AsyncClient(timeout=30) as client:
        started = await client.post(f"{one}/v1/messages", json=msg("where is my order", "shared-id"), headers=a)
        assert started.status_code == 200 and started.json()["reply"]["template"] == "ask_order_id"
        for url in (one, two):  # B, on either worker, finds nothing of A's under the same ids
            gone = await client.get(f"{url}/v1/conversations/shared-id", headers=b)
            assert (gone.status_code, gone.json()["error"]["code"]) == (404, "conversation_not_found")
        erased = (await client.delete(f"{two}/v1/customers/alice", headers=b)).json()["erased"]
        assert erased["conversations"] == erased["audit_payloads"] == 0
        b_turn = await client.post(f"{two}/v1/messages", json=msg("12345678", "shared-id"), headers=b)
        assert b_turn.json()["reply"]["template"] == "fallback"  # B's own new conversation

        a_turn = await client.post(f"{two}/v1/messages", json=msg("12345678", "shared-id"), headers=a)
        assert a_turn.json()["reply"]["text"] == "Order 12345678 is being processed."  # A's, continued on worker 2
        a_conv = (await client.get(f"{one}/v1/conversations/shared-id", headers=a)).json()
        b_conv = (await client.get(f"{one}/v1/conversations/shared-id", headers=b)).json()
    assert (a_conv["state"]["turn"], b_conv["state"]["turn"]) == (2, 1)
    with redis.Redis.from_url(redis_url) as raw:
        for tenant, turn in ((a_tenant, 2), (b_tenant, 1)):
            assert json.loads(raw.get(f"fd:{tenant}:{{conv:shared-id}}:state"))["turn"] == turn
        # each trail: the key's creation, then A's two turns; B's turn and erasure
        assert [raw.xlen(f"fd:{t}:{{audit:{t}}}:log") for t in (a_tenant, b_tenant)] == [3, 3]


async def test_a_webhook_replayed_to_the_other_worker_is_refused(servers: tuple[Serve, ...]) -> None:
    body = json.dumps(msg("where is my order", "hook-1")).encode()
    headers = {"content-type": "application/json", **signed_headers(SECRET, body)}
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(f"{servers[0].url}/v1/webhooks/wecom", content=body, headers=headers)
        replay = await client.post(f"{servers[1].url}/v1/webhooks/wecom", content=body, headers=headers)
    assert first.status_code == 200
    assert (replay.status_code, replay.json()["error"]["code"]) == (401, "replay_detected")


async def test_rate_limits_hold_across_two_workers(servers: tuple[Serve, ...]) -> None:
    """Buckets refill one token an hour: every count below is exact whatever the machine's speed."""
    urls = [servers[2].url, servers[3].url]

    async def burst(bodies: list[dict[str, Any]]) -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=60) as client:
            return await asyncio.gather(
                *(client.post(f"{urls[i % 2]}/v1/messages", json=body) for i, body in enumerate(bodies))
            )

    def passed(responses: list[httpx.Response]) -> int:
        for r in responses:
            assert r.status_code in (200, 429), r.text
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
        return sum(r.status_code == 200 for r in responses)

    assert passed(await burst([msg("hi", f"s{i}", "standard") for i in range(8)])) == 2  # the user's burst
    vip = [msg("hi", f"v{i}", "vip", customer={"level": "VIP"}) for i in range(10)]
    assert passed(await burst(vip)) == 6  # three times the burst for the declared tier
    assert passed(await burst([msg("hi", f"u{i}", f"user-{i}") for i in range(30)])) == 12  # the tenant's rest
    assert passed(await burst([msg("hi", "late", "late-user")])) == 0  # 20 in all: the tenant's burst


async def test_audit_verify_passes_after_turns_and_finds_tampering(servers: tuple[Serve, ...], redis_url: str) -> None:
    tenant = f"audited-{RUN}"
    admin = create_key(redis_url, tenant, "admin")
    async with httpx.AsyncClient(timeout=30) as client:
        for i, text in enumerate(["where is my order", "12345678", "call me on 13812345678", "this is terrible"]):
            url = servers[i % 2].url
            response = await client.post(f"{url}/v1/messages", json=msg(text, "audited-1"), headers=admin)
            assert response.status_code == 200
        await client.post(f"{servers[0].url}/v1/messages", json=msg("hi", "audited-2", "bob"), headers=admin)
        closed = await client.post(f"{servers[1].url}/v1/conversations/audited-2/close", headers=admin)
        assert closed.status_code == 200
        erased = await client.delete(f"{servers[0].url}/v1/customers/alice", headers=admin)
        assert erased.json()["erased"]["audit_payloads"] == 4

    verified = cli(redis_url, "audit", "verify", "--tenant", tenant)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "8 records, 4 payloads erased" in verified.stdout and "OK: the chain is unbroken" in verified.stdout
    tail = cli(redis_url, "audit", "tail", "--tenant", tenant, "--json")
    records = [json.loads(line) for line in tail.stdout.splitlines()]
    assert [r["kind"] for r in records] == ["admin", *["turn"] * 5, "admin", "erasure"]  # keys create ... erase
    assert [r["payload"] is None for r in records] == [False, True, True, True, True, False, False, False]
    assert "13812345678" not in tail.stdout

    payloads, log = f"fd:{tenant}:{{audit:{tenant}}}:payload", f"fd:{tenant}:{{audit:{tenant}}}:log"
    with redis.Redis.from_url(redis_url, decode_responses=True) as raw:
        bob_seq = next(r["seq"] for r in records if r["subject"] == "bob" and r["kind"] == "turn")
        original = raw.hget(payloads, str(bob_seq))
        raw.hset(payloads, str(bob_seq), json.dumps({**json.loads(original), "intent": "something else"}))
        tampered = cli(redis_url, "audit", "verify", "--tenant", tenant)
        assert tampered.returncode == 1
        assert f"seq {bob_seq}" in tampered.stdout and "payload_modified" in tampered.stdout
        raw.hset(payloads, str(bob_seq), original)
        assert cli(redis_url, "audit", "verify", "--tenant", tenant).returncode == 0  # restored

        entry_id = raw.xrange(log)[2][0]  # delete a record from the stream
        raw.xdel(log, entry_id)
        deleted = cli(redis_url, "audit", "verify", "--tenant", tenant)
    assert deleted.returncode == 1 and "record_missing" in deleted.stdout
