"""Redis clients and the calls every Redis-backed part makes (conversations, audit trails, keys, limits).

- `connect_redis`: a redis.asyncio client for a standalone server, a Cluster or
  a Sentinel-managed master, failing fast while Redis is down.
- `RedisCalls` (one per client, shared by every tenant's store and audit trail):
  Lua scripts as EVALSHA with a SHA-1 computed here, SCRIPT LOAD on NOSCRIPT.
  On a standalone or Sentinel client the callers' commands are pipelined on one
  connection (`_Pipe`), a few times cheaper in CPU than redis-py's per-command
  path (pool, retry wrapper, packing, callbacks); on a Cluster client they go
  through redis-py, which routes them by slot.
- Errors never reach callers as redis-py exceptions: they surface as
  `ServiceUnavailable` (`redis_unavailable` when the server cannot be reached or
  does not answer in time, `redis_error` otherwise).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import weakref
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import (
    ClusterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from frontdesk.errors import ConfigError, ServiceUnavailable

Mode = Literal["standalone", "cluster", "sentinel"]
RedisClient = Redis | RedisCluster
Arg = bytes | str | int | float  # what a command argument may be


class Script:
    """A Lua script and the SHA-1 that EVALSHA names it by."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


_UNREACHABLE = (
    RedisConnectionError,
    RedisTimeoutError,
    ReadOnlyError,
    ClusterDownError,
    TryAgainError,
    RedisClusterException,
)


def service_error(exc: RedisError | RedisClusterException) -> ServiceUnavailable:
    if isinstance(exc, _UNREACHABLE):
        return ServiceUnavailable(
            f"Redis is unavailable: {exc}",
            code="redis_unavailable",
            hint="check that Redis is running and reachable; the store reconnects by itself once it is back",
        )
    return ServiceUnavailable(
        f"Redis refused a command: {exc}",
        code="redis_error",
        hint="see the Redis server log (memory limit, ACL, scripting disabled?)",
    )


def no_answer(seconds: float | None) -> ServiceUnavailable:
    return ServiceUnavailable(
        f"Redis did not answer within {seconds or 0:g}s",
        code="redis_unavailable",
        hint="check that Redis is running and not overloaded; the store reconnects by itself",
    )


@contextmanager
def translate() -> Iterator[None]:
    """Turn any redis-py exception into the project's ServiceUnavailable."""
    try:
        yield
    except (RedisError, RedisClusterException) as exc:
        raise service_error(exc) from exc


@asynccontextmanager
async def bounded(seconds: float | None) -> AsyncIterator[None]:
    """One store call: bounded in time (a hung Redis fails it; None: unbounded) and its errors translated."""
    try:
        async with asyncio.timeout(seconds):
            with translate():
                yield
    except TimeoutError as exc:
        raise no_answer(seconds) from exc


