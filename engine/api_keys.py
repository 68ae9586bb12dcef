"""API keys per tenant, stored hashed, with scopes.

A key reads `fd_<key_id>_<secret>`: 16 hex digits naming the record, then 43
URL-safe characters that only the holder knows. The store keeps
HMAC-SHA256(pepper, "<key_id>:<secret>"), never the secret, so a leaked store
(or a leaked store plus a leaked digest of another key) yields no usable key.
The pepper (`FRONTDESK_KEY_PEPPER`) lives outside the store; records created
without one keep verifying after a pepper is set (each digest names its scheme).

Scopes: `messages` (post customer messages), `analyst` (rulesets, tests,
explain), `admin` (keys, erasure, audit). `admin` implies the other two: an
admin can mint a key of any scope anyway, so withholding them would only add
friction.

Two backends behind one interface: a JSON file for the embedded mode (atomic
replace, `flock` against concurrent CLI and server writes) and Redis, where the
registry is shared by every tenant because a presented key must be resolved
before its tenant is known:

    fd:{apikey:<key_id>}   HASH  tenant, name, scopes, digest, created_at, last_used_at, revoked_at
    fd:{apikeys}           SET   every key id (for `keys list`)

No tenant id can produce these names (tenant ids never contain braces).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from frontdesk.errors import ConfigError, FrontdeskError, InputError, NotFound
from frontdesk.redis_client import RedisClient, as_text, connect_redis, translate
from frontdesk.settings import Settings
from frontdesk.store_redis import _TENANT

log = logging.getLogger(__name__)

SCOPES = ("messages", "analyst", "admin")
PREFIX = "fd_"
_KEY = re.compile(r"fd_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


class Unauthorized(InputError):
    """No usable credentials (401): `auth_missing`, `auth_invalid`, `auth_revoked`,
    and the webhook codes `signature_invalid`, `signature_expired`, `replay_detected`."""

    code = "auth_invalid"
    status = 401


class Forbidden(InputError):
    """Valid credentials without the right (403)."""

    code = "auth_scope"
    status = 403


def check_tenant(tenant: str) -> str:
    if not _TENANT.fullmatch(tenant):
        raise InputError(
            f"invalid tenant id {tenant!r}", code="invalid_tenant", hint="use 1-64 characters from A-Z a-z 0-9 _ . -"
        )
    return tenant


@dataclass(frozen=True)
class KeyInfo:
    """Who a verified request speaks for."""

    tenant: str
    key_id: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes


@dataclass(frozen=True)
class KeyRecord:
    key_id: str
    tenant: str
    name: str
    scopes: tuple[str, ...]
    digest: str
    created_at: float
    last_used_at: float | None = None
    revoked_at: float | None = None

    def public(self) -> dict[str, Any]:
        """Everything but the digest: what `keys list` shows."""
        data = asdict(self)
        del data["digest"]
        data["scopes"] = list(self.scopes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KeyRecord:
        return cls(**{**data, "scopes": tuple(data["scopes"])})


class KeyBackend(Protocol):
    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def add(self, record: KeyRecord) -> bool:
        """False when the key id is taken."""

    async def update(self, key_id: str, **fields: float) -> bool:
        """Set fields of an existing record only; False when there is none."""

    async def all(self) -> list[KeyRecord]: ...

    async def aclose(self) -> None: ...


class ApiKeys:
    """Create, list, revoke and verify keys; the backend only stores records."""

    def __init__(
        self,
        backend: KeyBackend,
        *,
        pepper: str | bytes | None = None,
        touch_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self._pepper = pepper.encode() if isinstance(pepper, str) else pepper
        self._scheme = "sha256" if self._pepper is None else "hmac-sha256"  # for new keys
        self.touch_interval = touch_interval  # last_used_at is refreshed at most this often: no write per request
        self._clock = clock

    def _digest(self, key_id: str, secret: str, scheme: str) -> str:
        message = f"{key_id}:{secret}".encode()
        if scheme == "sha256":
            return "sha256:" + hashlib.sha256(message).hexdigest()
        if self._pepper is None:
            raise ConfigError(
                f"API key {key_id} was stored with a pepper and none is configured",
                code="key_pepper_missing",
                hint="set FRONTDESK_KEY_PEPPER to the value used when the key was created",
            )
        return "hmac-sha256:" + hmac.new(self._pepper, message, hashlib.sha256).hexdigest()

    async def create(self, tenant: str, scopes: list[str], *, name: str = "") -> tuple[str, KeyRecord]:
        """Return the presented key (show it once; it is not stored) and its record."""
        check_tenant(tenant)
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise InputError(
                f"invalid scopes {unknown or scopes}", code="invalid_scope", hint=f"use one or more of {SCOPES}"
            )
        for _ in range(3):  # 64-bit ids: a collision is a freak event, not a loop
            key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
            record = KeyRecord(
                key_id=key_id,
                tenant=tenant,
                name=name,
                scopes=tuple(s for s in SCOPES if s in scopes),
                digest=self._digest(key_id, secret, self._scheme),
                created_at=self._clock(),
            )
            if await self.backend.add(record):
                return f"{PREFIX}{key_id}_{secret}", record
        raise FrontdeskError("could not allocate a free key id", code="key_id_exhausted")

    async def list(self, tenant: str | None = None) -> list[KeyRecord]:
        records = [r for r in await self.backend.all() if tenant is None or r.tenant == tenant]
        return sorted(records, key=lambda r: (r.created_at, r.key_id))

    async def revoke(self, key_id: str) -> KeyRecord:
        """Idempotent: revoking a revoked key keeps its first revocation time."""
        record = await self.backend.get(key_id)
        if record is None:
            raise NotFound(f"no API key {key_id!r}", code="key_not_found", hint="see `frontdesk keys list`")
        if record.revoked_at is None:
            record = replace(record, revoked_at=self._clock())
            await self.backend.update(key_id, revoked_at=record.revoked_at)
        return record

    async def verify(self, presented: str | None, scope: str | None = None) -> KeyInfo:
        """The key's tenant and scopes; Unauthorized (401) or Forbidden (403) otherwise."""
        if not presented:
            raise Unauthorized("no API key presented", code="auth_missing", hint="send `Authorization: Bearer fd_...`")
        match = _KEY.fullmatch(presented)
        if match is None:
            raise Unauthorized("malformed API key", hint="keys look like fd_<16 hex>_<43 characters>")
        key_id, secret = match.groups()
        record = await self.backend.get(key_id)
        # an unknown id still costs one digest and one comparison: no timing hint
        computed = self._digest(key_id, secret, record.digest.partition(":")[0] if record else self._scheme)
        stored = record.digest if record else ""
        if not hmac.compare_digest(computed.encode(), stored.encode()) or record is None:
            raise Unauthorized(
                "API key not recognised", hint="check the key, or create one with `frontdesk keys create`"
            )
        if record.revoked_at is not None:
            raise Unauthorized(f"API key {key_id} was revoked", code="auth_revoked", hint="ask an admin for a new key")
        info = KeyInfo(record.tenant, key_id, frozenset(record.scopes))
        if scope is not None and not info.allows(scope):
            raise Forbidden(
                f"API key {key_id} lacks the {scope!r} scope",
                hint=f"the key has {sorted(info.scopes)}; create one with --scope {scope}",
            )
        now = self._clock()
        if record.last_used_at is None or now - record.last_used_at >= self.touch_interval:
            try:
                await self.backend.update(key_id, last_used_at=now)
            except (FrontdeskError, OSError) as exc:  # best effort: never fail a valid request over it
                log.warning("could not record use of API key %s: %s", key_id, exc)
        return info

    async def aclose(self) -> None:
        await self.backend.aclose()


