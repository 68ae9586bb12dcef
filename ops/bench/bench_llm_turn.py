"""Full turns that call a model, against a bare relay to the same mock vendor, in the same run.

    .venv/bin/python ops/bench/bench_llm_turn.py [--duration 10] [--rounds 5] [--concurrency 32] [--in-flight 2000]

In-process: the mock vendor (tests/mock_vendor.py) runs as its own process on
core 1; this process, pinned to core 0 with uvloop, runs

1. throughput, the mock answering at once: `--concurrency` tasks call
   `engine.handle` in a loop for `--duration` seconds (every stage, the answer
   action, the router with cache and cost accounting, one vendor call per turn,
   each prompt new so the cache misses); then as many tasks relay the customer's
   message to the same mock the way a bare endpoint would with the same HTTP
   client (httpx over the aiohttp transport, the pool configured as the vendor's:
   `post(json=...)`, `response.json()`); then the same through our vendor adapter
   (`ChatClient.complete`, what the turn uses); then turns a template answers
   (the engine alone). The four take turns in `--rounds` rounds, so load from
   other work weighs on each alike. Prints the rates, the median CPU per
   operation (steadier when other work shares the machine) and the
   turn/bare-relay ratio (target >= 0.4);
2. memory, the mock answering in 300 ms: `--in-flight` turns at once on this
   one event loop; every one must get the model's answer (no error, no
   degraded reply). Prints the peak RSS growth and the tracemalloc peak per
   in-flight turn.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from httpx_aiohttp import AiohttpTransport

from frontdesk.bootstrap import build_engine
from frontdesk.cost import MemoryCostTracker
from frontdesk.llm_cache import AnswerCache
from frontdesk.llm_router import LLMRouter, build_clients
from frontdesk.llm_service import LLMService, close_services
from frontdesk.llm_types import ChatRequest
from frontdesk.models_config import ModelsConfig
from frontdesk.pipeline import Engine
from frontdesk.plugin_manager import build_plugin_manager, collect_registry
from frontdesk.types import Message

ROOT = Path(__file__).resolve().parents[2]
BENCH_CORE, MOCK_CORE = 0, 1
RULESET = """
ruleset: bench-llm
language: en
intents:
  product_question:
    examples: [do you sell umbrellas, what sizes do the boots come in, is the red jacket in stock,
               what colours does the scarf come in, are the gloves waterproof, do you have wool socks]
  complaint:
    examples: [this is terrible service, I want to complain, you sent the wrong item, worst shop ever]
replies:
  try_later: Our assistant is busy; please try again in a minute.
  sorry: We are sorry to hear that.
prompts:
  product_help:
    system: You are the assistant of a small clothing shop.
    instructions: Answer questions about products in one or two sentences.
rules:
  - id: product
    when: {intent: product_question}
    then: [{answer: {prompt: product_help, fallback: try_later}}]
  - id: complaint
    when: {intent: complaint}
    then: [sorry]
