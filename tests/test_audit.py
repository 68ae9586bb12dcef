"""The hash-chained audit trail on a real redis-server and in a JSONL file: tampering is found
where it happened, erasure and retention keep the chain verifiable, and concurrent appenders
(two connections, two processes) never fork it."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from manual_clock import ManualClock
from redis_server import RedisServer, free_port

from frontdesk.audit import (
    ERASURE,
    GENESIS,
    AuditLog,
    AuditRecord,
    FileAudit,
    Head,
    RedisAudit,
    Unreadable,
    canonical,
    legacy_canonical,
)
from frontdesk.cli import main
from frontdesk.errors import ConfigError, InputError, ServiceUnavailable
from frontdesk.redis_client import connect_redis

pytestmark = pytest.mark.anyio

DAY = 86400.0


def _stream_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq)


@dataclass
class Rig:
    """Makes logs on one chain, and reads/rewrites its storage behind their backs like an attacker."""

    make: Callable[..., AuditLog]
    load: Callable[[], list[dict[str, Any]]]  # [{"old": where, "rec": hashed fields + hash, "payload": ...}]
    save: Callable[[list[dict[str, Any]]], None]
    has_head: bool  # Redis keeps the head apart from the records; a file does not


def redis_rig(url: str, tenant: str, made: list[AuditLog]) -> Rig:
    prefix = f"fd:{tenant}:{{audit:{tenant}}}:"
    log, payloads, head = prefix + "log", prefix + "payload", prefix + "head"

    def make(**options: Any) -> AuditLog:
        made.append(AuditLog(RedisAudit(connect_redis(url), tenant), tenant=tenant, **options))
        return made[-1]

    def load() -> list[dict[str, Any]]:
        with redis.Redis.from_url(url, decode_responses=True) as raw:
            out = []
            for entry_id, fields in raw.xrange(log):
                rec = json.loads(fields["r"])
                payload = raw.hget(payloads, str(rec["seq"]))
                out.append({"old": entry_id, "rec": rec, "payload": None if payload is None else json.loads(payload)})
            return out

    def save(entries: list[dict[str, Any]]) -> None:
        # a stream cannot be edited in place: rebuild it, renumbering ids, and point the head's
        # locator at the same place (its seq and hash are left alone)
        with redis.Redis.from_url(url, decode_responses=True) as raw:
            old_head = _stream_id(raw.hget(head, "id"))
            raw.delete(log, payloads)
            new_head = None
            for i, entry in enumerate(entries, 1):
                raw.xadd(log, {"r": json.dumps(entry["rec"])}, id=f"{i}-0")
                if entry["payload"] is not None:
                    raw.hset(payloads, str(entry["rec"]["seq"]), json.dumps(entry["payload"]))
                if entry["old"] is None or _stream_id(entry["old"]) <= old_head:
                    new_head = f"{i}-0"
            raw.hset(head, "id", new_head)

    return Rig(make, load, save, has_head=True)


def file_rig(path: Path, tenant: str) -> Rig:
    def make(**options: Any) -> AuditLog:
        return AuditLog(FileAudit(path), tenant=tenant, **options)

    def lines() -> list[str]:
        return path.read_text().splitlines()

    def load() -> list[dict[str, Any]]:
        out = []
        for n, line in enumerate(lines(), 1):
            data = json.loads(line)
            if "anchor" not in data:
                payload = data.pop("payload", None)
                out.append({"old": n, "rec": data, "payload": payload})
        return out

    def save(entries: list[dict[str, Any]]) -> None:
        anchor = [line for line in lines()[:1] if "anchor" in line]
        records = [
            json.dumps({**e["rec"], **({} if e["payload"] is None else {"payload": e["payload"]})}) for e in entries
        ]
        path.write_text("".join(line + "\n" for line in anchor + records))

    return Rig(make, load, save, has_head=False)


@pytest.fixture(params=["redis", "file"])
async def rig(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
    made: list[AuditLog] = []
    if request.param == "redis":
        yield redis_rig(request.getfixturevalue("fresh_redis_url"), "acme", made)
    else:
        yield file_rig(tmp_path / "acme.jsonl", "acme")
    for log in made:
        await log.aclose()


async def fill(log: AuditLog, n: int, start: int = 1) -> list[AuditRecord]:
    records = []
    for i in range(start, start + n):
        user = "alice" if i % 2 else "bob"
        payload = {"text": f"turn {i} ⟨PHONE_1⟩", "intent": "order_status", "rules": ["r1"]}
        records.append(await log.append("turn", actor="key:0123", payload=payload, subject=user))
    return records


def found(report) -> list[tuple[str, int | None]]:
    return [(p.code, p.seq) for p in report.problems]


def rehash(rec: dict[str, Any]) -> None:
    fields = {k: v for k, v in rec.items() if k != "hash"}
    rec["hash"] = hashlib.sha256(canonical(fields)).hexdigest()


# --- the chain ----------------------------------------------------------------------------


async def test_records_chain_from_genesis_with_sha256_of_canonical_json(rig: Rig) -> None:
    log = rig.make()
    first, second = await fill(log, 2)
    fields = {
        "seq": 1,
        "ts": first.ts,
        "tenant": "acme",
        "kind": "turn",
        "actor": "key:0123",
        "subject": "alice",
        "payload_hash": hashlib.sha256(
            json.dumps(first.payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        ).hexdigest(),
        "prev_hash": GENESIS,
    }
    expected = hashlib.sha256(
        json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    ).hexdigest()
    assert first.hash == expected and second.prev_hash == first.hash and second.seq == 2
    report = await log.verify()
    assert report.ok and report.records == 2 and report.head == Head(2, second.hash)
    assert report.anchor == Head(0, GENESIS)
    tail = await log.tail(5)
    assert [r.seq for r in tail] == [1, 2] and tail[0].payload == first.payload


async def test_an_empty_chain_verifies(rig: Rig) -> None:
    report = await rig.make().verify()
    assert report.ok and report.records == 0 and report.head == Head(0, GENESIS)


async def test_append_refuses_what_cannot_be_hashed(rig: Rig) -> None:
    log = rig.make()
    for kind, actor, payload in (("", "a", {}), ("turn", "", {}), ("turn", "a", {"x": float("nan")})):
        with pytest.raises(InputError):
            await log.append(kind, actor=actor, payload=payload)
    with pytest.raises(InputError):
        await log.append("turn", actor="a", payload={"x": object()})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_the_canonical_form_survives_storage(value: Any) -> None:
    """What verify recomputes from a stored payload is what append hashed."""
    try:
        data = canonical(value)
    except ValueError:  # lone surrogates: not UTF-8, refused as before
        return
    assert json.loads(data) == value
    assert canonical(json.loads(data)) == data  # as verify reads it back


def test_the_canonical_form_is_the_standard_librarys_but_for_tiny_floats() -> None:
    value = {"b": [1, 2.5, None, True], "a": {"é": "⟨PHONE_1⟩", "z": 1.7e9, "big": 2**70}, "c": 1e16}
    assert canonical(value) == legacy_canonical(value)
    assert canonical({"x": 1e-05}) == b'{"x":0.00001}' and legacy_canonical({"x": 1e-05}) == b'{"x":1e-05}'
    with pytest.raises(ValueError):
        canonical({"x": [float("inf")]})


async def test_a_chain_hashed_in_the_legacy_form_still_verifies(tmp_path: Path) -> None:
    path = tmp_path / "acme.jsonl"
    prev, lines = GENESIS, []
    for seq in (1, 2):  # as written before orjson: payload and record hashed with the standard library
        payload = {"confidence": 1e-05 * seq, "text": "hi"}
        fields = {"seq": seq, "ts": 1.7e9, "tenant": "acme", "kind": "turn", "actor": "a", "subject": "u"}
        fields |= {"payload_hash": hashlib.sha256(legacy_canonical(payload)).hexdigest(), "prev_hash": prev}
        prev = hashlib.sha256(legacy_canonical(fields)).hexdigest()
        lines.append(json.dumps({**fields, "hash": prev, "payload": payload}))
        assert canonical(payload) != legacy_canonical(payload)
    path.write_text("\n".join(lines) + "\n")
    log = AuditLog(FileAudit(path), tenant="acme")
    await log.append("turn", actor="a", payload={"confidence": 2e-05})  # the new form, chained on
    report = await log.verify()
    assert report.ok and report.records == 3
    lines[1] = lines[1].replace("2e-05", "3e-05")
    path.write_text("\n".join(lines) + "\n")
    assert found(await log.verify()) == [("payload_modified", 2)]


# --- tampering: found where it happened ---------------------------------------------------


def modify_payload(entries: list[dict[str, Any]]) -> None:
    entries[4]["payload"]["text"] = "turn 5 with the real phone 13800138000"


def modify_field(entries: list[dict[str, Any]]) -> None:
    entries[4]["rec"]["actor"] = "someone-else"


def modify_and_rehash(entries: list[dict[str, Any]]) -> None:
    entries[4]["rec"]["actor"] = "someone-else"
    rehash(entries[4]["rec"])


def insert(entries: list[dict[str, Any]]) -> None:
    forged = {**entries[4]["rec"], "actor": "forger", "prev_hash": entries[3]["rec"]["hash"]}
    rehash(forged)
    entries.insert(4, {"old": None, "rec": forged, "payload": entries[4]["payload"]})


def delete(entries: list[dict[str, Any]]) -> None:
    del entries[4]


def reorder(entries: list[dict[str, Any]]) -> None:
    entries[4], entries[5] = entries[5], entries[4]


def drop_payload(entries: list[dict[str, Any]]) -> None:
    entries[4]["payload"] = None


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (modify_payload, [("payload_modified", 5)]),
        (modify_field, [("record_modified", 5)]),
        (modify_and_rehash, [("chain_broken", 6)]),  # seq 6 no longer links to the rewritten seq 5
        (insert, [("record_out_of_order", 5)]),  # a forged seq 5 came first: the genuine one is out of place
        (delete, [("record_missing", 5)]),
        (reorder, [("record_missing", 5), ("record_out_of_order", 5)]),
        (drop_payload, [("payload_missing", 5)]),
    ],
)
async def test_tampering_is_found_where_it_happened(rig: Rig, tamper, expected) -> None:
    log = rig.make()
    await fill(log, 9)
    assert (await log.verify()).ok
    entries = rig.load()
    tamper(entries)
    rig.save(entries)
    report = await log.verify()
    assert found(report) == expected
    assert all(p.ref for p in report.problems)


async def test_deleting_the_newest_records_is_found_against_the_head(rig: Rig) -> None:
    log = rig.make()
    await fill(log, 9)
    entries = rig.load()
    rig.save(entries[:-2])
    report = await log.verify()
    if rig.has_head:
        assert found(report) == [("head_mismatch", 9)]
        assert "ends at seq 7" in report.problems[0].message
    else:  # documented: a file is only as good as a head recorded elsewhere
        assert report.ok and report.head.seq == 7


async def test_a_record_added_behind_the_scripts_back_is_found(fresh_redis_url: str) -> None:
    made: list[AuditLog] = []
    rig = redis_rig(fresh_redis_url, "acme", made)
    log = rig.make()
    await fill(log, 3)
    forged = {**rig.load()[-1]["rec"], "seq": 4, "prev_hash": (await log.verify()).head.hash}
    rehash(forged)
    with redis.Redis.from_url(fresh_redis_url) as raw:
        raw.xadd("fd:acme:{audit:acme}:log", {"r": json.dumps(forged)})
    report = await log.verify()
    assert [p.code for p in report.problems] == ["records_beyond_head"]
    await log.aclose()


async def test_unreadable_stream_entries_are_reported(fresh_redis_url: str) -> None:
    made: list[AuditLog] = []
    log = redis_rig(fresh_redis_url, "acme", made).make()
    await fill(log, 2)
    with redis.Redis.from_url(fresh_redis_url) as raw:
        raw.xadd("fd:acme:{audit:acme}:log", {"x": "no record"})
        raw.xadd("fd:acme:{audit:acme}:log", {"r": "[1, 2]"})
    await fill(log, 1, start=3)  # the head moves past them
    report = await log.verify()
    assert found(report) == [("record_unreadable", None), ("record_unreadable", None)]
    assert report.records == 3
    await log.aclose()


async def test_unreadable_entries_are_reported_and_block_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "acme.jsonl"
    log = AuditLog(FileAudit(path), tenant="acme")
    await fill(log, 3)
    lines = path.read_text().splitlines()
    lines[1] = lines[1][:40]
    path.write_text("\n".join(lines) + "\n")
    report = await log.verify()
    assert ("record_unreadable", None) in found(report) and ("record_missing", 2) in found(report)
    with pytest.raises(ConfigError):
        await log.trim(now=1e12)
    path.write_text(path.read_text() + "{broken\n")
    with pytest.raises(ConfigError) as err:
        await log.append("turn", actor="a", payload={})
    assert err.value.code == "audit_file_corrupt"


# --- concurrent appenders -----------------------------------------------------------------


async def test_two_connections_appending_at_once_keep_one_chain(fresh_redis_url: str) -> None:
    made: list[AuditLog] = []
    rig = redis_rig(fresh_redis_url, "acme", made)
    workers = [rig.make(), rig.make()]
    records = await asyncio.gather(
        *(workers[i % 2].append("turn", actor=f"w{i % 2}", payload={"i": i}) for i in range(120))
    )
    assert sorted(r.seq for r in records) == list(range(1, 121))
    report = await workers[0].verify()
    assert report.ok and report.records == 120 and report.head.seq == 120
    assert {r.actor for r in records} == {"w0", "w1"}
    for log in made:
        await log.aclose()


async def test_appends_made_together_are_written_together(rig: Rig) -> None:
    log = rig.make()
    await fill(log, 1)
    records = await asyncio.gather(*(log.append("turn", actor="a", payload={"i": i}) for i in range(100)))
    assert [r.seq for r in records] == list(range(2, 102))  # in the order they were handed in
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))
    stored = rig.load()
    assert [e["rec"]["seq"] for e in stored] == list(range(1, 102))
    assert len({e["rec"]["ts"] for e in stored[1:]}) <= 3  # batches of 64 at most, one clock reading each
    report = await log.verify()
    assert report.ok and report.records == 101


async def test_an_append_given_up_before_its_batch_is_not_written(rig: Rig) -> None:
    log = rig.make()
    calls = [asyncio.create_task(log.append("turn", actor="a", payload={"i": i})) for i in range(10)]
    calls[4].cancel()
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(results[4], asyncio.CancelledError)
    assert [r.payload["i"] for r in results if isinstance(r, AuditRecord)] == [0, 1, 2, 3, 5, 6, 7, 8, 9]
    assert (await log.verify()).records == 9


async def test_each_caller_of_a_failed_batch_gets_the_error() -> None:
    log = AuditLog(RedisAudit(connect_redis(f"redis://127.0.0.1:{free_port()}/0"), "acme"), tenant="acme")
    results = await asyncio.gather(
        *(log.append("turn", actor="a", payload={}) for _ in range(5)), return_exceptions=True
    )
    assert [getattr(r, "code", r) for r in results] == ["redis_unavailable"] * 5
    await log.aclose()


APPENDER = """
import asyncio, sys
from pathlib import Path
from frontdesk.audit import AuditLog, FileAudit, RedisAudit
from frontdesk.redis_client import connect_redis