# --- the JSON file backend (embedded mode) ------------------------------------------------


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `<path>.lock`, a file never replaced (the data file is)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_atomically(path: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never a half-written one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class FileKeys:
    """Records in one JSON file (mode 0600); reloaded when another process rewrote it."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()
        self._records: dict[str, KeyRecord] = {}
        self._seen: tuple[int, int, int] | None = None

    def _load(self) -> dict[str, KeyRecord]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._records, self._seen = {}, None
            return self._records
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            try:
                data = json.loads(self.path.read_bytes())
                self._records = {k: KeyRecord.from_dict(v) for k, v in data["keys"].items()}
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"API key file {self.path} is unreadable: {exc}",
                    code="keys_file_invalid",
                    hint="restore it from a backup, or move it away and create new keys",
                ) from exc
            self._seen = seen
        return self._records

    def _save(self, records: dict[str, KeyRecord]) -> None:
        data = {"version": 1, "keys": {k: asdict(r) for k, r in records.items()}}
        write_atomically(self.path, json.dumps(data, indent=2, ensure_ascii=False).encode())

    async def get(self, key_id: str) -> KeyRecord | None:
        return self._load().get(key_id)

    async def add(self, record: KeyRecord) -> bool:
        with file_lock(self.path):
            records = dict(self._load())
            if record.key_id in records:
                return False
            records[record.key_id] = record
            self._save(records)
        return True

    async def update(self, key_id: str, **fields: float) -> bool:
        with file_lock(self.path):  # read-modify-write under the lock: a touch cannot undo a revoke
            records = dict(self._load())
            if key_id not in records:
                return False
            records[key_id] = replace(records[key_id], **fields)
            self._save(records)
        return True

    async def all(self) -> list[KeyRecord]:
        return list(self._load().values())

    async def aclose(self) -> None:
        return None


# --- the Redis backend -------------------------------------------------------------------

_ADD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# Field-level writes on existing records only: a late touch cannot resurrect a record.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

INDEX_KEY = "fd:{apikeys}"


def record_key(key_id: str) -> str:
    return f"fd:{{apikey:{key_id}}}"


class RedisKeys:
    def __init__(self, client: RedisClient) -> None:
        self.client = client
        self._add = client.register_script(_ADD)
        self._update = client.register_script(_UPDATE)

    async def get(self, key_id: str) -> KeyRecord | None:
        with translate():
            raw = await self.client.hgetall(record_key(key_id))
        if not raw:
            return None
        data = {as_text(k): as_text(v) for k, v in raw.items()}
        return KeyRecord(
            key_id=key_id,
            tenant=data["tenant"],
            name=data["name"],
            scopes=tuple(filter(None, data["scopes"].split(","))),
            digest=data["digest"],
            created_at=float(data["created_at"]),
            last_used_at=float(data["last_used_at"]) if data.get("last_used_at") else None,
            revoked_at=float(data["revoked_at"]) if data.get("revoked_at") else None,
        )

    async def add(self, record: KeyRecord) -> bool:
        fields = ["tenant", record.tenant, "name", record.name, "scopes", ",".join(record.scopes)]
        fields += ["digest", record.digest, "created_at", repr(record.created_at)]
        with translate():
            # index first: a crash between the two leaves an id `list` skips, never a key `list` misses
            await self.client.sadd(INDEX_KEY, record.key_id)
            return bool(await self._add(keys=[record_key(record.key_id)], args=fields))

    async def update(self, key_id: str, **fields: float) -> bool:
        args = [item for name, value in fields.items() for item in (name, repr(value))]
        with translate():
            return bool(await self._update(keys=[record_key(key_id)], args=args))

    async def all(self) -> list[KeyRecord]:
        with translate():
            ids = await self.client.smembers(INDEX_KEY)
        records = [await self.get(as_text(key_id)) for key_id in ids]
        return [r for r in records if r is not None]

    async def aclose(self) -> None:
        await self.client.aclose()


def api_keys_from_settings(settings: Settings) -> ApiKeys:
    """Redis when FRONTDESK_REDIS_URL is set, else FRONTDESK_KEYS_FILE."""
    pepper = settings.key_pepper.get_secret_value() if settings.key_pepper else None
    if settings.redis_url is None:
        return ApiKeys(FileKeys(settings.keys_file), pepper=pepper)
    client = connect_redis(settings.redis_url.get_secret_value(), settings.redis_mode)
    return ApiKeys(RedisKeys(client), pepper=pepper)


def key_from_authorization(value: str | None) -> str | None:
    """The key in an `Authorization: Bearer <key>` header value, or None."""
    if not value:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
