"""Start and stop real redis-server processes on free local ports (tests, benchmarks).

`RedisServer` runs a throwaway server (no persistence) that a test may stop and
restart on the same port to simulate an outage; `cluster=True` makes it a
one-node Redis Cluster owning all 16,384 slots (real cluster rules: CROSSSLOT
is enforced); `RedisSentinel` runs a real Sentinel monitoring a server.
A missing redis-server binary is an error, never a reason to skip.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import redis

STARTUP_TIMEOUT = 10.0


def redis_server_binary() -> str:
    path = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(path).exists():
        raise RuntimeError(
            "redis-server not found: the Redis tests need a real server; "
            "install it with `apt-get install redis-server` (Debian/Ubuntu)"
        )
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def _wait_for(check: Callable[[], object], what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited with status {proc.returncode}:\n{tail}")
        try:
            if check():
                return
        except redis.RedisError:
            pass
        time.sleep(0.02)
    raise RuntimeError(f"{what} did not become ready within {STARTUP_TIMEOUT}s")


class RedisServer:
    """One redis-server process; `start()`, `stop()`, `restart()` keep the same port."""

    def __init__(self, *, cluster: bool = False) -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.cluster = cluster
        self.dir = Path(tempfile.mkdtemp(prefix="fd-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log(self) -> Path:
        return self.dir / "redis.log"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)

    def start(self) -> None:
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
        if self.cluster:
            args += ["--cluster-enabled", "yes", "--cluster-port", str(free_port())]
        self.proc = _spawn(args, self.log)
        with self.client() as client:
            _wait_for(client.ping, f"redis-server on port {self.port}", self.proc, self.log)
            if self.cluster:
                client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                _wait_for(
                    lambda: client.cluster("info")["cluster_state"] == "ok",
                    "cluster state ok",
                    self.proc,
                    self.log,
                )

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self.cluster:  # a restarted node must not reload its old slot map
            (self.dir / "nodes.conf").unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisSentinel:
    """A real redis-sentinel monitoring `master` under the service name `service`."""

    def __init__(self, master: RedisServer, service: str = "mymaster") -> None:
        self.binary = redis_server_binary()
        self.port = free_port()
        self.service = service
        self.dir = Path(tempfile.mkdtemp(prefix="fd-sentinel-"))
        config = self.dir / "sentinel.conf"  # Sentinel rewrites its config: must be writable
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {self.dir}\nsentinel monitor {service} 127.0.0.1 {master.port} 1\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+sentinel://127.0.0.1:{self.port}/{self.service}/0"

    def __enter__(self) -> RedisSentinel:
        args = [self.binary, str(self.dir / "sentinel.conf"), "--sentinel"]
        log = self.dir / "sentinel.log"
        self.proc = _spawn(args, log)
        with redis.Redis(port=self.port, socket_timeout=2, decode_responses=True) as client:
            _wait_for(
                lambda: client.sentinel_get_master_addr_by_name(self.service),
                f"sentinel on port {self.port}",
                self.proc,
                log,
            )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)
