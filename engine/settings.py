"""Infrastructure settings (environment prefix `FRONTDESK_`).

Business behaviour lives in rulesets and plugin options under the plugin's
name; only what an operator sets per deployment lives here.
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*/\s*(s|min|h|day)(?:\s+burst\s+(\d+(?:\.\d+)?))?\s*")
_SECONDS = {"s": 1, "min": 60, "h": 3600, "day": 86400}


def parse_rate(text: str) -> tuple[float, float]:
    """`"100/s"`, `"600/min burst 50"` -> (capacity, tokens per second); the burst defaults to the count."""
    match = _RATE.fullmatch(text)
    if match is None or float(match[1]) <= 0 or (match[3] is not None and float(match[3]) <= 0):
        raise ValueError(f"{text!r} is not a rate: write N/s, N/min, N/h or N/day, optionally followed by burst B")
    count = float(match[1])
    return float(match[3] or count), count / _SECONDS[match[2]]


class WebhookChannel(BaseModel):
    """Who may post to /v1/webhooks/<channel>: anyone signing with one of `secrets`, for `tenant`."""

    secrets: list[SecretStr] = Field(min_length=1)  # several while a secret is rotated
    tenant: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # default FRONTDESK_TENANT


def _default_rulesets_dir() -> Path:
    """The sample rulesets: beside the package in a checkout, package data when installed."""
    import frontdesk.rulesets

    return Path(frontdesk.rulesets.__file__).resolve().parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", extra="ignore")

    rulesets_dir: Path = Field(default_factory=_default_rulesets_dir)
    default_ruleset: str | None = None  # name of the ruleset used when a request names none
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "frontdesk")
    redis_url: SecretStr | None = None
    history_window: int = 10  # turns kept per conversation (a ruleset may set its own)

    # -- the HTTP service (`frontdesk serve`)
    rulesets: list[Path] = Field(default_factory=list)  # ruleset folders to serve; empty = rulesets_dir
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    max_body_bytes: int = Field(64 * 1024, ge=1)  # refused with 413 while reading, before parsing
    max_in_flight: int = Field(256, ge=1)  # turns at once per worker; past it 429 rather than an unbounded queue
    access_log: bool = False

    # -- the conversation store in Redis (when redis_url is set)
    redis_mode: Literal["standalone", "cluster", "sentinel"] | None = None  # None: from the URL scheme
    tenant: str = "default"  # key prefix: deployments sharing one Redis stay apart
    state_ttl: float = Field(30 * 86400, gt=0)  # seconds a conversation's state outlives its last turn
    transcript_ttl: float = Field(30 * 86400, gt=0)
    transcript_limit: int = Field(1000, ge=1)  # entries kept per conversation
    result_ttl: float = Field(86400, gt=0)  # how long a message_id is remembered (idempotency)
    lock_ttl: float = Field(30.0, gt=0)  # a crashed worker's turn frees the conversation after this
    acquire_timeout: float = Field(10.0, gt=0)  # waiting for a busy conversation; then 409 conversation_busy
    degrade_to_memory: bool = False  # Redis down: serve turns from process memory instead of 503

    # -- model vendors: a quick start with one OpenAI-compatible endpoint, or a models file (not both)
    llm_base_url: str | None = None  # e.g. https://api.deepseek.com/v1, http://127.0.0.1:11434/v1 (Ollama)
    llm_api_key: SecretStr | None = None
    llm_model: str | None = None
    llm_context_window: int = Field(128_000, ge=1)
    llm_input_per_1k: Decimal = Decimal(0)  # quick start prices per 1k tokens, so budgets can count
    llm_output_per_1k: Decimal = Decimal(0)
    models_file: Path | None = None  # vendors, models, prices, tiers, routing, degradation, budgets
    llm_daily_budget: Decimal | None = None  # per tenant and UTC day, when the models file sets no budget
    llm_cache_ttl: float = Field(3600.0, gt=0)  # seconds an LLM answer is served from the cache
    llm_cache_entries: int = Field(10_000, ge=1)  # in-process LRU size (Redis, when set, holds the rest)

    # -- security: API keys and the audit trail (in Redis when redis_url is set, else in these files)
    keys_file: Path = Field(default_factory=lambda: Path.home() / ".config" / "frontdesk" / "keys.json")
    key_pepper: SecretStr | None = None  # HMAC key for stored key digests; keep it outside the key store
    audit_dir: Path = Field(default_factory=lambda: Path.home() / ".local" / "share" / "frontdesk" / "audit")
    audit_retention_days: float = Field(180, gt=0)  # older records are trimmed (the server hourly, or `audit trim`)

    # -- access to the HTTP API (README "Security")
    auth: Literal["off", "keys"] = "off"  # keys: every /v1 request needs `Authorization: Bearer <key>`
    webhook_secrets: dict[str, WebhookChannel] = Field(default_factory=dict)  # channel -> signers
    webhook_tolerance: float = Field(300.0, gt=0)  # seconds a signed timestamp may differ from now
    rate_tenant: str | None = None  # token bucket per tenant, e.g. "200/s burst 400"; unset: none
    rate_user: str | None = None  # per user_id, e.g. "1/s burst 5"
    rate_ip: str | None = None  # per client address (uvicorn resolves X-Forwarded-For from FORWARDED_ALLOW_IPS)
    rate_tiers: dict[str, float] = Field(default_factory=dict)  # customer.level -> multiplier, e.g. {"VIP": 2}
    rate_reserve: float = Field(0.0, ge=0, lt=1)  # share of the tenant bucket only higher tiers may use

    @field_validator("rate_tenant", "rate_user", "rate_ip")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        if value is not None:
            parse_rate(value)
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
