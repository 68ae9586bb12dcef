"""Tamper-evident audit trail: one hash chain per tenant.

Every turn and every admin action appends a record:

    seq, ts, tenant, kind, actor, subject, payload_hash, prev_hash   <- hashed
    hash = SHA-256(canonical JSON of the fields above)
    payload                                                          <- masked data (the caller's job)

`payload_hash` is SHA-256 of the payload's canonical JSON (sorted keys, no
spaces, UTF-8, as orjson writes it: see `canonical`), so erasing a payload
leaves the chain intact: the record keeps `payload_hash`, drops `payload`, and
an `erasure` record for the same subject further down the chain says it was on
purpose. A payload missing without one is a finding.

`verify()` walks the chain and reports where it breaks: a record whose hash does
not match its content (modified), a payload that does not match its hash, a
gap in `seq` (deleted), a `seq` going backwards (inserted or reordered), a
record not linking to the one before (its predecessor rewritten), or a chain
that ends before the head (newest records deleted). Retention trims the oldest
records and keeps an anchor, the seq and hash of the last trimmed one, where
verification starts. A rewrite of the whole chain, anchor and head included,
is not detectable from inside the store: record the head that `verify` prints
somewhere else now and then.

Appends are group commits: the records that callers in one process hand in
while a write is under way are chained together and stored in the next single
backend call; each caller returns once its own record is stored.

Backends:
- Redis, shared by every worker. Appends are compare-and-set on the chain head
  in one Lua script (stream entries, payloads and new head written together), so
  concurrent appenders cannot fork the chain: a loser gets the current head and
  retries. All keys of a tenant's chain share one hash slot:

      fd:<tenant>:{audit:<tenant>}:log      STREAM  field r: the hashed fields and hash (JSON)
      fd:<tenant>:{audit:<tenant>}:payload  HASH    seq -> payload JSON (HDEL on erasure)
      fd:<tenant>:{audit:<tenant>}:head     HASH    seq, hash, id of the newest record
      fd:<tenant>:{audit:<tenant>}:anchor   HASH    seq, hash of the last trimmed record

- a JSONL file (embedded mode): one record per line, an optional
  `{"anchor": {...}}` first line; appends under `flock`, trims and erasures
  rewrite the file atomically. The file has no separate head, so deleting its
  newest lines is only visible against a head recorded elsewhere.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson

from frontdesk import json_codec
from frontdesk.api_keys import check_tenant, file_lock, write_atomically
from frontdesk.errors import ConfigError, InputError, ServiceUnavailable
from frontdesk.redis_client import Arg, RedisClient, Script, as_text, connect_redis, redis_calls, translate
from frontdesk.settings import Settings

GENESIS = "0" * 64
ERASURE = "erasure"
_APPEND_ATTEMPTS = 100  # compare-and-set losses in a row before giving up
_BATCH = 64  # records per backend call at most: one Lua call stays short
_PAGE = 500
# only JSON's own types: the standard library refuses dataclasses and datetimes, and so do these chains
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def canonical(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8, as orjson writes it; ValueError for NaN and infinities, TypeError
    for what is not JSON. What orjson refuses (lone surrogates, integers beyond 64 bits, non-str keys)
    takes `legacy_canonical`. The two forms differ only in floats below 1e-4 (`1e-05` vs `0.00001`)."""
    try:
        data = orjson.dumps(value, option=_CANONICAL)
    except TypeError:
        return legacy_canonical(value)
    if b"null" in data and not _finite(value):  # orjson writes NaN and infinities as null
        raise ValueError("NaN and infinities are not JSON")
    return data


