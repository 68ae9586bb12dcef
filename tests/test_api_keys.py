"""API keys: hashed storage, scopes, revocation and the `frontdesk keys` commands, on both
backends (JSON file and a real redis-server)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from manual_clock import ManualClock
from redis_server import RedisServer

from frontdesk.api_keys import (
    ApiKeys,
    FileKeys,
    Forbidden,
    KeyInfo,
    RedisKeys,
    Unauthorized,
    api_keys_from_settings,
    key_from_authorization,
    record_key,
)
from frontdesk.cli import main
from frontdesk.errors import ConfigError, InputError, NotFound
from frontdesk.redis_client import connect_redis
from frontdesk.settings import Settings

pytestmark = pytest.mark.anyio

PEPPER = "pepper-for-tests"


@pytest.fixture(params=["file", "redis"])
async def backend_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[object]:
    """Makes backends sharing one store, as two processes (or workers) would."""
    made: list[ApiKeys] = []
    url = request.getfixturevalue("fresh_redis_url") if request.param == "redis" else ""

    def make(**options: object) -> ApiKeys:
        backend = RedisKeys(connect_redis(url)) if url else FileKeys(tmp_path / "keys.json")
        keys = ApiKeys(backend, **{"pepper": PEPPER, **options})
        made.append(keys)
        return keys

    yield make
    for keys in made:
        await keys.aclose()


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    with redis_server.client() as client:
        yield client


async def test_a_created_key_verifies_to_its_tenant_and_scopes(backend_factory) -> None:
    keys = backend_factory()
    key, record = await keys.create("acme", ["messages", "analyst"], name="web chat")
    assert key.startswith(f"fd_{record.key_id}_") and len(key) == 3 + 16 + 1 + 43
    info = await keys.verify(key)
    assert (info.tenant, info.key_id, info.scopes) == ("acme", record.key_id, {"messages", "analyst"})
    assert info.allows("messages") and info.allows("analyst") and not info.allows("admin")
    other, _ = await keys.create("globex", ["messages"])
    assert (await keys.verify(other)).tenant == "globex"


async def test_only_a_peppered_digest_is_stored(backend_factory, tmp_path: Path, raw: redis.Redis) -> None:
    keys = backend_factory()
    key, record = await keys.create("acme", ["messages"])
    secret = key.removeprefix(f"fd_{record.key_id}_")
    expected = hmac.new(PEPPER.encode(), f"{record.key_id}:{secret}".encode(), hashlib.sha256).hexdigest()
    assert record.digest == "hmac-sha256:" + expected
    stored = (await keys.backend.get(record.key_id)).digest
    assert stored == record.digest
    if isinstance(keys.backend, FileKeys):
        text = (tmp_path / "keys.json").read_text()
        assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    else:
        text = json.dumps(raw.hgetall(record_key(record.key_id)))
        assert set(raw.keys("*")) == {record_key(record.key_id), "fd:{apikeys}"}
    assert secret not in text and expected in text
    assert "digest" not in record.public()


@pytest.mark.parametrize(
    ("presented", "code"),
    [
        (None, "auth_missing"),
        ("", "auth_missing"),
        ("Bearer x", "auth_invalid"),
        ("fd_0123456789abcdef_short", "auth_invalid"),
        ("fd_0123456789abcdef_" + "A" * 43, "auth_invalid"),  # well-formed, unknown id
    ],
)
async def test_missing_and_malformed_keys_are_401(backend_factory, presented: str | None, code: str) -> None:
    keys = backend_factory()
    await keys.create("acme", ["messages"])
    with pytest.raises(Unauthorized) as err:
        await keys.verify(presented)
    assert (err.value.code, err.value.status) == (code, 401)
    assert isinstance(err.value, InputError) and err.value.hint


async def test_a_wrong_secret_for_a_real_key_id_is_401(backend_factory) -> None:
    keys = backend_factory()
    key, _ = await keys.create("acme", ["messages"])
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(Unauthorized) as err:
        await keys.verify(forged)
    assert err.value.code == "auth_invalid"


async def test_scopes_admin_implies_the_others_analyst_does_not(backend_factory) -> None:
    keys = backend_factory()
    admin, _ = await keys.create("acme", ["admin"])
    analyst, _ = await keys.create("acme", ["analyst"])
    for scope in ("messages", "analyst", "admin"):
        assert (await keys.verify(admin, scope)).tenant == "acme"
    assert (await keys.verify(analyst, "analyst")).key_id
    for scope in ("messages", "admin"):
        with pytest.raises(Forbidden) as err:
            await keys.verify(analyst, scope)
        assert (err.value.code, err.value.status) == ("auth_scope", 403)


async def test_invalid_tenant_and_scopes_are_refused(backend_factory) -> None:
    keys = backend_factory()
    for tenant, scopes in (("a{b}", ["messages"]), ("acme", []), ("acme", ["root"])):
        with pytest.raises(InputError) as err:
            await keys.create(tenant, scopes)
        assert err.value.code in ("invalid_tenant", "invalid_scope")
    assert await keys.list() == []


async def test_revocation_is_seen_at_once_by_another_process(backend_factory) -> None:
    server, cli = backend_factory(), backend_factory()
    key, record = await cli.create("acme", ["messages"])
    assert (await server.verify(key)).key_id == record.key_id  # the server has read the store
    revoked = await cli.revoke(record.key_id)
    assert revoked.revoked_at is not None
    with pytest.raises(Unauthorized) as err:
        await server.verify(key)
    assert err.value.code == "auth_revoked"
    assert (await cli.revoke(record.key_id)).revoked_at == revoked.revoked_at  # idempotent
    with pytest.raises(NotFound):
        await cli.revoke("0123456789abcdef")


async def test_a_late_touch_neither_undoes_a_revoke_nor_recreates_a_record(backend_factory) -> None:
    server, cli = backend_factory(), backend_factory()
    key, record = await cli.create("acme", ["messages"])
    await server.verify(key)
    await cli.revoke(record.key_id)
    assert await server.backend.update(record.key_id, last_used_at=2e9) is True
    assert (await cli.backend.get(record.key_id)).revoked_at is not None
    assert await server.backend.update("0123456789abcdef", last_used_at=2e9) is False
    assert await cli.backend.get("0123456789abcdef") is None


async def test_last_used_is_recorded_at_most_once_per_interval(backend_factory) -> None:
    clock = ManualClock()
    keys = backend_factory(clock=clock, touch_interval=60)
    key, record = await keys.create("acme", ["messages"])
    assert record.last_used_at is None
    await keys.verify(key)
    assert (await keys.backend.get(record.key_id)).last_used_at == clock.now
    first = clock.now
    clock.now += 59
    await keys.verify(key)
    assert (await keys.backend.get(record.key_id)).last_used_at == first
    clock.now += 1
    await keys.verify(key)
    assert (await keys.backend.get(record.key_id)).last_used_at == clock.now


async def test_pepper_changes(backend_factory) -> None:
    plain = backend_factory(pepper=None)
    old_key, old = await plain.create("acme", ["messages"])
    assert old.digest.startswith("sha256:")
    peppered = backend_factory(pepper=PEPPER)
    assert (await peppered.verify(old_key)).key_id == old.key_id  # keys from before the pepper keep working
    new_key, _ = await peppered.create("acme", ["messages"])
    with pytest.raises(Unauthorized):
        await backend_factory(pepper="another pepper").verify(new_key)
    with pytest.raises(ConfigError) as err:
        await plain.verify(new_key)
    assert err.value.code == "key_pepper_missing"


async def test_list_filters_by_tenant_in_creation_order(backend_factory) -> None:
    clock = ManualClock()
    keys = backend_factory(clock=clock)
    ids = []
    for tenant in ("acme", "globex", "acme"):
        clock.now += 1
        ids.append((await keys.create(tenant, ["messages"]))[1].key_id)
    assert [r.key_id for r in await keys.list()] == ids
    assert [r.key_id for r in await keys.list("acme")] == [ids[0], ids[2]]
    assert await keys.list("nobody") == []


def test_corrupt_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError) as err:
        asyncio.run(ApiKeys(FileKeys(path)).verify("fd_0123456789abcdef_" + "A" * 43))
    assert err.value.code == "keys_file_invalid"


def test_key_from_authorization_header() -> None:
    assert key_from_authorization("Bearer fd_x") == "fd_x"
    assert key_from_authorization("bearer   fd_x ") == "fd_x"
    assert key_from_authorization("Basic dXNlcg==") is None
    assert key_from_authorization("Bearer ") is None
    assert key_from_authorization(None) is None


# --- the command line -------------------------------------------------------------------


@pytest.fixture(params=["file", "redis"])
def cli_env(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FRONTDESK_KEYS_FILE", str(tmp_path / "keys.json"))
    monkeypatch.setenv("FRONTDESK_AUDIT_DIR", str(tmp_path / "audit"))
    monkeypatch.setenv("FRONTDESK_KEY_PEPPER", PEPPER)
    if request.param == "redis":
        monkeypatch.setenv("FRONTDESK_REDIS_URL", request.getfixturevalue("fresh_redis_url"))
    else:
        monkeypatch.delenv("FRONTDESK_REDIS_URL", raising=False)
    return request.param


def test_cli_create_list_revoke(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "create", "--tenant", "acme", "--scope", "messages", "--scope", "admin", "--name", "n1"]) == 0
    out, err = capsys.readouterr()
    key = out.strip()
    assert key.startswith("fd_") and "\n" not in key
    key_id = key[3:19]
    assert key_id in err and "cannot be shown again" in err

    async def verify() -> KeyInfo:
        keys = api_keys_from_settings(Settings())  # what the server builds from the same environment
        try:
            return await keys.verify(key, "admin")
        finally:
            await keys.aclose()

    info = asyncio.run(verify())
    assert (info.tenant, info.scopes) == ("acme", {"messages", "admin"})

    assert main(["keys", "list"]) == 0
    table = capsys.readouterr().out
    assert key_id in table and "acme" in table and "messages,admin" in table and "active" in table
    assert main(["keys", "list", "--tenant", "acme", "--json"]) == 0
    listed = capsys.readouterr().out
    assert [r["key_id"] for r in json.loads(listed)] == [key_id]
    secret = key[20:]
    assert secret not in table + listed and "digest" not in listed and "hmac" not in table + listed

    assert main(["keys", "revoke", key_id]) == 0
    assert "revoked" in capsys.readouterr().out
    assert main(["keys", "list", "--tenant", "globex"]) == 0
    assert key_id not in capsys.readouterr().out
    assert main(["keys", "revoke", "0123456789abcdef"]) == 2
    assert "key_not_found" in capsys.readouterr().err

    # both admin actions went to the tenant's audit trail, and it verifies
    assert main(["audit", "tail", "--tenant", "acme", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["payload"]["action"] for r in records] == ["keys.create", "keys.revoke"]
    assert all(r["kind"] == "admin" and r["actor"].startswith("cli:") for r in records)
    assert main(["audit", "verify", "--tenant", "acme"]) == 0


def test_cli_refuses_unknown_scopes(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["keys", "create", "--tenant", "acme", "--scope", "root"])
    assert "invalid choice" in capsys.readouterr().err
