"""Full turns that call a model, over HTTP, against a bare Starlette relay to the same mock vendor.

    .venv/bin/python ops/bench/bench_llm_http.py [--duration 12] [--rounds 3] [--connections 32] [--latency 0]

What the vendor issue asks for, end to end: `frontdesk serve` (one worker, embedded
defaults, the LLM quick start pointed at the mock vendor, a ruleset whose rule answers
product questions with a model prompt) and bare_relay_app.py (Starlette relaying the
text to the same mock with the same HTTP client: httpx on the aiohttp transport), each
pinned to core 0; wrk and the mock vendor (tests/mock_vendor.py, answering after
--latency seconds) on core 1. Every question is new, so no answer comes from the cache;
every turn runs every stage, the answer action, the router, one vendor call, the output
checks and the audit record. Prints req/s, p50/p99 and the server's CPU per request for
--connections and 1 connection, the servers taking turns for --rounds rounds, and the
ratios (target >= 0.4) as medians over rounds (see bench_http.compare). Needs wrk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

from bench_http import BIN, CLIENT_CORE, HERE, ROOT, SERVER_CORE, Processes, compare, free_port, wait_http
from bench_llm_turn import RULESET


def first_turn(url: str) -> dict:
    """One request as wrk sends them; the bench is void unless the model answered it."""
    body = json.dumps({"conversation_id": "check", "user_id": "u", "text": "do you sell umbrellas in size 1"})
    request = urllib.request.Request(url, body.encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="the servers take turns this many times")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds the mock vendor takes to answer")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    tmp = Path(tempfile.mkdtemp(prefix="fd-bench-llm-"))
    (tmp / "bench-llm").mkdir()
    (tmp / "bench-llm" / "ruleset.yaml").write_text(RULESET, encoding="utf-8")
    mock_port, fd_port, bare_port = free_port(), free_port(), free_port()
    env = os.environ | {
        "FRONTDESK_LLM_BASE_URL": f"http://127.0.0.1:{mock_port}/v1",
        "FRONTDESK_LLM_API_KEY": "sk-bench",
        "FRONTDESK_LLM_MODEL": "bench",
        "FRONTDESK_AUDIT_DIR": str(tmp / "audit"),
        "FRONTDESK_CACHE_DIR": str(tmp / "cache"),
    }
    pin = ["taskset", "-c", SERVER_CORE]
    with Processes(tmp, env) as procs:
        mock = ["taskset", "-c", CLIENT_CORE, sys.executable, str(ROOT / "tests" / "mock_vendor.py")]
        procs.start([*mock, "--port", str(mock_port), "--latency", str(args.latency)], "mock")
        serve = [str(BIN / "frontdesk"), "serve", "--rulesets", str(tmp / "bench-llm"), "--port", str(fd_port)]
        fd = procs.start([*pin, *serve, "--log-level", "warning"], "frontdesk")
        bare = procs.start(
            [
                *pin,
                *(str(BIN / "uvicorn"), "--app-dir", str(HERE), "bare_relay_app:app", "--port", str(bare_port)),
                *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
            ],
            "bare",
        )
        fd_url, bare_url = f"http://127.0.0.1:{fd_port}/v1/messages", f"http://127.0.0.1:{bare_port}/v1/messages"
        wait_http(f"http://127.0.0.1:{fd_port}/readyz", fd)
        wait_http(bare_url, bare)
        os.environ["UNIQUE_QUESTIONS"] = "1"  # read by post_message.lua: every question new, no cache hit
        reply = first_turn(fd_url)["reply"]
        if reply["source"] != "llm":
            raise SystemExit(f"the turn was not answered by the model: {reply}")
        where = f"servers on core {SERVER_CORE}, wrk and the mock on core {CLIENT_CORE}"
        print(f"mock vendor answering in {args.latency * 1000:g} ms; {where}; target >= 0.4")
        compare(
            ("frontdesk", fd_url, fd.pid),
            ("bare relay", bare_url, bare.pid),
            args.connections,
            args.duration,
            args.rounds,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
