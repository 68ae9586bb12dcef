"""Real `frontdesk serve` processes sharing a real redis-server: ordering across
workers, idempotency, scale-out, a worker killed mid-turn, Redis outages with and
without degradation, limits and erasure over the wire."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from redis_server import RedisServer, free_port

from frontdesk.store_redis import RedisStore

pytestmark = pytest.mark.anyio

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"
FRONTDESK = Path(sys.executable).parent / "frontdesk"
TENANT = f"t{uuid.uuid4().hex[:8]}"  # this module's keys, apart from other tests'
STARTUP_TIMEOUT = 90.0


class Serve:
    """One `frontdesk serve` process on a free port."""

    def __init__(self, redis_url: str, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkstemp(prefix="fd-serve-", suffix=".log")[1])
        environ = {k: v for k, v in os.environ.items() if not k.startswith("FRONTDESK_")}
        environ |= {"FRONTDESK_REDIS_URL": redis_url, "FRONTDESK_TENANT": TENANT, **env}
        environ.setdefault("FRONTDESK_AUDIT_DIR", os.environ["FRONTDESK_AUDIT_DIR"])  # the degraded turns' trail
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [str(FRONTDESK), "serve", "--rulesets", str(MINI), "--port", str(self.port), "--log-level", "warning"],
                env=environ,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait(self) -> Serve:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"frontdesk serve exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"frontdesk serve not up after {STARTUP_TIMEOUT}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)


def serve_all(*servers: Serve) -> Iterator[tuple[Serve, ...]]:
    try:
        yield tuple(s.wait() for s in servers)  # they start in parallel
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="module")
def pair(redis_url: str) -> Iterator[tuple[Serve, ...]]:
    """Workers A and B on the session's redis-server."""
    yield from serve_all(Serve(redis_url), Serve(redis_url))


def sse(response: httpx.Response) -> list[tuple[str, Any]]:
    """(event, data) pairs of a Server-Sent Events body."""
    assert response.status_code == 200, response.text
    pairs = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        pairs.append((fields["event"], json.loads(fields["data"])))
    return pairs


def msg(text: str, conversation_id: str, **extra: Any) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "user_id": "alice", "text": text, **extra}


async def conversation(server: Serve, conversation_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{server.url}/v1/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    return response.json()


# --- ordering, idempotency, scale-out -------------------------------------------------


async def test_concurrent_turns_of_one_conversation_run_one_at_a_time_across_workers(pair: tuple[Serve, ...]) -> None:
    n = 24  # without mutual exclusion, concurrent load/save pairs lose turns
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(f"{pair[i % 2].url}/v1/messages", json=msg("hello there", "order-1", message_id=f"m{i}"))
                for i in range(n)
            )
        )
    assert [r.status_code for r in responses] == [200] * n
    conv = await conversation(pair[0], "order-1")
    assert conv["state"]["turn"] == n
    assert sorted(e["message_id"] for e in conv["transcript"]) == sorted(f"m{i}" for i in range(n))


async def test_a_repeated_message_id_is_processed_once_even_concurrently(pair: tuple[Serve, ...]) -> None:
    body = msg("this is terrible service", "idem-1", message_id="retry-1", customer={"level": "VIP"})
    async with httpx.AsyncClient(timeout=60) as client:
        responses = await asyncio.gather(*(client.post(f"{pair[i % 2].url}/v1/messages", json=body) for i in range(10)))
        later = await client.post(f"{pair[1].url}/v1/messages", json=body)
    first = responses[0].json()
    assert [a["type"] for a in first["actions"]] == ["handoff", "tag"]
    assert all(r.status_code == 200 and r.json() == first for r in [*responses, later])
    conv = await conversation(pair[0], "idem-1")
    assert conv["state"]["turn"] == 1 and conv["state"]["tags"] == ["angry-vip"]
    assert [e["actions"] for e in conv["transcript"]] == [["handoff", "tag"]]  # the side effects, once