def legacy_canonical(value: Any) -> bytes:
    """The standard library's canonical form, which chains written before orjson used throughout."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _finite(value: Any) -> bool:
    """False when a NaN or an infinity hides in `value`; exact types first, they are nearly all there is."""
    kind = type(value)
    if kind is dict:
        return all(map(_finite, value.values()))
    if kind is list:
        return all(map(_finite, value))
    if kind is float:
        return math.isfinite(value)
    if kind is str or kind is int or value is None or kind is bool:
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(map(_finite, value.values()))
    if isinstance(value, list | tuple):
        return all(map(_finite, value))
    return True


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hash_matches(value: Any, expected: str) -> bool:
    """Whether `expected` is the hash of `value` in the canonical form, or in the legacy one (older chains)."""
    try:
        return sha256_hex(canonical(value)) == expected or sha256_hex(legacy_canonical(value)) == expected
    except (TypeError, ValueError):  # read from storage, so not JSON that canonical takes: it was tampered with
        return False


class Head(NamedTuple):
    seq: int
    hash: str


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    ts: float
    tenant: str
    kind: str
    actor: str
    subject: str | None
    payload_hash: str
    prev_hash: str
    hash: str
    payload: dict[str, Any] | None = None  # None: erased (or lost: verify tells which)
    ref: str = field(default="", compare=False)  # where it is stored (stream id, file line); not hashed
    # canonical(payload), kept from hashing it so the backend stores it without encoding it again
    payload_json: bytes | None = field(default=None, compare=False, repr=False)

    def chained(self) -> dict[str, Any]:
        """The fields the hash covers (read directly: `asdict` would deep-copy the payload on every append)."""
        return {name: getattr(self, name) for name in _CHAINED}

    def hash_valid(self) -> bool:
        return hash_matches(self.chained(), self.hash)

    @classmethod
    def parse(cls, data: dict[str, Any], payload: dict[str, Any] | None, ref: str) -> AuditRecord:
        """From stored JSON; ValueError when fields are missing or mistyped."""
        try:
            record = cls(**{name: data[name] for name in _CHAINED}, hash=data["hash"], payload=payload, ref=ref)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not an audit record: {exc}") from exc
        if not isinstance(record.seq, int) or not isinstance(record.hash, str):
            raise ValueError("not an audit record: seq or hash mistyped")
        return record


_CHAINED = ("seq", "ts", "tenant", "kind", "actor", "subject", "payload_hash", "prev_hash")


@dataclass(slots=True)
class _Pending:
    """A record handed to `AuditLog.append`, waiting for its batch."""

    kind: str
    actor: str
    subject: str | None
    payload: dict[str, Any]
    payload_json: bytes
    payload_hash: str
    future: asyncio.Future[AuditRecord]


@dataclass(frozen=True)
class Unreadable:
    """A stored entry that is not a record at all."""

    ref: str
    error: str


@dataclass(frozen=True)
class AuditProblem:
    seq: int | None
    ref: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "?"
        return f"{where} ({self.ref}): {self.code} {self.message}"


@dataclass(frozen=True)
class Snapshot:
    """Anchor and head read together, and where the head's record is stored."""

    anchor: Head
    head: Head
    end: str | int | None  # the head's stream id or file line; entries() stops there
    beyond: str | None = None  # entries stored after the head: appended behind the script's back


