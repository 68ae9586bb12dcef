"""Shared fixtures. Redis fixtures run a real redis-server (see tests/redis_server.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llm_support import llm, mock  # noqa: F401  (fixtures shared by the model tests)
from redis_server import RedisServer


@pytest.fixture(scope="session", autouse=True)
def _security_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Audit trails and key files the tests write land in a temporary folder, never in $HOME."""
    folder = tmp_path_factory.mktemp("security")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FRONTDESK_AUDIT_DIR", str(folder / "audit"))
        mp.setenv("FRONTDESK_KEYS_FILE", str(folder / "keys.json"))
        yield


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