async def test_a_conversation_begun_on_one_worker_continues_on_another(pair: tuple[Serve, ...]) -> None:
    a, b = pair
    steps = [
        (a, "where is my order"),
        (b, "12345678"),
        (a, "this is terrible service"),
        (b, "this is terrible service"),
        (a, "this is terrible service"),  # the third in 10 minutes: the `window` rule fires
    ]
    results = []
    async with httpx.AsyncClient(timeout=30) as client:
        for server, text in steps:
            response = await client.post(f"{server.url}/v1/messages?explain=1", json=msg(text, "scale-1"))
            assert response.status_code == 200, response.text
            results.append(response.json())
    assert results[1]["slots"] == {"order_id": "12345678"}  # the expectation set on A, answered on B
    assert results[1]["reply"]["text"] == "Order 12345678 is being processed."
    assert [r["id"] for r in results[3]["explain"]["rules"]] == ["complaint"]
    assert "repeated-complaint" in [r["id"] for r in results[4]["explain"]["rules"]]
    assert results[4]["actions"][0]["params"]["queue"] == "complaints"
    conv = await conversation(b, "scale-1")
    assert conv["state"]["turn"] == 5 and conv["state"]["slots"] == {"order_id": "12345678"}
    assert [e["user"] for e in conv["transcript"]] == [text for _, text in steps]


# --- a worker killed mid-turn -------------------------------------------------------


def test_a_worker_killed_mid_turn_does_not_wedge_the_conversation(pair: tuple[Serve, ...], redis_url: str) -> None:
    victim = Serve(redis_url, FRONTDESK_LOCK_TTL="1").wait()
    lock_key = RedisStore(redis.asyncio.Redis(), tenant=TENANT).keys("kill-1").lock
    in_flight: list[str] = []
    stop = threading.Event()

    def post_forever() -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(100_000):
                if stop.is_set():
                    return
                in_flight.append(f"k{i}")
                try:
                    client.post(
                        f"{victim.url}/v1/messages", json=msg("where is my order", "kill-1", message_id=f"k{i}")
                    )
                except httpx.TransportError:
                    return  # killed

    poster = threading.Thread(target=post_forever)
    poster.start()
    try:
        with redis.Redis.from_url(redis_url) as raw:
            # freeze the worker at a moment it holds the conversation, then kill it
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if raw.exists(lock_key):
                    os.kill(victim.proc.pid, signal.SIGSTOP)
                    if raw.exists(lock_key):
                        break
                    os.kill(victim.proc.pid, signal.SIGCONT)
            else:
                pytest.fail("never caught the worker holding the conversation")
            os.kill(victim.proc.pid, signal.SIGKILL)
            victim.proc.wait()
            assert raw.pttl(lock_key) > 0  # it died holding the lock
    finally:
        stop.set()
        poster.join(timeout=30)
        victim.stop()

    interrupted = in_flight[-1]
    retry = httpx.post(f"{pair[0].url}/v1/messages", json=msg("where is my order", "kill-1", message_id=interrupted))
    assert retry.status_code == 200, retry.text  # waited for the lock to expire, then ran the turn
    after = httpx.post(f"{pair[1].url}/v1/messages", json=msg("12345678", "kill-1"))
    assert after.status_code == 200 and after.json()["slots"] == {"order_id": "12345678"}
    conv = asyncio.run(conversation(pair[0], "kill-1"))
    ids = [e["message_id"] for e in conv["transcript"]]
    assert ids.count(interrupted) == 1  # never half-written: the turn committed once
    assert conv["state"]["turn"] == len(ids)


# --- limits, trace ids and erasure over the wire ------------------------------------