"""
QUESTION = "do you sell umbrellas in size {n}"
COMPLAINT = "I want to complain about size {n}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_mock(port: int, latency: float) -> subprocess.Popen[bytes]:
    args = [sys.executable, str(ROOT / "tests" / "mock_vendor.py"), "--port", str(port), "--latency", str(latency)]
    proc = subprocess.Popen(args, preexec_fn=lambda: os.sched_setaffinity(0, {MOCK_CORE}))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the mock vendor did not start")


def config(port: int, connections: int) -> ModelsConfig:
    # a burst of 2,000 turns runs every turn's stages before the loop polls sockets again:
    # connections opened early wait that long, so the connect timeout is generous
    vendor = {
        "kind": "openai",
        "base_url": f"http://127.0.0.1:{port}/v1",
        "max_connections": connections,
        "connect_timeout": 30,
    }
    model = {"vendor": "mock", "model": "bench", "input_per_1k": "0.001", "output_per_1k": "0.002"}
    return ModelsConfig.model_validate(
        {
            "vendors": {"mock": vendor},
            "models": {"m": {**model, "context_window": 16000}},
            "tiers": {"primary": ["m"], "light": ["m"], "long": ["m"]},
            # the burst's own queueing (each turn waits for the others' stages) is not a slow vendor
            "routing": {"deadline_seconds": 30, "breaker": {"slow_call_seconds": 60}},
        }
    )


def engine_on(folder: Path, port: int, connections: int) -> Engine:
    registry = collect_registry(build_plugin_manager())
    cfg = config(port, connections)
    router = LLMRouter(
        cfg, build_clients(cfg, registry.models), cache=AnswerCache(), costs=MemoryCostTracker(cfg.budgets)
    )
    return build_engine([folder], services={"llm": LLMService(router, tenant="bench")})


@dataclass
class Run:
    steps: int
    seconds: float
    cpu_seconds: float


async def rate(step: Callable[[int], Awaitable[Any]], concurrency: int, duration: float, base: int) -> Run:
    """`concurrency` tasks calling `step` in a loop for `duration` s, numbered from `base` (every number new)."""
    done = 0
    stop = time.perf_counter() + duration

    async def worker(w: int) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < stop:
            await step(base + w * 10_000_000 + i)
            i += 1
            done += 1

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return Run(done, time.perf_counter() - start, time.process_time() - cpu)


async def rates(
    steps: dict[str, Callable[[int], Awaitable[Any]]], concurrency: int, duration: float, rounds: int
) -> dict[str, tuple[float, float]]:
    """Name -> (steps per second, median CPU µs of this process per step), the steps taking turns in `rounds`
    rounds so that other work on the machine weighs on each alike. The CPU figure holds when other work
    shares the cores; the rate does not."""
    runs: dict[str, list[Run]] = {name: [] for name in steps}
    for r in range(rounds):
        for name, step in steps.items():
            runs[name].append(await rate(step, concurrency, duration / rounds, (r + 1) * 1_000_000_000))
    return {
        name: (
            sum(run.steps for run in done) / sum(run.seconds for run in done),
            statistics.median(run.cpu_seconds * 1e6 / run.steps for run in done),
        )
        for name, done in runs.items()
    }


def bare_client(port: int, connections: int) -> httpx.AsyncClient:
    """The HTTP client a bare relay would use: httpx on the aiohttp transport, pooled like the vendor's."""
    vendor = config(port, connections).vendors["mock"]
    return httpx.AsyncClient(
        base_url=vendor.base_url,
        transport=AiohttpTransport(limits=httpx.Limits(max_connections=connections, keepalive_expiry=30.0)),
        timeout=httpx.Timeout(vendor.timeout, connect=vendor.connect_timeout),
    )


