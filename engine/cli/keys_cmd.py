"""`frontdesk keys create|list|revoke`: API keys per tenant (Redis when FRONTDESK_REDIS_URL
is set, else FRONTDESK_KEYS_FILE). Each create and revoke is recorded in the tenant's audit trail."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from datetime import UTC, datetime
from typing import Any

from frontdesk.api_keys import SCOPES, KeyRecord, api_keys_from_settings
from frontdesk.audit import audit_from_settings
from frontdesk.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("keys", help="create, list and revoke API keys")
    keys = parser.add_subparsers(dest="keys_command", required=True)

    create = keys.add_parser("create", help="create a key and print it (once: only its hash is kept)")
    create.add_argument("--tenant", required=True)
    create.add_argument("--scope", action="append", required=True, choices=SCOPES, help="repeat for several")
    create.add_argument("--name", default="", help="what the key is for (shown by `keys list`)")
    create.set_defaults(func=lambda args: asyncio.run(_create(args)))

    listing = keys.add_parser("list", help="list keys (never their secrets)")
    listing.add_argument("--tenant")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=lambda args: asyncio.run(_list(args)))

    revoke = keys.add_parser("revoke", help="revoke a key at once, on every worker")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=lambda args: asyncio.run(_revoke(args)))


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


async def _record(settings: Settings, tenant: str, payload: dict[str, Any]) -> None:
    audit = audit_from_settings(settings, tenant)
    try:
        await audit.append("admin", actor=_actor(), payload=payload)
    finally:
        await audit.aclose()


async def _create(args: argparse.Namespace) -> int:
    settings = Settings()
    keys = api_keys_from_settings(settings)
    try:
        key, record = await keys.create(args.tenant, args.scope, name=args.name)
    finally:
        await keys.aclose()
    await _record(
        settings,
        record.tenant,
        {"action": "keys.create", "key_id": record.key_id, "scopes": list(record.scopes), "name": record.name},
    )
    print(key)
    print(
        f"created key {record.key_id} for tenant {record.tenant} with scopes {', '.join(record.scopes)}; "
        "store it now: it cannot be shown again",
        file=sys.stderr,
    )
    return 0


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _row(record: KeyRecord) -> list[str]:
    status = f"revoked {_when(record.revoked_at)}" if record.revoked_at else "active"
    return [
        record.key_id,
        record.tenant,
        ",".join(record.scopes),
        record.name or "-",
        _when(record.created_at),
        _when(record.last_used_at),
        status,
    ]


async def _list(args: argparse.Namespace) -> int:
    keys = api_keys_from_settings(Settings())
    try:
        records = await keys.list(args.tenant)
    finally:
        await keys.aclose()
    if args.json:
        print(json.dumps([r.public() for r in records], indent=2, ensure_ascii=False))
        return 0
    rows = [["KEY ID", "TENANT", "SCOPES", "NAME", "CREATED", "LAST USED", "STATUS"], *map(_row, records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


async def _revoke(args: argparse.Namespace) -> int:
    settings = Settings()
    keys = api_keys_from_settings(settings)
    try:
        record = await keys.revoke(args.key_id)
    finally:
        await keys.aclose()
    await _record(settings, record.tenant, {"action": "keys.revoke", "key_id": record.key_id})
    print(f"revoked key {record.key_id} of tenant {record.tenant}")
    return 0