@dataclass
class VerifyReport:
    anchor: Head
    head: Head
    records: int = 0
    erased: int = 0
    problems: list[AuditProblem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


class AuditBackend(Protocol):
    async def snapshot(self) -> Snapshot: ...

    async def append(self, expected: Head, records: Sequence[AuditRecord]) -> Head | None:
        """Store `records` (chained onto `expected`, oldest first) if the chain head is `expected`;
        else store nothing and return the current head."""

    def entries(self, snapshot: Snapshot) -> AsyncIterator[AuditRecord | Unreadable]:
        """Every stored entry up to the snapshot's head, oldest first."""

    async def tail(self, n: int) -> list[AuditRecord | Unreadable]: ...

    async def trim(self, cutoff: float) -> int:
        """Remove the oldest records while their ts < cutoff; move the anchor to the last removed."""

    async def erase(self, seqs: list[int]) -> int:
        """Drop the payloads of these records."""

    async def aclose(self) -> None: ...


class AuditLog:
    """Appends, verifies, trims and erases one tenant's chain."""

    def __init__(
        self,
        backend: AuditBackend,
        *,
        tenant: str,
        retention_days: float = 180,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = backend
        self.tenant = check_tenant(tenant)
        self.retention_days = retention_days
        self._clock = clock
        self._queue: list[_Pending] = []  # handed in, not yet in a batch
        self._flusher: asyncio.Task[None] | None = None  # writes the queue out while it is not empty
        self._head: Head | None = None  # the last head seen: usually right, so one round trip per batch

    async def append(
        self, kind: str, *, actor: str, payload: dict[str, Any], subject: str | None = None
    ) -> AuditRecord:
        """Returns once the record is stored. Records handed in meanwhile are batched into the next write."""
        if not kind or not actor:
            raise InputError("an audit record needs a kind and an actor", code="audit_record_invalid")
        try:
            payload_json = canonical(payload)
        except (TypeError, ValueError) as exc:
            raise InputError(f"audit payload is not plain JSON: {exc}", code="audit_record_invalid") from exc
        loop = asyncio.get_running_loop()
        pending = _Pending(kind, actor, subject, payload, payload_json, sha256_hex(payload_json), loop.create_future())
        self._queue.append(pending)
        if self._flusher is None:
            # a task of its own: a caller cancelled mid-write must not abort the others' batch
            self._flusher = loop.create_task(self._flush())
        return await pending.future

    async def _flush(self) -> None:
        try:
            while self._queue:
                batch = [p for p in self._queue[:_BATCH] if not p.future.done()]  # done: the caller gave up
                del self._queue[:_BATCH]
                if batch:
                    await self._write(batch)
        except asyncio.CancelledError:
            for pending in self._queue:
                pending.future.cancel()
            self._queue.clear()
            raise
        finally:
            self._flusher = None

    async def _write(self, batch: list[_Pending]) -> None:
        """Chain the batch onto the head and store it; each caller gets its record or the error."""
        try:
            records = await self._store(batch)
        except Exception as exc:
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        except asyncio.CancelledError:
            for pending in batch:
                pending.future.cancel()
            raise
        for pending, record in zip(batch, records, strict=True):
            if not pending.future.done():
                pending.future.set_result(record)

    async def _store(self, batch: list[_Pending]) -> list[AuditRecord]:
        head = self._head or (await self.backend.snapshot()).head
        for _ in range(_APPEND_ATTEMPTS):
            records = self._chain(head, batch)
            current = await self.backend.append(head, records)
            if current is None:
                self._head = Head(records[-1].seq, records[-1].hash)
                return records
            head = current  # another process appended first: chain onto its head
        raise ServiceUnavailable(
            f"audit append lost {_APPEND_ATTEMPTS} races for the chain head in a row",
            code="audit_contention",
            hint="too many workers append to one tenant's chain at once; retry",
        )

    def _chain(self, head: Head, batch: list[_Pending]) -> list[AuditRecord]:
        ts = self._clock()
        seq, prev_hash = head
        records = []
        for pending in batch:
            seq += 1
            fields = {
                "seq": seq,
                "ts": ts,
                "tenant": self.tenant,
                "kind": pending.kind,
                "actor": pending.actor,
                "subject": pending.subject,
                "payload_hash": pending.payload_hash,
                "prev_hash": prev_hash,
            }
            prev_hash = sha256_hex(canonical(fields))
            records.append(
                AuditRecord(**fields, hash=prev_hash, payload=pending.payload, payload_json=pending.payload_json)
            )
        return records

    async def verify(self) -> VerifyReport:
        snap = await self.backend.snapshot()
        report = VerifyReport(anchor=snap.anchor, head=snap.head)
        problem = report.problems.append
        tip = snap.anchor  # the last record in sequence
        links = {tip.hash}  # what the next record may link to
        unexplained: dict[str | None, list[AuditRecord]] = {}  # payloads gone, no erasure seen yet
        last_ref = "anchor"
        async for entry in self.backend.entries(snap):
            last_ref = entry.ref
            if isinstance(entry, Unreadable):
                problem(AuditProblem(None, entry.ref, "record_unreadable", entry.error))
                continue
            rec = entry
            report.records += 1
            if not rec.hash_valid():
                problem(AuditProblem(rec.seq, rec.ref, "record_modified", "the record does not match its hash"))
            if rec.kind == ERASURE and rec.subject is not None:
                report.erased += len(unexplained.pop(rec.subject, []))
            if rec.payload is None:
                unexplained.setdefault(rec.subject, []).append(rec)
            elif not hash_matches(rec.payload, rec.payload_hash):
                problem(AuditProblem(rec.seq, rec.ref, "payload_modified", "the payload does not match its hash"))
            expected = tip.seq + 1
            if rec.seq < expected:
                problem(
                    AuditProblem(
                        rec.seq,
                        rec.ref,
                        "record_out_of_order",
                        f"seq {rec.seq} where seq {expected} was due (inserted, duplicated or moved)",
                    )
                )
                # what follows may link to the chain before it (it was inserted) or to it (it was moved)
                links.add(rec.hash)
                continue
            if rec.seq > expected:
                problem(
                    AuditProblem(
                        expected,
                        rec.ref,
                        "record_missing",
                        f"seq {expected}..{rec.seq - 1} missing before seq {rec.seq} (deleted or moved)",
                    )
                )
            elif rec.prev_hash not in links:
                problem(
                    AuditProblem(
                        rec.seq,
                        rec.ref,
                        "chain_broken",
                        f"does not link to seq {rec.seq - 1}: that record was rewritten, or a record was "
                        "inserted or deleted between them",
                    )
                )
            tip, links = Head(rec.seq, rec.hash), {rec.hash}  # resynchronise: each break is reported once
        if tip != snap.head:
            problem(
                AuditProblem(
                    snap.head.seq,
                    last_ref,
                    "head_mismatch",
                    f"the chain ends at seq {tip.seq} but the head is seq {snap.head.seq}: newest records deleted?",
                )
            )
        if snap.beyond:
            problem(AuditProblem(None, "head", "records_beyond_head", snap.beyond))
        for records in unexplained.values():
            for rec in records:
                problem(AuditProblem(rec.seq, rec.ref, "payload_missing", "payload removed without an erasure record"))
        report.problems.sort(key=lambda p: -1 if p.seq is None else p.seq)
        return report

    async def trim(self, now: float | None = None) -> int:
        """Drop records older than the retention period; verification starts at the new anchor."""
        cutoff = (self._clock() if now is None else now) - self.retention_days * 86400
        return await self.backend.trim(cutoff)

    async def erase_payloads(self, user_id: str, *, actor: str) -> int:
        """Tombstone every payload of `user_id`'s records; the chain still verifies.

        The erasure record is appended first: if the deletion fails half-way, the
        remaining payloads are still there to erase by calling again.
        """
        snap = await self.backend.snapshot()
        seqs = [
            e.seq
            async for e in self.backend.entries(snap)
            if isinstance(e, AuditRecord) and e.subject == user_id and e.payload is not None and e.kind != ERASURE
        ]
        await self.append(ERASURE, actor=actor, subject=user_id, payload={"records": len(seqs)})
        await self.backend.erase(seqs)
        return len(seqs)

    async def tail(self, n: int = 20) -> list[AuditRecord | Unreadable]:
        return await self.backend.tail(n)

    async def aclose(self) -> None:
        if self._flusher is not None:
            await self._flusher  # what was handed in is written first
        await self.backend.aclose()


def _record_json(record: AuditRecord) -> dict[str, Any]:
    return {**record.chained(), "hash": record.hash}


def _payload_json(record: AuditRecord) -> bytes:
    return canonical(record.payload) if record.payload_json is None else record.payload_json


# --- Redis -------------------------------------------------------------------------------

# KEYS: log, payload, head. ARGV: expected seq, expected hash, genesis, then per record, oldest
# first: seq, record, payload, hash.
_APPEND = Script(
    """
local head = redis.call('HMGET', KEYS[3], 'seq', 'hash')
local seq, hash = head[1] or '0', head[2] or ARGV[3]
if seq ~= ARGV[1] or hash ~= ARGV[2] then return {0, seq, hash} end
local id
for i = 4, #ARGV, 4 do
  id = redis.call('XADD', KEYS[1], '*', 'r', ARGV[i + 1])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2])
end
redis.call('HSET', KEYS[3], 'seq', ARGV[#ARGV - 3], 'hash', ARGV[#ARGV], 'id', id)
return {1, id}
"""
)

# KEYS: log, head, anchor. Returns head (seq, hash, id), anchor (seq, hash) and the newest stream id.
_SNAPSHOT = Script(
    """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
return {redis.call('HMGET', KEYS[2], 'seq', 'hash', 'id'), redis.call('HMGET', KEYS[3], 'seq', 'hash'),
        newest[1] and newest[1][1] or false}
"""
)

# KEYS: log, payload, anchor. ARGV: cutoff ts, batch size. Removes a prefix only, so the anchor stays exact.
_TRIM = Script(
    """
local removed, last = 0, nil
for _, entry in ipairs(redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', tonumber(ARGV[2]))) do
  local ok, rec = pcall(cjson.decode, entry[2][2])
  if not ok or type(rec.ts) ~= 'number' or rec.ts >= tonumber(ARGV[1]) then break end
  redis.call('XDEL', KEYS[1], entry[1])
  redis.call('HDEL', KEYS[2], string.format('%d', rec.seq))
  last, removed = rec, removed + 1
end
if last then redis.call('HSET', KEYS[3], 'seq', string.format('%d', last.seq), 'hash', last.hash) end
return removed
"""
)


def _head(values: list[Any], default: Head) -> Head:
    seq, hash_ = values[0], values[1]
    return default if seq is None else Head(int(seq), as_text(hash_))


class RedisAudit:
    """`timeout` bounds each script call (None: only the client's socket timeout does)."""

    def __init__(self, client: RedisClient, tenant: str, *, timeout: float | None = None) -> None:
        self.client = client
        self.tenant = check_tenant(tenant)
        self.timeout = timeout
        prefix = f"fd:{tenant}:{{audit:{tenant}}}:"
        self.log_key, self.payload_key = prefix + "log", prefix + "payload"
        self.head_key, self.anchor_key = prefix + "head", prefix + "anchor"
        self._calls = redis_calls(client)

    async def _script(self, script: Script, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        return await self._calls.script(script, keys, args, self.timeout)

    async def snapshot(self) -> Snapshot:
        head, anchor, newest = await self._script(_SNAPSHOT, (self.log_key, self.head_key, self.anchor_key), ())
        anchor_head = _head(anchor, Head(0, GENESIS))
        end = None if head[2] is None else as_text(head[2])
        beyond = None
        if newest is not None and as_text(newest) != end:
            beyond = f"the newest stream entry {as_text(newest)} is not the head's ({end})"
        return Snapshot(anchor_head, _head(head, anchor_head), end, beyond)

    async def append(self, expected: Head, records: Sequence[AuditRecord]) -> Head | None:
        args: list[Arg] = [expected.seq, expected.hash, GENESIS]
        for record in records:
            args += (record.seq, json_codec.dumps(_record_json(record)), _payload_json(record), record.hash)
        reply = await self._script(_APPEND, (self.log_key, self.payload_key, self.head_key), args)
        return None if reply[0] == 1 else Head(int(reply[1]), as_text(reply[2]))

    async def _parse(self, raw: list[tuple[Any, dict[Any, Any]]]) -> list[AuditRecord | Unreadable]:
        parsed: list[tuple[str, dict[str, Any] | str]] = []
        for entry_id, fields in raw:
            ref = as_text(entry_id)
            try:
                data = json_codec.loads(fields[b"r"] if b"r" in fields else fields["r"])
                if not isinstance(data, dict):
                    raise ValueError(f"not a record: {data!r:.80}")
                parsed.append((ref, data))
            except (KeyError, ValueError) as exc:
                parsed.append((ref, f"stream entry without a readable record: {exc}"))
        seqs = [str(data["seq"]) for _, data in parsed if isinstance(data, dict) and "seq" in data]
        with translate():
            payloads = dict(zip(seqs, await self.client.hmget(self.payload_key, seqs), strict=True)) if seqs else {}
        out: list[AuditRecord | Unreadable] = []
        for ref, data in parsed:
            if isinstance(data, str):
                out.append(Unreadable(ref, data))
                continue
            try:
                raw_payload = payloads.get(str(data.get("seq")))
                payload = None if raw_payload is None else json_codec.loads(raw_payload)
                out.append(AuditRecord.parse(data, payload, ref))
            except ValueError as exc:
                out.append(Unreadable(ref, str(exc)))
        return out

    async def entries(self, snapshot: Snapshot) -> AsyncIterator[AuditRecord | Unreadable]:
        if snapshot.end is None:  # nothing was ever appended
            return
        start, end = "-", snapshot.end
        while True:
            with translate():
                raw = await self.client.xrange(self.log_key, start, end, count=_PAGE)
            for entry in await self._parse(raw):
                yield entry
            if len(raw) < _PAGE:
                return
            start = "(" + as_text(raw[-1][0])

    async def tail(self, n: int) -> list[AuditRecord | Unreadable]:
        with translate():
            raw = await self.client.xrevrange(self.log_key, "+", "-", count=n)
        return await self._parse(raw[::-1])

    async def trim(self, cutoff: float) -> int:
        removed = 0
        while True:  # batches, so one call never blocks Redis for long
            n = int(await self._script(_TRIM, (self.log_key, self.payload_key, self.anchor_key), (cutoff, _PAGE)))
            removed += n
            if n < _PAGE:
                return removed

    async def erase(self, seqs: list[int]) -> int:
        erased = 0
        for i in range(0, len(seqs), _PAGE):
            with translate():
                erased += await self.client.hdel(self.payload_key, *map(str, seqs[i : i + _PAGE]))
        return erased

    async def aclose(self) -> None:
        await self.client.aclose()


# --- JSONL file --------------------------------------------------------------------------


class FileAudit:
    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    def _lines(self) -> Iterator[tuple[int, str]]:
        try:
            with self.path.open(encoding="utf-8") as f:
                yield from ((n, line) for n, line in enumerate(f, 1) if line.strip())
        except FileNotFoundError:
            return

    @staticmethod
    def _parse(n: int, line: str) -> AuditRecord | Unreadable | Head:
        ref = f"line {n}"
        try:
            data = json_codec.loads(line)
            if not isinstance(data, dict):
                raise ValueError(f"not a record: {line.strip()[:80]}")
            if n == 1 and "anchor" in data:
                return Head(int(data["anchor"]["seq"]), str(data["anchor"]["hash"]))
            return AuditRecord.parse(data, data.get("payload"), ref)
        except (ValueError, TypeError, KeyError) as exc:
            return Unreadable(ref, str(exc))

    def _read(self, end: int | None = None) -> tuple[Head, list[AuditRecord | Unreadable]]:
        anchor, entries = Head(0, GENESIS), []
        for n, line in self._lines():
            if end is not None and n > end:
                break
            item = self._parse(n, line)
            if isinstance(item, Head):
                anchor = item
            else:
                entries.append(item)
        return anchor, entries

    def _last_line(self) -> tuple[int, str] | None:
        """The last non-blank line, read backwards from the end (appends stay O(1) in the file size)."""
        try:
            f = self.path.open("rb")
        except FileNotFoundError:
            return None
        with f:
            pos = f.seek(0, os.SEEK_END)
            tail = b""
            while pos > 0:
                step = min(8192, pos)
                pos -= step
                f.seek(pos)
                tail = f.read(step) + tail
                body = tail.rstrip()
                cut = body.rfind(b"\n")
                if cut >= 0:
                    return 2, body[cut + 1 :].decode()  # any line number but 1: only line 1 can be an anchor
            body = tail.strip()
            return (1, body.decode()) if body else None

    def _head(self) -> Head:
        last = self._last_line()
        if last is None:
            return Head(0, GENESIS)
        item = self._parse(*last)
        if isinstance(item, Unreadable):
            raise self._corrupt(item)
        return item if isinstance(item, Head) else Head(item.seq, item.hash)

    def _corrupt(self, entry: Unreadable) -> ConfigError:
        return ConfigError(
            f"audit file {self.path} has an unreadable entry ({entry.ref}): {entry.error}",
            code="audit_file_corrupt",
            hint="run `frontdesk audit verify --file` and repair or move the file away",
        )

    @staticmethod
    def _line(record: AuditRecord) -> bytes:
        data = _record_json(record)
        if record.payload is not None:
            data["payload"] = record.payload
        return json_codec.dumps(data) + b"\n"

    def _rewrite(self, anchor: Head, entries: list[AuditRecord | Unreadable]) -> None:
        """Replace the file; refused while it holds unreadable lines, which are evidence."""
        lines = [] if anchor == (0, GENESIS) else [json_codec.dumps({"anchor": anchor._asdict()}) + b"\n"]
        for entry in entries:
            if isinstance(entry, Unreadable):
                raise self._corrupt(entry)
            lines.append(self._line(entry))
        write_atomically(self.path, b"".join(lines))

    async def snapshot(self) -> Snapshot:
        anchor, end = Head(0, GENESIS), 0
        head: Head | None = None
        for n, line in self._lines():
            item = self._parse(n, line)
            end = n
            if isinstance(item, Head):
                anchor = item
            elif isinstance(item, AuditRecord) and (head is None or item.seq > head.seq):
                head = Head(item.seq, item.hash)  # no head of its own: the chain's highest seq stands in
        return Snapshot(anchor, head or anchor, end)

    async def append(self, expected: Head, records: Sequence[AuditRecord]) -> Head | None:
        with file_lock(self.path):
            current = self._head()
            if current != expected:
                return current
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, b"".join(map(self._line, records)))  # one write: appenders never interleave
            finally:
                os.close(fd)
        return None

    async def entries(self, snapshot: Snapshot) -> AsyncIterator[AuditRecord | Unreadable]:
        for entry in self._read(end=int(snapshot.end or 0))[1]:
            yield entry

    async def tail(self, n: int) -> list[AuditRecord | Unreadable]:
        return self._read()[1][-n:] if n > 0 else []

    async def trim(self, cutoff: float) -> int:
        with file_lock(self.path):
            anchor, entries = self._read()
            removed = 0
            for entry in entries:
                if not isinstance(entry, AuditRecord) or entry.ts >= cutoff:
                    break
                anchor, removed = Head(entry.seq, entry.hash), removed + 1
            if removed:
                self._rewrite(anchor, entries[removed:])
        return removed

    async def erase(self, seqs: list[int]) -> int:
        wanted = set(seqs)
        with file_lock(self.path):
            anchor, entries = self._read()
            erased = [
                replace(e, payload=None) if isinstance(e, AuditRecord) and e.seq in wanted and e.payload else e
                for e in entries
            ]
            count = sum(a is not b for a, b in zip(entries, erased, strict=True))
            if count:
                self._rewrite(anchor, erased)
        return count

    async def aclose(self) -> None:
        return None


def audit_from_settings(settings: Settings, tenant: str) -> AuditLog:
    """The tenant's chain in Redis when FRONTDESK_REDIS_URL is set, else `<audit_dir>/<tenant>.jsonl`."""
    check_tenant(tenant)
    backend: AuditBackend
    if settings.redis_url is None:
        backend = FileAudit(settings.audit_dir / f"{tenant}.jsonl")
    else:
        backend = RedisAudit(connect_redis(settings.redis_url.get_secret_value(), settings.redis_mode), tenant)
    return AuditLog(backend, tenant=tenant, retention_days=settings.audit_retention_days)
