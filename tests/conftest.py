"""Shared fixtures. Redis fixtures run a real redis-server (see tests/redis_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_server import RedisServer


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    # redis.asyncio and the engine are asyncio-only
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session; a test may stop()/restart() it but must leave it up."""
    server = RedisServer()
    server.start()
    yield server
    server.close()


@pytest.fixture(scope="session")
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def fresh_redis_url(redis_server: RedisServer) -> str:
    """The session server's URL, emptied of every key first."""
    with redis_server.client() as client:
        client.flushall()
    return redis_server.url