async def test_limits_and_errors_over_the_wire(pair: tuple[Serve, ...]) -> None:
    url = f"{pair[0].url}/v1/messages"
    json_type = {"content-type": "application/json"}

    async def chunks() -> Any:
        for _ in range(100):
            yield b"x" * 1024

    async with httpx.AsyncClient(timeout=30) as client:
        cases = [
            (await client.post(url, content=b"x" * 70_000, headers=json_type), 413, "payload_too_large"),
            (await client.post(url, content=chunks(), headers=json_type), 413, "payload_too_large"),
            (await client.post(url, json=msg("x" * 4001, "lim-1")), 413, "message_too_long"),
            (await client.post(url, json={"conversation_id": "lim-1", "text": "hi"}), 422, "invalid_request"),
            (
                await client.post(url, content=b"hi", headers={"content-type": "text/plain"}),
                415,
                "unsupported_media_type",
            ),
            (await client.post(url, content=b'{"text": ', headers=json_type), 400, "invalid_json"),
        ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    assert "user_id" in cases[3][0].json()["error"]["message"]


async def test_trace_ids_come_from_traceparent_over_the_wire(pair: tuple[Serve, ...]) -> None:
    header = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{pair[1].url}/v1/messages", json=msg("hi", "trace-1"), headers=header)
    assert response.headers["x-trace-id"] == response.json()["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


async def test_erasure_reaches_conversations_made_on_every_worker(pair: tuple[Serve, ...]) -> None:
    a, b = pair
    async with httpx.AsyncClient(timeout=30) as client:
        for server, cid in ((a, "erase-1"), (b, "erase-2")):
            body = {**msg("where is my order", cid), "user_id": "dora"}
            assert (await client.post(f"{server.url}/v1/messages", json=body)).status_code == 200
        erased = await client.delete(f"{b.url}/v1/customers/dora")
        counts = {"conversations": 2, "transcripts": 2, "results": 2, "audit_payloads": 2, "cached_answers": 0}
        assert erased.json() == {"user_id": "dora", "erased": counts}
        for server, cid in ((a, "erase-1"), (b, "erase-2")):
            gone = await client.get(f"{server.url}/v1/conversations/{cid}")
            assert gone.status_code == 404


# --- Redis outages ------------------------------------------------------------------


@pytest.fixture(scope="module")
def own_redis() -> Iterator[RedisServer]:
    """A server of this module's own, to stop and start."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def strict_and_degrading(own_redis: RedisServer) -> Iterator[tuple[Serve, ...]]:
    yield from serve_all(Serve(own_redis.url), Serve(own_redis.url, FRONTDESK_DEGRADE_TO_MEMORY="true"))


async def test_redis_down_is_503_or_memory_then_recovers_without_restart(
    own_redis: RedisServer, strict_and_degrading: tuple[Serve, ...]
) -> None:
    strict, degrading = strict_and_degrading

    async def turn(server: Serve, text: str = "where is my order") -> httpx.Response:
        return await client.post(f"{server.url}/v1/messages?explain=1", json=msg(text, f"outage-{server.port}"))

    async with httpx.AsyncClient(timeout=30) as client:
        for server in (strict, degrading):
            assert (await turn(server)).json()["explain"]["degradations"] == []
            assert (await client.get(f"{server.url}/readyz")).json()["ready"] is True

        own_redis.stop()
        try:
            refused = await turn(strict)
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "redis_unavailable"
            not_ready = await client.get(f"{strict.url}/readyz")
            assert not_ready.status_code == 503
            assert not_ready.json() == {
                "ready": False,
                "rulesets": ["mini"],
                "store": "redis",
                "redis": False,
                "degraded": False,
            }
            assert (await client.delete(f"{strict.url}/v1/customers/alice")).status_code == 503

            degraded = await turn(degrading)
            assert degraded.status_code == 200
            assert degraded.json()["explain"]["degradations"] == ["store:memory"]
            assert degraded.json()["reply"]["template"] == "ask_order_id"  # a new conversation, in memory
            ready = (await client.get(f"{degrading.url}/readyz")).json()
            assert ready["ready"] is True and ready["degraded"] is True and ready["redis"] is False

            # a streamed turn degrades the same way, and is refused in band where memory is not allowed
            body = msg("where is my order", f"outage-stream-{degrading.port}")
            streamed = sse(await client.post(f"{degrading.url}/v1/messages?stream=1&explain=1", json=body))
            assert [kind for kind, _ in streamed] == ["delta", "result"]
            assert streamed[-1][1]["explain"]["degradations"] == ["store:memory"]
            assert streamed[-1][1]["reply"]["template"] == "ask_order_id"
            refused_stream = sse(await client.post(f"{strict.url}/v1/messages?stream=1", json=body))
            assert refused_stream == [("error", refused.json())]
        finally:
            own_redis.start()  # same port, empty

        for server in (strict, degrading):
            back = await turn(server, "12345678")
            assert back.status_code == 200, back.text
            assert back.json()["explain"]["degradations"] == []
            assert (await client.get(f"{server.url}/readyz")).json()["ready"] is True
        with own_redis.client() as raw:
            assert raw.exists(RedisStore(redis.asyncio.Redis(), tenant=TENANT).keys(f"outage-{strict.port}").state)
