"""Full turns over HTTP with Redis, against a bare Starlette + Redis GET/SET endpoint.

    .venv/bin/python ops/bench/bench_http.py [--ruleset rulesets/shop-zh] [--duration 10] [--profile] [--secure]

Starts its own redis-server, `frontdesk serve` (one worker, Redis store) and
bare_redis_app.py, each server pinned to core 0, and runs wrk and Redis on core 1:
32 connections, then 1 connection for the latency floor, the two servers taking
turns for --rounds rounds (--duration seconds per server and load in all).
Prints req/s, p50/p99, the server's CPU time per request (read from /proc: it
holds when other work shares the cores, which req/s does not), the ratios to
the bare endpoint and the latency Frontdesk adds at one connection, each the
median over rounds of the figures of neighbouring runs. --profile
samples the serve process with py-spy during an extra 32-connection run and
prints where its time goes. --secure serves with FRONTDESK_AUTH=keys (wrk sends a
key made with `frontdesk keys create`) and tenant, user and address rate limits
too high to refuse anything: what checking a key and three buckets costs. Every
turn is recorded in the audit trail either way. Needs wrk (`apt-get install -y
wrk`) and redis-server; kills everything it started.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
SERVER_CORE, CLIENT_CORE = "0", "1"
_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    """Until the server answers `url` at all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers: up (the bare app has no GET route)
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url: str, connections: int, duration: int, pid: int | None = None) -> dict[str, float]:
    """One wrk run; with `pid`, also the server's CPU time per request (immune to noisy neighbours)."""
    cpu_before = cpu_seconds(pid) if pid else 0.0
    out = subprocess.run(
        [
            *("taskset", "-c", CLIENT_CORE, "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"),
            *("-s", str(HERE / "post_message.lua"), url),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"errors during the run:\n{out}")
    found = {p: re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)$", out, re.M) for p in ("50", "99")}
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None or not all(found.values()):
        raise RuntimeError(f"cannot read wrk output:\n{out}")
    result = {"rps": float(rps[1])}
    done = re.search(r"(\d+) requests in", out)
    if pid and done:
        result["cpu_ms"] = (cpu_seconds(pid) - cpu_before) * 1000 / int(done[1])
    for p, m in found.items():
        assert m is not None
        result[f"p{p}"] = float(m[1]) * _UNITS[m[2]]
    return result


class Processes:
    """The processes of one bench run, each logging to a file in `folder`; all stopped on leaving."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder, self.env = folder, env
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """`env`: this process's environment, instead of the run's."""
        log = (self.folder / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, env=env or self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        self.started.append(proc)
        return proc

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.started):
            proc.terminate()
        for proc in self.started:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


Server = tuple[str, str, int]  # name, URL, pid


def compare(subject: Server, reference: Server, connections: int, duration: int, rounds: int) -> None:
    """Both servers in turn, `rounds` times, at `connections` and at 1 connection, `duration` seconds
    in all per server and load; prints each round, then the medians of the figures and of the
    ratios taken within a round. The hosts we measure on change speed by 2x within minutes: runs
    next to each other share the speed, so ratios are taken between them, never across rounds."""
    runs: dict[tuple[str, int], list[dict[str, float]]] = {}
    for server in (subject, reference):
        wrk(server[1], connections, 2)  # warm-up: connections, caches, Lua scripts
    for r in range(rounds):
        for conns in (connections, 1):
            for name, url, pid in (subject, reference):
                found = wrk(url, conns, max(1, duration // rounds), pid)
                runs.setdefault((name, conns), []).append(found)
                print(
                    f"round {r + 1}  {name:10} {conns:3} conn  {found['rps']:7.0f} req/s  p50 {found['p50']:7.3f} ms"
                    f"  p99 {found['p99']:7.3f} ms  server CPU {found['cpu_ms']:.3f} ms/req"
                )
    print("medians:")
    for (name, conns), found in runs.items():
        rps, cpu = (statistics.median(f[k] for f in found) for k in ("rps", "cpu_ms"))
        p50, p99 = (statistics.median(f[k] for f in found) for k in ("p50", "p99"))
        print(
            f"{name:10} {conns:3} conn  {rps:7.0f} req/s  p50 {p50:7.3f} ms  p99 {p99:7.3f} ms"
            f"  server CPU {cpu:.3f} ms/req (= {1000 / cpu:.0f} req per CPU-second)"
        )
    ours, theirs = runs[subject[0], connections], runs[reference[0], connections]
    rates = [a["rps"] / b["rps"] for a, b in zip(ours, theirs, strict=True)]
    cpus = [b["cpu_ms"] / a["cpu_ms"] for a, b in zip(ours, theirs, strict=True)]
    each = ", ".join(f"{r:.3f}/{c:.3f}" for r, c in zip(rates, cpus, strict=True))
    print(f"ratio to {reference[0]} at {connections} connections, req/s / by CPU per request, by round: {each}")
    rate, cpu = statistics.median(rates), statistics.median(cpus)
    print(f"ratio to {reference[0]} at {connections} connections: {rate:.3f} req/s, {cpu:.3f} by CPU per request")
    ours, theirs = runs[subject[0], 1], runs[reference[0], 1]
    added = statistics.median(a["p50"] - b["p50"] for a, b in zip(ours, theirs, strict=True))
    print(f"latency added at 1 connection: p50 {added:+.3f} ms over {reference[0]}")


def profile(pid: int, url: str, connections: int, duration: int, out: Path) -> None:
    """Sample the server with py-spy while wrk loads it; print where its time goes (the sampling
    slows the server: the shares count, not the rate)."""
    spy = subprocess.Popen(
        [
            *(str(BIN / "py-spy"), "record", "--pid", str(pid), "--duration", str(duration)),
            # paused while sampled: without pausing, stacks read mid-change charge time to the wrong frames
            *("--rate", "100", "--format", "raw", "--output", str(out)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    wrk(url, connections, duration - 1)
    spy.wait(timeout=60)
    parts: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] += int(count)
        parts[next((name for name, test in PARTS if any(test.search(f) for f in frames)), "other")] += int(count)
    total = sum(parts.values())
    print(f"\nprofile of the serve process under {connections} connections ({total} samples, stacks in {out}):")
    for name, n in parts.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")
    print("  top self time:")
    for frame, n in own.most_common(12):
        print(f"  {100 * n / total:5.1f}%  {frame}")


# Each sample is charged to the first part one of its frames matches; frames read
# "function (path:line)". Coroutines resumed by the event loop show without their
# callers: writing a Redis command is charged to the store, not to the endpoint.
PARTS = [
    (name, re.compile(pattern))
    for name, pattern in (
        (
            "engine stages: guards, masking, understanding, rules, actions",
            r"\((plugins/|sklearn/|numpy/|scipy/|pluggy/|"
            r"engine/(rules_runtime|decision|masking|conditions|facts|dialog|templates)\.py)",
        ),
        (
            "store and audit: Redis client, scripts, hash chain",
            r"\((engine/(store_redis|redis_client|audit|tenancy)\.py|redis/|hiredis)",
        ),
        ("JSON of state, results and responses (orjson)", r"\(engine/json_codec\.py"),
        ("request: read + validate the body", r"^(read_body|parse_body) "),
        ("response: JSON encoding", r"^(JSONResponse\.render|dumps) "),
        ("pipeline glue: turn result, transcript entry, explain", r"\(engine/pipeline\.py"),
        ("HTTP server, event loop, Starlette, middleware", r"\((uvicorn/|starlette/|engine/http_app\.py|asyncio/)"),
    )
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ruleset", type=Path, default=ROOT / "rulesets" / "shop-zh")
    parser.add_argument("--duration", type=int, default=12)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="the servers take turns this many times")
    parser.add_argument("--profile", action="store_true", help="also sample the serve process with py-spy")
    parser.add_argument("--secure", action="store_true", help="API keys and rate limits on")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    if args.profile and not (BIN / "py-spy").exists():
        raise SystemExit("py-spy is missing: .venv/bin/pip install -e '.[bench]'")
    tmp = Path(tempfile.mkdtemp(prefix="fd-bench-"))
    redis_port, fd_port, bare_port = free_port(), free_port(), free_port()
    env = os.environ | {"FRONTDESK_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0", "FRONTDESK_TENANT": "bench"}
    if args.secure:
        never = "1000000/s"  # every bucket is checked and drawn from; none ever refuses
        env |= {"FRONTDESK_AUTH": "keys", **{f"FRONTDESK_RATE_{b}": never for b in ("TENANT", "USER", "IP")}}
    pin = ["taskset", "-c", SERVER_CORE]
    load_before = f"{os.getloadavg()[0]:.2f}"  # other work on these cores skews req/s, not CPU/req
    with Processes(tmp, env) as procs:
        # Redis shares wrk's core: core 0 is the app server's alone, as with Redis on another host
        redis_args = ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"]
        procs.start(["taskset", "-c", CLIENT_CORE, *redis_args], "redis")
        fd = procs.start(
            [
                *pin,
                str(BIN / "frontdesk"),
                "serve",
                "--rulesets",
                str(args.ruleset),
                "--port",
                str(fd_port),
                *("--log-level", "warning"),
            ],
            "frontdesk",
        )
        bare = procs.start(
            [
                *pin,
                str(BIN / "uvicorn"),
                "--app-dir",
                str(HERE),
                "bare_redis_app:app",
                "--port",
                str(bare_port),
                *("--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"),
            ],
            "bare",
        )
        fd_url, bare_url = f"http://127.0.0.1:{fd_port}/v1/messages", f"http://127.0.0.1:{bare_port}/v1/messages"
        wait_http(f"http://127.0.0.1:{fd_port}/readyz", fd)
        wait_http(bare_url, bare)
        if args.secure:
            create = [str(BIN / "frontdesk"), "keys", "create", "--tenant", "bench", "--scope", "messages"]
            key = subprocess.run(create, env=env, check=True, capture_output=True, text=True).stdout.strip()
            os.environ["FRONTDESK_BENCH_KEY"] = key  # read by post_message.lua
        secure = "API keys and rate limits on" if args.secure else "no key, no rate limits"
        print(
            f"ruleset {args.ruleset.name}, {secure}; servers on core {SERVER_CORE}, wrk and Redis on core {CLIENT_CORE}"
        )
        compare(
            ("frontdesk", fd_url, fd.pid), ("bare", bare_url, bare.pid), args.connections, args.duration, args.rounds
        )
        print(f"load average before the runs: {load_before}; after: {os.getloadavg()[0]:.2f}")
        if args.profile:
            profile(fd.pid, fd_url, args.connections, args.duration, tmp / "serve.pyspy.txt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