async def main(where, name):
    backend = FileAudit(Path(where)) if where.endswith(".jsonl") else RedisAudit(connect_redis(where), "acme")
    log = AuditLog(backend, tenant="acme")
    for i in range(60):
        await log.append("turn", actor=name, payload={"i": i})
    await log.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.parametrize("where", ["redis", "file"])
async def test_two_processes_appending_at_once_keep_one_chain(
    where: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    target = request.getfixturevalue("fresh_redis_url") if where == "redis" else str(tmp_path / "acme.jsonl")
    procs = [
        subprocess.Popen([sys.executable, "-c", APPENDER, target, f"p{i}"], stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    backend = FileAudit(Path(target)) if where == "file" else RedisAudit(connect_redis(target), "acme")
    log = AuditLog(backend, tenant="acme")
    report = await log.verify()
    assert report.ok and report.records == 120 and report.head.seq == 120
    await log.aclose()


# --- erasure ------------------------------------------------------------------------------


async def test_erasure_tombstones_payloads_and_the_chain_still_verifies(rig: Rig) -> None:
    log = rig.make()
    await fill(log, 6)  # odd turns are alice's
    await log.append("admin", actor="cli:root", payload={"action": "keys.create"})
    assert await log.erase_payloads("alice", actor="admin:key1") == 3
    entries = {e["rec"]["seq"]: e for e in rig.load()}
    assert [s for s, e in entries.items() if e["payload"] is None] == [1, 3, 5]
    assert all(entries[s]["rec"]["payload_hash"] for s in (1, 3, 5))  # the tombstone keeps the hash
    assert entries[8]["rec"]["kind"] == ERASURE and entries[8]["payload"] == {"records": 3}
    assert entries[8]["rec"]["subject"] == "alice"
    report = await log.verify()
    assert report.ok and report.erased == 3 and report.records == 8
    assert [r.payload for r in await log.tail(8) if r.subject == "bob"] == [
        {"text": f"turn {i} ⟨PHONE_1⟩", "intent": "order_status", "rules": ["r1"]} for i in (2, 4, 6)
    ]
    # a second request finds nothing left, and is itself on the record
    assert await log.erase_payloads("alice", actor="admin:key1") == 0
    assert (await log.verify()).ok


async def test_an_erasure_record_explains_only_what_came_before_it(rig: Rig) -> None:
    log = rig.make()
    await fill(log, 3)
    await log.erase_payloads("alice", actor="admin")
    await fill(log, 2, start=11)  # seq 5 is alice's again
    entries = rig.load()
    entries[4]["payload"] = None
    rig.save(entries)
    assert found(await log.verify()) == [("payload_missing", 5)]


# --- retention ----------------------------------------------------------------------------


async def test_retention_trims_the_oldest_and_the_rest_still_verifies(rig: Rig) -> None:
    clock = ManualClock()
    log = rig.make(clock=clock, retention_days=180)
    old = await fill(log, 5)
    clock.now += 200 * DAY
    await fill(log, 4, start=6)
    assert await log.trim() == 5
    report = await log.verify()
    assert report.ok and report.records == 4 and report.anchor == Head(5, old[-1].hash)
    assert [r.seq for r in await log.tail(10)] == [6, 7, 8, 9]
    await fill(log, 1, start=10)
    assert (await log.verify()).ok
    # trimming is found if it removed more than it says: deleting seq 6 after the anchor is not trimming
    entries = rig.load()
    rig.save(entries[1:])
    assert found(await log.verify()) == [("record_missing", 6)]


async def test_trimming_everything_and_only_a_prefix(rig: Rig) -> None:
    clock = ManualClock()
    log = rig.make(clock=clock, retention_days=1)
    await fill(log, 2)
    clock.now += 3 * DAY
    await fill(log, 1, start=3)  # young
    clock.now -= 3 * DAY
    await fill(log, 1, start=4)  # old again (another worker's clock): after a young one, so kept
    clock.now += 3 * DAY
    assert await log.trim(now=clock.now) == 2
    assert [r.seq for r in await log.tail(10)] == [3, 4]
    assert await log.trim(now=clock.now + 10 * DAY) == 2
    report = await log.verify()
    assert report.ok and report.records == 0 and report.anchor == report.head and report.head.seq == 4
    await fill(log, 2, start=5)
    assert (await log.verify()).ok


async def test_redis_trim_works_in_batches(fresh_redis_url: str) -> None:
    clock = ManualClock()
    made: list[AuditLog] = []
    log = redis_rig(fresh_redis_url, "acme", made).make(clock=clock, retention_days=1)
    for i in range(1203):
        await log.append("turn", actor="a", payload={"i": i})
    clock.now += 2 * DAY
    await log.append("turn", actor="a", payload={"i": "new"})
    assert await log.trim() == 1203
    report = await log.verify()
    assert report.ok and report.records == 1 and report.anchor.seq == 1203
    with redis.Redis.from_url(fresh_redis_url) as raw:
        assert raw.hlen("fd:acme:{audit:acme}:payload") == 1  # trimmed payloads went too
    await log.aclose()


# --- tenants, slots, outages ---------------------------------------------------------------


async def test_tenants_have_separate_chains(fresh_redis_url: str) -> None:
    made: list[AuditLog] = []
    acme, globex = redis_rig(fresh_redis_url, "acme", made).make(), redis_rig(fresh_redis_url, "globex", made).make()
    await fill(acme, 3)
    await fill(globex, 2)
    assert (await acme.verify()).head.seq == 3 and (await globex.verify()).head.seq == 2
    with redis.Redis.from_url(fresh_redis_url, decode_responses=True) as raw:
        for key in raw.keys("*"):
            tenant = key.split(":")[1]
            assert key.startswith(f"fd:{tenant}:{{audit:{tenant}}}:")
    with pytest.raises(InputError):
        RedisAudit(connect_redis(fresh_redis_url), "a}b")
    for log in made:
        await log.aclose()


@pytest.fixture(scope="module")
def cluster_node() -> Iterator[RedisServer]:
    with RedisServer(cluster=True) as node:
        yield node


async def test_every_script_runs_on_a_cluster(cluster_node: RedisServer) -> None:
    clock = ManualClock()
    log = AuditLog(RedisAudit(connect_redis(cluster_node.url, "cluster"), "acme"), tenant="acme", clock=clock)
    await fill(log, 4)
    clock.now += 200 * DAY
    await fill(log, 1, start=5)
    assert await log.erase_payloads("bob", actor="admin") == 2
    assert await log.trim() == 4
    report = await log.verify()
    assert report.ok and report.records == 2
    await log.aclose()


async def test_redis_outage_is_service_unavailable() -> None:
    log = AuditLog(RedisAudit(connect_redis(f"redis://127.0.0.1:{free_port()}/0"), "acme"), tenant="acme")
    for call in (log.append("turn", actor="a", payload={}), log.verify(), log.trim()):
        with pytest.raises(ServiceUnavailable) as err:
            await call
        assert err.value.code == "redis_unavailable"
    await log.aclose()


# --- the command line -------------------------------------------------------------------


def test_cli_verify_tail_trim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.delenv("FRONTDESK_REDIS_URL", raising=False)
    monkeypatch.setenv("FRONTDESK_AUDIT_DIR", str(tmp_path))
    path = tmp_path / "acme.jsonl"
    clock = ManualClock()

    async def write() -> None:
        log = AuditLog(FileAudit(path), tenant="acme", clock=clock)
        await fill(log, 4)
        clock.now = 1.5e9
        await log.append("admin", actor="cli:root", payload={"action": "x"})

    asyncio.run(write())
    assert main(["audit", "verify", "--tenant", "acme"]) == 0
    out = capsys.readouterr().out
    assert "5 records" in out and "OK" in out and "head:   seq 5 " in out

    assert main(["audit", "tail", "--tenant", "acme", "-n", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].split()[0] == "4" and "subject=bob" in out[0] and "admin" in out[1]

    lines = path.read_text().splitlines()
    record = json.loads(lines[2])
    record["payload"]["text"] = "changed"
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    assert main(["audit", "verify", "--file", str(path)]) == 1
    out = capsys.readouterr().out
    assert "seq 3 (line 3): payload_modified" in out and "FAILED: 1 problem(s)" in out

    path.write_text("\n".join(lines[:2] + lines[3:]) + "\n")  # drop the bad line: now a gap
    assert main(["audit", "verify", "--file", str(path)]) == 1
    assert "record_missing" in capsys.readouterr().out

    other = tmp_path / "globex.jsonl"
    asyncio.run(fill(AuditLog(FileAudit(other), tenant="globex", clock=ManualClock()), 3))
    assert main(["audit", "trim", "--tenant", "globex", "--days", "1"]) == 0  # its records are from 2023
    assert "trimmed 3 record(s)" in capsys.readouterr().out
    assert main(["audit", "verify", "--tenant", "globex"]) == 0
    assert "(older ones trimmed)" in capsys.readouterr().out


def test_unreadable_tail_entries_print(tmp_path: Path, capsys) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"seq": "x"}\n')
    assert main(["audit", "tail", "--file", str(path)]) == 0
    assert "line 1: unreadable" in capsys.readouterr().out
    assert isinstance(asyncio.run(FileAudit(path).tail(1))[0], Unreadable)