async def throughput(folder: Path, port: int, concurrency: int, duration: float, rounds: int) -> None:
    engine = engine_on(folder, port, concurrency)
    client = engine.services["llm"].router.clients["mock"]
    http = bare_client(port, concurrency)
    degraded = 0

    async def turn(n: int) -> None:
        nonlocal degraded
        result = await engine.handle(Message(QUESTION.format(n=n), conversation_id=f"t{n}"))
        degraded += result["reply"]["source"] != "llm"

    async def bare(n: int) -> str:
        body = {"model": "bench", "messages": [{"role": "user", "content": QUESTION.format(n=n)}]}
        response = await http.post("chat/completions", json=body)
        response.raise_for_status()
        return response.json()["choices"][0]["message"]["content"]

    async def adapter(n: int) -> str:
        return (await client.complete(ChatRequest.of(QUESTION.format(n=n), model="bench"))).text

    async def template(n: int) -> None:  # the same engine, a rule that replies from a template
        await engine.handle(Message(COMPLAINT.format(n=n), conversation_id=f"c{n}"))

    try:
        for step in (turn, bare, adapter, template):  # warm-up: connections, classifier caches
            await rate(step, concurrency, 1.0, 0)
        found = await rates(
            {"turn": turn, "bare": bare, "adapter": adapter, "template": template}, concurrency, duration, rounds
        )
    finally:
        await close_services(engine.services)
        await http.aclose()
    if degraded:
        raise RuntimeError(f"{degraded} turns did not get the model's answer")
    turns, relays, adapted, templates = found["turn"], found["bare"], found["adapter"], found["template"]
    print(f"mock at 0 ms, {concurrency} concurrent tasks, {duration:.0f} s each in {rounds} rounds, one core")
    print(f"  full turns calling the model  {turns[0]:8.0f} turns/s   {turns[1]:6.0f} µs CPU per turn")
    print(f"  bare relay, same HTTP client  {relays[0]:8.0f} req/s     {relays[1]:6.0f} µs CPU per request")
    print(f"  relay through our adapter     {adapted[0]:8.0f} req/s     {adapted[1]:6.0f} µs CPU per request")
    print(f"  turns without a model call    {templates[0]:8.0f} turns/s   {templates[1]:6.0f} µs CPU per turn")
    print(f"  ratio turn / bare relay       {turns[0] / relays[0]:8.2f}            {relays[1] / turns[1]:6.2f} by CPU")
    print(
        f"  ratio turn / adapter relay    {turns[0] / adapted[0]:8.2f}            {adapted[1] / turns[1]:6.2f} by CPU"
    )
    print("  (target >= 0.4 against the bare relay)")


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def check(results: list[Any]) -> None:
    errors = [r for r in results if isinstance(r, BaseException)]
    degraded = [r for r in results if not isinstance(r, BaseException) and r["reply"]["source"] != "llm"]
    if errors or degraded:
        first = (errors or degraded)[0]
        raise RuntimeError(f"{len(errors)} errors, {len(degraded)} degraded replies; first: {first}")


async def burst(folder: Path, port: int, turns: int, traced: bool) -> tuple[float, int]:
    """`turns` turns at once on a fresh engine (and connection pool) -> (seconds, bytes grown at the peak)."""
    engine = engine_on(folder, port, turns)

    # no warm-up: a pooled connection left idle while the burst's stages run would outlive the
    # mock's 5 s keep-alive; the classifier and caches are warm from the throughput run
    batch = [Message(QUESTION.format(n=f"run{i}"), conversation_id=f"run{i}") for i in range(turns)]
    try:
        if traced:
            tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0] if traced else rss_kib("VmRSS") * 1024
        started = time.perf_counter()
        check(await asyncio.gather(*(engine.handle(m) for m in batch), return_exceptions=True))
        elapsed = time.perf_counter() - started
        grown = (tracemalloc.get_traced_memory()[1] if traced else rss_kib("VmHWM") * 1024) - before
        tracemalloc.stop()
    finally:
        await close_services(engine.services)
    return elapsed, grown


async def in_flight(folder: Path, port: int, turns: int) -> None:
    elapsed, rss = await burst(folder, port, turns, traced=False)
    _, traced = await burst(folder, port, turns, traced=True)
    print(f"mock at 300 ms, {turns} turns in flight on one event loop: all answered by the model, no errors")
    print(f"  the burst took {elapsed:.2f} s ({turns / elapsed:.0f} turns/s), new vendor connections included")
    print(f"  peak RSS growth     {rss / 1024 / turns:8.1f} KiB per in-flight turn ({rss / 2**20:.1f} MiB)")
    print(f"  tracemalloc peak    {traced / 1024 / turns:8.1f} KiB per in-flight turn ({traced / 2**20:.1f} MiB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each kind of step, in all")
    parser.add_argument("--rounds", type=int, default=5, help="the kinds of step take turns this many times")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--in-flight", type=int, default=2000)
    args = parser.parse_args()
    os.sched_setaffinity(0, {BENCH_CORE})
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "ruleset.yaml").write_text(RULESET, encoding="utf-8")
        for latency, run in ((0.0, "throughput"), (0.3, "in_flight")):
            port = free_port()
            mock = start_mock(port, latency)
            try:
                if run == "throughput":
                    uvloop.run(throughput(folder, port, args.concurrency, args.duration, args.rounds))
                else:
                    uvloop.run(in_flight(folder, port, args.in_flight))
            finally:
                mock.terminate()
                mock.wait(timeout=10)


if __name__ == "__main__":
    main()
