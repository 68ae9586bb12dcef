"""Infrastructure settings (environment prefix `FRONTDESK_`).

Business behaviour lives in rulesets and plugin options under the plugin's
name; only what an operator sets per deployment lives here.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
