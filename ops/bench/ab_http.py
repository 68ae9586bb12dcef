"""Server CPU per turn of two versions of Frontdesk, measured in alternation.

    .venv/bin/python ops/bench/ab_http.py BEFORE [AFTER] [--pairs 10] [--duration 3] [--ruleset DIR]

BEFORE and AFTER are git revisions (AFTER defaults to the working tree). Each
runs as `frontdesk serve` with the same Redis, pinned to core 0 like
bench_http.py, and wrk loads them in turn, 32 connections for --duration
seconds each, --pairs times (who goes first alternates). Each pair gives the
ratio AFTER / BEFORE of the server CPU time per request; the median of those
ratios is the figure. The host we measure on changes speed by up to 2x within
minutes, which two separate bench_http.py runs cannot tell from a change in the
code; runs seconds apart share the speed. A revision runs from `git archive`
in a temporary folder, on this environment's packages.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from bench_http import BIN, CLIENT_CORE, ROOT, SERVER_CORE, Processes, free_port, wait_http, wrk

SERVE = "import sys; from frontdesk.cli import main; sys.exit(main())"


def checkout(rev: str, folder: Path) -> dict[str, str]:
    """Extract `rev` into `folder` laid out as the `frontdesk` package; -> the environment to run it."""
    src = folder / "src"
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    # the revision's own package-dir: "frontdesk" = "engine", "frontdesk.plugins" = "plugins", ...
    layout = tomllib.loads((src / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    site = folder / "site"
    site.mkdir()
    for package, path in sorted(layout.items(), key=lambda item: item[0].count(".")):
        # a subpackage's link goes inside its parent's (the extracted tree, a scratch copy)
        site.joinpath(*package.split(".")).symlink_to(src / path)
    # ahead of the editable install of the working tree, which Python consults last
    return {"PYTHONPATH": str(site)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", help="git revision")
    parser.add_argument("after", nargs="?", help="git revision (default: the working tree)")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--duration", type=int, default=3, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--ruleset", type=Path, default=ROOT / "rulesets" / "shop-zh")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fd-ab-"))
    redis_port = free_port()
    versions = [("before", args.before), ("after", args.after)]
    env = os.environ | {"FRONTDESK_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"}
    with Processes(tmp, env) as procs:
        redis_args = ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"]
        procs.start(["taskset", "-c", CLIENT_CORE, *redis_args], "redis")
        servers = []
        for name, rev in versions:
            port = free_port()
            own_env = env | {"FRONTDESK_TENANT": name} | (checkout(rev, tmp / name) if rev else {})
            argv = [str(BIN / "python"), "-c", SERVE, "serve", "--rulesets", str(args.ruleset.resolve())]
            argv += ["--port", str(port), "--log-level", "warning"]
            proc = procs.start(["taskset", "-c", SERVER_CORE, *argv], name, own_env)
            servers.append((name, f"http://127.0.0.1:{port}", proc))
        for _, url, proc in servers:
            wait_http(f"{url}/readyz", proc)
            wrk(f"{url}/v1/messages", args.connections, 2)  # warm-up: connections, caches, Lua scripts
        labels = {name: rev or "working tree" for name, rev in versions}
        print(f"before = {labels['before']}, after = {labels['after']}; ruleset {args.ruleset.name}, Redis")
        ratios = []
        cpu: dict[str, list[float]] = {"before": [], "after": []}
        for i in range(args.pairs):
            for name, url, proc in servers if i % 2 == 0 else servers[::-1]:
                cpu[name].append(wrk(f"{url}/v1/messages", args.connections, args.duration, proc.pid)["cpu_ms"])
            ratios.append(cpu["after"][-1] / cpu["before"][-1])
            print(
                f"pair {i + 1:2}  before {cpu['before'][-1] * 1000:4.0f} µs/turn  after"
                f" {cpu['after'][-1] * 1000:4.0f} µs/turn  after/before {ratios[-1]:.3f}"
            )
        before, after = (statistics.median(cpu[n]) * 1000 for n in ("before", "after"))
        print(
            f"median server CPU per turn: before {before:.0f} µs, after {after:.0f} µs; after/before by pair:"
            f" median {statistics.median(ratios):.3f} (range {min(ratios):.3f}-{max(ratios):.3f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