def as_text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class _Pipe:
    """Many callers' commands on one connection at once. Redis answers a connection's commands in
    order, so each reply belongs to the oldest caller still waiting: no connection per call, no pool
    round trip. The commands sent during one event-loop iteration leave in one write, and one read
    often brings several replies: system calls, on loopback a large part of a command's CPU, are
    shared. A reader task runs while replies are due.

    A command that outlives its deadline retires the pipe (as redis-py drops a connection that timed
    out): every caller still waiting on it fails, and the next command opens a new connection."""

    def __init__(self, conn: AbstractConnection, pool: ConnectionPool) -> None:
        self._conn = conn
        self._pool = pool
        self._loop = asyncio.get_running_loop()
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()  # (caller, deadline)
        self._reader: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._out: list[bytes] = []  # packed commands waiting for this iteration's write
        self.closed = False
        self._released = False

    @property
    def usable(self) -> bool:
        return not self.closed and self._conn.is_connected

    def send(self, packed: bytes, timeout: float | None) -> asyncio.Future[Any]:
        """Write one packed command; the future gets its reply (or error)."""
        loop = self._loop
        future = loop.create_future()
        deadline = math.inf if timeout is None else loop.time() + timeout
        self._waiting.append((future, deadline))
        if self._reader is None:
            self._reader = loop.create_task(self._read())
        if deadline < self._timer_at:
            self._arm(deadline)
        if not self._out:
            self._loop.call_soon(self._write)
        self._out.append(packed)
        return future

    def _write(self) -> None:
        data = b"".join(self._out)
        self._out.clear()
        if self.usable:
            # straight to the stream, no drain(): redis-py's send_packed_command would drop the
            # shared connection when one caller is cancelled while it waits there
            self._conn._writer.write(data)  # type: ignore[union-attr]  # usable: connected
        elif not self.closed:  # the connection was closed under the pipe
            self._retire(RedisConnectionError("the connection was closed"))

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._check)
        self._timer_at = deadline

    def _check(self) -> None:
        """The deadline timer: retire the pipe if a command is overdue, else wait for the next deadline."""
        self._timer, self._timer_at = None, math.inf
        if not self._waiting:
            return
        first = min(deadline for _, deadline in self._waiting)
        if first <= self._loop.time():
            self._retire(TimeoutError("a command outlived its deadline"))
        elif first < math.inf:
            self._arm(first)

    def _retire(self, exc: BaseException) -> None:
        """Fail the waiting callers; the reader, busy since callers wait, releases the connection."""
        self._fail(exc)
        assert self._reader is not None
        self._reader.cancel()  # its read_response disconnects the connection

    async def _read(self) -> None:
        waiting = self._waiting
        try:
            while waiting:
                try:
                    reply = await self._conn.read_response()
                except ResponseError as exc:  # that command failed, the connection is fine
                    reply = exc
                future = waiting.popleft()[0]
                if future.done():  # its caller gave up
                    continue
                if isinstance(reply, ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except (Exception, asyncio.CancelledError) as exc:
            self._fail(exc)
            await self._release()
        finally:
            self._reader = None

    def _fail(self, exc: BaseException) -> None:
        """Retire the pipe: every caller still waiting gets `exc`."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        if isinstance(exc, asyncio.CancelledError):
            exc = RedisConnectionError("the connection was closed")
        while self._waiting:
            future = self._waiting.popleft()[0]
            if not future.done():
                future.set_exception(exc)

    async def close(self) -> None:
        """Retire the pipe and give its connection back to the pool."""
        if self._reader is not None:
            self._retire(RedisConnectionError("the connection was closed"))
        else:
            self.closed = True
            await self._release()

    async def _release(self) -> None:
        if not self._released:
            self._released = True
            await self._conn.disconnect(nowait=True)
            await self._pool.release(self._conn)


class RedisCalls(ABC):
    """Runs Lua scripts on one client: EVALSHA of a SHA-1 computed here, SCRIPT LOAD on NOSCRIPT
    (a restarted or failed-over server). Errors come out as ServiceUnavailable, and `timeout`
    bounds each call (None: unbounded)."""

    async def script(self, script: Script, keys: Sequence[str], args: Sequence[Arg], timeout: float | None) -> Any:
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        try:
            try:
                return await self.execute(command, timeout)
            except NoScriptError:
                await self.load(script.source, timeout)
                return await self.execute(command, timeout)
        except (RedisError, RedisClusterException) as exc:
            raise service_error(exc) from exc
        except TimeoutError as exc:
            raise no_answer(timeout) from exc

    @abstractmethod
    async def execute(self, command: Sequence[Arg], timeout: float | None) -> Any:
        """One command, its raw reply; redis-py exceptions, or TimeoutError past `timeout`."""

    async def load(self, source: str, timeout: float | None) -> None:
        await self.execute(("SCRIPT", "LOAD", source), timeout)


class PipelinedCalls(RedisCalls):
    """Standalone and Sentinel: every command on one pipelined connection taken from the client's pool."""

    def __init__(self, client: Redis) -> None:
        self._pool = client.connection_pool
        self._pipe: _Pipe | None = None
        self._opening = asyncio.Lock()

    async def execute(self, command: Sequence[Arg], timeout: float | None) -> Any:
        # in C (redis-py packs in Python); hiredis' stub types the tuple as one item long
        packed = hiredis.pack_command(tuple(command))  # type: ignore[arg-type]
        pipe = self._pipe
        if pipe is None or not pipe.usable:
            pipe = await self._open(timeout)
        try:
            return await pipe.send(packed, timeout)
        except (RedisConnectionError, RedisTimeoutError):
            # one retry, as redis-py's default: replaces a connection that died with a server restart
            return await (await self._open(timeout)).send(packed, timeout)

    async def _open(self, timeout: float | None) -> _Pipe:
        # bounded as a whole: a hung server hangs the handshake, and the callers queued behind it
        async with asyncio.timeout(timeout), self._opening:
            pipe = self._pipe
            if pipe is None or not pipe.usable:
                if pipe is not None:
                    await pipe.close()
                pipe = self._pipe = _Pipe(await self._pool.get_connection(), self._pool)
            return pipe


class ClusterCalls(RedisCalls):
    """Cluster: redis-py routes each command to the node owning its keys' slot, and follows MOVED."""

    def __init__(self, client: RedisCluster) -> None:
        self._client = client

    async def execute(self, command: Sequence[Arg], timeout: float | None) -> Any:
        async with asyncio.timeout(timeout):
            return await self._client.execute_command(*command)

    async def load(self, source: str, timeout: float | None) -> None:
        async with asyncio.timeout(timeout):
            await self._client.script_load(source)  # to every primary: any may own a later call's slot


_CALLS: weakref.WeakKeyDictionary[RedisClient, RedisCalls] = weakref.WeakKeyDictionary()


def redis_calls(client: RedisClient) -> RedisCalls:
    """The client's RedisCalls, shared by everything that runs scripts on it."""
    calls = _CALLS.get(client)
    if calls is None:
        calls = _CALLS[client] = ClusterCalls(client) if isinstance(client, RedisCluster) else PipelinedCalls(client)
    return calls


def _default_client_options() -> dict[str, Any]:
    # Fail fast while Redis is down (redis-py's default retries for seconds); one
    # retry still replaces a pooled connection that died with a server restart.
    return {
        "socket_timeout": 2.0,
        "socket_connect_timeout": 2.0,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.01, cap=0.1), retries=1),
    }


def parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """Split `redis+sentinel://[user:pass@]h1:26379,h2:26379/<service>[/<db>][?sentinel_password=]`.

    Returns the sentinel addresses, the service (master) name and the options
    for connections to the master (db, username, password, ssl).
    """
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    hosts = []
    for item in filter(None, hostlist.split(",")):
        host, sep, port = item.rpartition(":")
        if not sep or "]" in port:  # no port given (or a bare IPv6 address)
            host, port = item, "26379"
        hosts.append((host.strip("[]"), int(port)))
    path = [unquote(p) for p in parts.path.split("/") if p]
    if not hosts or not 1 <= len(path) <= 2:
        raise ValueError("expected redis+sentinel://host:port[,host:port...]/service[/db]")
    options: dict[str, Any] = {"db": int(path[1]) if len(path) == 2 else 0}
    if userinfo:
        user, _, password = userinfo.partition(":")
        options.update(username=unquote(user) or None, password=unquote(password) or None)
    if parts.scheme.startswith("rediss"):
        options["ssl"] = True
    sentinel_password = parse_qs(parts.query).get("sentinel_password")
    if sentinel_password:
        options["sentinel_password"] = sentinel_password[0]
    return hosts, path[0], options


def connect_redis(url: str, mode: Mode | None = None, **options: Any) -> RedisClient:
    """Build a redis.asyncio client; nothing connects until the first command.

    - standalone: `redis://[user:pass@]host:6379/0` (or `rediss://`, `unix://`)
    - cluster: `redis://host:6379` naming any node; `mode="cluster"` is required
      because the URL alone does not tell a cluster from a single server
    - sentinel: `redis+sentinel://[user:pass@]h1:26379,h2:26379/mymaster/0`
      (`rediss+sentinel://` for TLS to the master; `?sentinel_password=` when the
      sentinels need their own password); `mode` may be left out

    `options` go to the client (socket timeouts, retry, max_connections, ...).
    """
    scheme = urlsplit(url).scheme
    sentinel_scheme = scheme in ("redis+sentinel", "rediss+sentinel")
    mode = mode or ("sentinel" if sentinel_scheme else "standalone")
    if mode not in ("standalone", "cluster", "sentinel"):
        raise ConfigError(f"unknown Redis mode {mode!r}", hint="use standalone, cluster or sentinel")
    if (mode == "sentinel") != sentinel_scheme:
        raise ConfigError(
            f"Redis mode {mode} does not match URL scheme {scheme}://",
            hint="Sentinel URLs look like redis+sentinel://host:26379/mymaster/0",
        )
    opts = _default_client_options() | options
    try:
        if mode == "cluster":
            return RedisCluster.from_url(url, **opts)
        if mode == "standalone":
            return Redis.from_url(url, **opts)
        hosts, service, master = parse_sentinel_url(url)
        sentinel_password = master.pop("sentinel_password", None)
        socket_opts = {k: v for k, v in opts.items() if k.startswith("socket_")}
        sentinel = Sentinel(hosts, sentinel_kwargs={**socket_opts, "password": sentinel_password}, **opts)
        return sentinel.master_for(service, **master)
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {url!r}: {exc}", hint="see connect_redis for the URL forms") from exc
