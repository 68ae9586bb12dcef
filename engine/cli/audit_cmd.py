"""`frontdesk audit verify|tail|trim`: the tenant's hash-chained audit trail, in Redis when
FRONTDESK_REDIS_URL is set, else in `<FRONTDESK_AUDIT_DIR>/<tenant>.jsonl`, or in the file `--file`."""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from frontdesk.audit import GENESIS, AuditLog, AuditRecord, FileAudit, Head, VerifyReport, audit_from_settings
from frontdesk.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("audit", help="verify, read and trim the audit trail")
    audit = parser.add_subparsers(dest="audit_command", required=True)

    verify = audit.add_parser("verify", help="check the hash chain; exit 1 if it was tampered with")
    tail = audit.add_parser("tail", help="print the newest records")
    tail.add_argument("-n", type=int, default=20, help="how many (default 20)")
    tail.add_argument("--json", action="store_true", help="one JSON record per line")
    trim = audit.add_parser("trim", help="drop records older than the retention period")
    trim.add_argument("--days", type=float, help="retention in days (default FRONTDESK_AUDIT_RETENTION_DAYS)")
    for command, run in ((verify, _verify), (tail, _tail), (trim, _trim)):
        command.add_argument("--tenant", help="default FRONTDESK_TENANT")
        command.add_argument("--file", type=Path, help="a JSONL audit file instead of the configured store")
        command.set_defaults(func=_runner(run))


def _runner(run: Callable[[AuditLog, argparse.Namespace], Awaitable[int]]) -> Callable[[argparse.Namespace], int]:
    def func(args: argparse.Namespace) -> int:
        settings = Settings()
        tenant = args.tenant or settings.tenant
        if args.file is not None:
            log = AuditLog(FileAudit(args.file), tenant=tenant, retention_days=settings.audit_retention_days)
        else:
            log = audit_from_settings(settings, tenant)

        async def main() -> int:
            try:
                return await run(log, args)
            finally:
                await log.aclose()

        return asyncio.run(main())

    return func


def _describe(head: Head) -> str:
    return "seq 0 (the start)" if head == (0, GENESIS) else f"seq {head.seq} {head.hash}"


def render(report: VerifyReport, where: str) -> str:
    lines = [f"audit trail of tenant {where}: {report.records} records, {report.erased} payloads erased"]
    lines.append(f"  anchor: {_describe(report.anchor)}" + ("" if report.anchor.seq == 0 else " (older ones trimmed)"))
    lines.append(f"  head:   {_describe(report.head)}")
    if report.ok:
        lines.append("OK: the chain is unbroken")
    else:
        lines += [f"  {problem}" for problem in report.problems]
        lines.append(f"FAILED: {len(report.problems)} problem(s)")
    return "\n".join(lines)


async def _verify(log: AuditLog, args: argparse.Namespace) -> int:
    report = await log.verify()
    where = f"{log.tenant} in {args.file}" if args.file else log.tenant
    print(render(report, where))
    return 0 if report.ok else 1


async def _tail(log: AuditLog, args: argparse.Namespace) -> int:
    for entry in await log.tail(args.n):
        if not isinstance(entry, AuditRecord):
            print(f"{entry.ref}: unreadable: {entry.error}")
        elif args.json:
            data = {**entry.chained(), "hash": entry.hash, "payload": entry.payload, "ref": entry.ref}
            print(json.dumps(data, ensure_ascii=False))
        else:
            when = datetime.fromtimestamp(entry.ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
            payload = "<erased>" if entry.payload is None else json.dumps(entry.payload, ensure_ascii=False)
            subject = f" subject={entry.subject}" if entry.subject else ""
            print(f"{entry.seq:>8} {when} {entry.kind} actor={entry.actor}{subject} {payload}")
    return 0


async def _trim(log: AuditLog, args: argparse.Namespace) -> int:
    if args.days is not None:
        log.retention_days = args.days
    removed = await log.trim()
    print(f"trimmed {removed} record(s) older than {log.retention_days:g} days from tenant {log.tenant}")
    return 0
