"""Shared set-up for the LLM tests: the fixture ruleset, a models config on the mock vendor, engines."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from mock_vendor import MockVendor

from frontdesk.bootstrap import build_engine
from frontdesk.cost import MemoryCostTracker
from frontdesk.llm_cache import AnswerCache
from frontdesk.llm_router import LLMRouter, build_clients
from frontdesk.llm_service import LLMService
from frontdesk.models_config import ModelsConfig
from frontdesk.pipeline import Engine
from frontdesk.plugin_manager import Registry, build_plugin_manager, collect_registry
from frontdesk.types import Message

KEY = "sk-llm-test"
FIXTURE = Path(__file__).parent / "fixtures" / "llm"
PRICES = {"main": (0.002, 0.004), "small": (0.0005, 0.001)}  # per 1k tokens, input and output
MAIN_MODEL, SMALL_MODEL = "model-main", "model-small"


class Clock:
    """Real monotonic time plus an offset that `sleep` (and a test) advances instead of waiting."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.offset += seconds


@cache
def registry() -> Registry:
    return collect_registry(build_plugin_manager())


def models_config(mock: MockVendor, **sections: Any) -> ModelsConfig:
    """main (primary, long) and small (light) on the mock; `sections` replace or extend the file's sections."""
    routing = {"retry": {"max_attempts": 2, "base_delay": 0.01, "max_delay": 0.05}, **sections.pop("routing", {})}
    data: dict[str, Any] = {
        "vendors": {"mock": {"kind": "openai", "base_url": mock.openai_base_url, "api_key": KEY, "timeout": 5}},
        "models": {
            name: {
                "vendor": "mock",
                "model": model,
                "input_per_1k": str(PRICES[name][0]),
                "output_per_1k": str(PRICES[name][1]),
                "context_window": 16000,
            }
            for name, model in (("main", MAIN_MODEL), ("small", SMALL_MODEL))
        },
        "tiers": {"primary": ["main"], "light": ["small"], "long": ["main"]},
        "routing": routing,
        **sections,
    }
    return ModelsConfig.model_validate(data)


def service(
    mock: MockVendor,
    *,
    clock: Clock | None = None,
    cache: bool = True,
    tenant: str = "acme",
    **sections: Any,
) -> LLMService:
    config = models_config(mock, **sections)
    clock = clock or Clock()
    router = LLMRouter(
        config,
        build_clients(config, registry().models),
        cache=AnswerCache() if cache else None,
        costs=MemoryCostTracker(config.budgets),
        clock=clock,
        sleep=clock.sleep,
    )
    return LLMService(router, tenant=tenant, clock=clock)


def write_ruleset(folder: Path, **llm: Any) -> Path:
    """The fixture ruleset with `llm:` keys replaced (JSON is YAML: values are written as JSON)."""
    text = (FIXTURE / "ruleset.yaml").read_text(encoding="utf-8")
    lines = text.splitlines()
    start = lines.index("llm:")
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
    section = {}
    for line in lines[start + 1 : end]:
        key, _, value = line.strip().partition(": ")
        section[key] = value
    section.update({k: json.dumps(v) for k, v in llm.items()})
    body = ["llm:", *(f"  {k}: {v}" for k, v in section.items())]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ruleset.yaml").write_text("\n".join([*lines[:start], *body, *lines[end:]]) + "\n", encoding="utf-8")
    return folder


def engine(llm_service: LLMService | None, ruleset: Path = FIXTURE) -> Engine:
    return build_engine([ruleset], services={} if llm_service is None else {"llm": llm_service})


async def say(eng: Engine, text: str, conversation: str = "c", **kw: Any) -> dict[str, Any]:
    return await eng.handle(Message(text, conversation_id=conversation, **kw))


def model_calls(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return [(c["model"], c["outcome"], c["error"]) for c in result["explain"]["model_calls"]]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockVendor]:
    """The mock vendor of a test module, keyed with KEY (shared through tests/conftest.py)."""
    with MockVendor(api_key=KEY) as vendor:
        yield vendor


@pytest.fixture
async def llm(mock: MockVendor) -> AsyncIterator[LLMService]:
    """A model service on the module's mock vendor, with the vendor's script and counts reset."""
    mock.reset()
    svc = service(mock)
    yield svc
    await svc.aclose()
