"""Tenants kept apart: each tenant's turns run on its own store, services and audit trail.

The HTTP service learns the tenant from the API key (or FRONTDESK_TENANT with
auth off) and asks `Tenants.get(name)` for that tenant's engine. On Redis every
key a tenant writes names it (`fd:<tenant>:...`: conversations, locks, results,
rate buckets, nonces, the audit chain) and one client serves all tenants; in
process memory each tenant gets its own store. Rulesets and plugins are shared.
Services that count per tenant (the model service: costs, budgets, answer-cache
keys) are bound to the tenant; the rest are shared as they are.

    Tenant.engine     turns on the tenant's store, recorded in its audit trail
    Tenant.fallback   with degrade_to_memory: process memory while Redis is down,
                      recorded in `<audit_dir>/degraded/<tenant>.jsonl`
    Tenant.audit      the hash-chained trail: Redis stream, or `<audit_dir>/<tenant>.jsonl`
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from frontdesk.api_keys import check_tenant
from frontdesk.audit import AuditBackend, AuditLog, FileAudit, RedisAudit
from frontdesk.pipeline import Engine, TurnRecorder, audit_entry
from frontdesk.settings import Settings
from frontdesk.store import memory_store
from frontdesk.store_redis import RedisStore
from frontdesk.types import Turn

# the scope prompts.customer_scope gives a known customer's answers in the model service's cache
CUSTOMER_SCOPE = "user:{user_id}"


def bind_services(services: dict[str, Any], tenant: str) -> dict[str, Any]:
    """A service with a `tenant` attribute is copied and bound to `tenant`, sharing its clients
    (and its vendor health: degradation stays per process); the others are shared."""
    bound = {}
    for name, service in services.items():
        if hasattr(service, "tenant"):
            service = copy.copy(service)
            service.tenant = tenant
        bound[name] = service
    return bound


def recorder(audit: AuditLog) -> TurnRecorder:
    """Appends each turn to `audit`. On Redis its backend bounds every call (`RedisAudit.timeout`), so a
    hung server fails the turn instead of holding it."""

    async def record(turn: Turn, actor: str) -> None:
        await audit.append("turn", actor=actor, subject=turn.message.user_id, payload=audit_entry(turn))

    return record


@dataclass
class Tenant:
    name: str
    engine: Engine
    fallback: Engine | None
    audit: AuditLog
    fallback_audit: AuditLog | None

    def audit_of(self, engine: Engine) -> AuditLog:
        """The trail of the engine that ran an operation: the fallback's file while Redis is down."""
        if engine is self.fallback and self.fallback_audit is not None:
            return self.fallback_audit
        return self.audit

    async def erase_customer(self, user_id: str, *, actor: str) -> dict[str, int]:
        """Everything kept of one customer: conversations, transcripts, idempotency results (on
        Redis and in the fallback memory), audit payloads (tombstoned) and cached model answers."""
        counts = await self.engine.store.erase_user(user_id)
        if self.fallback is not None:
            for key, n in (await self.fallback.store.erase_user(user_id)).items():
                counts[key] = counts.get(key, 0) + n
        counts["audit_payloads"] = await self.audit.erase_payloads(user_id, actor=actor)
        fallback_audit = self.fallback_audit
        if fallback_audit is not None and (await fallback_audit.backend.snapshot()).head.seq:
            counts["audit_payloads"] += await fallback_audit.erase_payloads(user_id, actor=actor)
        counts["cached_answers"] = 0
        llm = self.engine.services.get("llm")
        cache = llm.router.cache if llm is not None else None
        if cache is not None:
            counts["cached_answers"] = await cache.erase_scope(self.name, CUSTOMER_SCOPE.format(user_id=user_id))
        return counts


class Tenants:
    """Each tenant's engine, made on first use from `base` (whose store serves the home tenant).
    Tenants come from API keys and webhook settings, which an admin creates: the registry stays small."""

    def __init__(self, base: Engine, settings: Settings) -> None:
        self.base = base
        self.settings = settings
        store = base.store
        self.home = store.tenant if isinstance(store, RedisStore) else check_tenant(settings.tenant)
        self._tenants: dict[str, Tenant] = {}

    def get(self, name: str) -> Tenant:
        tenant = self._tenants.get(name)
        if tenant is None:
            tenant = self._tenants[name] = self._make(check_tenant(name))
        return tenant

    def all(self) -> list[Tenant]:
        return list(self._tenants.values())

    def _audit(self, backend: AuditBackend, name: str) -> AuditLog:
        return AuditLog(backend, tenant=name, retention_days=self.settings.audit_retention_days)

    def _make(self, name: str) -> Tenant:
        base, settings = self.base, self.settings
        store = base.store if name == self.home else base.store.for_tenant(name)
        services = base.services if name == self.home else bind_services(base.services, name)
        audit_dir = Path(settings.audit_dir).expanduser()
        backend: AuditBackend
        if isinstance(store, RedisStore):
            backend = RedisAudit(store.client, name, timeout=store.command_timeout)
        else:
            backend = FileAudit(audit_dir / f"{name}.jsonl")
        audit = self._audit(backend, name)
        engine = Engine(base.rulesets, store, base.pm, base.default_ruleset, services, recorder(audit))
        fallback = fallback_audit = None
        if settings.degrade_to_memory and isinstance(store, RedisStore):
            memory = memory_store(settings)
            fallback_audit = self._audit(FileAudit(audit_dir / "degraded" / f"{name}.jsonl"), name)
            record = recorder(fallback_audit)
            fallback = Engine(base.rulesets, memory, base.pm, base.default_ruleset, services, record)
        return Tenant(name, engine, fallback, audit, fallback_audit)

    async def trim_audits(self) -> int:
        """Apply the retention period to the trails of every tenant seen so far (in batches: not bounded
        by the command timeout, and nothing waits on it)."""
        trails = [log for t in self.all() for log in (t.audit, t.fallback_audit) if log is not None]
        return sum([await log.trim() for log in trails])
