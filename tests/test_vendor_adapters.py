"""The OpenAI-compatible and Anthropic adapters against a real HTTP server speaking their wire formats."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pluggy
import pytest
from mock_vendor import Fault, MockVendor

import frontdesk.adapters.anthropic as anthropic_adapter
import frontdesk.adapters.openai_compat as openai_adapter
from frontdesk import hookspecs
from frontdesk.adapters.http_client import parse_retry_after
from frontdesk.errors import VendorError
from frontdesk.llm_types import ChatClient, ChatRequest, StreamDelta
from frontdesk.models_config import VendorConfig

pytestmark = pytest.mark.anyio

KEY = "sk-test-0123456789"
KINDS = ["openai", "anthropic"]
REQ = ChatRequest.of("where is my order", system="You are a shop assistant.", model="m-1")
ANSWER = "echo: where is my order"
INPUT_TOKENS = len("You are a shop assistant.") + len("where is my order")  # the mock counts characters


@pytest.fixture(scope="module")
def mock() -> Iterator[MockVendor]:
    with MockVendor(api_key=KEY) as mv:
        yield mv


@pytest.fixture(autouse=True)
def _clean(mock: MockVendor) -> None:
    mock.reset()


def factories() -> dict[str, Any]:
    """Collect `register_models` exactly as the core does: a plugin manager calling the hook."""
    pm = pluggy.PluginManager("frontdesk")
    pm.add_hookspecs(hookspecs)
    pm.register(openai_adapter)
    pm.register(anthropic_adapter)
    found: dict[str, Any] = {}
    pm.hook.register_models(register=found.__setitem__)
    return found


def vendor(mock: MockVendor, kind: str, **kw: Any) -> VendorConfig:
    base = mock.openai_base_url if kind == "openai" else mock.anthropic_base_url
    return VendorConfig(kind=kind, base_url=base, api_key=kw.pop("api_key", KEY), timeout=kw.pop("timeout", 5.0), **kw)


@pytest.fixture
async def client_for(mock: MockVendor) -> AsyncIterator[Any]:
    made: list[ChatClient] = []

    def make(kind: str, **kw: Any) -> ChatClient:
        client = factories()[kind](vendor(mock, kind, **kw))
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def collect(stream: AsyncIterator[StreamDelta]) -> list[StreamDelta]:
    return [d async for d in stream]


def test_plugins_register_both_kinds() -> None:
    assert factories() == {"openai": openai_adapter.OpenAICompatClient, "anthropic": anthropic_adapter.AnthropicClient}


@pytest.mark.parametrize("kind", KINDS)
async def test_complete_speaks_the_wire_format(kind: str, mock: MockVendor, client_for: Any) -> None:
    resp = await client_for(kind).complete(REQ)
    assert resp.text == ANSWER
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (INPUT_TOKENS, len(ANSWER))
    assert not resp.usage.estimated
    assert resp.model == "m-1"
    assert resp.finish_reason == ("stop" if kind == "openai" else "end_turn")
    (sent,) = mock.requests
    assert sent.api == kind and not sent.stream
    if kind == "openai":
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert sent.body["messages"][0] == {"role": "system", "content": "You are a shop assistant."}
    else:
        assert sent.headers["x-api-key"] == KEY
        assert sent.headers["anthropic-version"] == anthropic_adapter.API_VERSION
        assert sent.body["system"] == "You are a shop assistant."
        assert sent.body["messages"] == [{"role": "user", "content": "where is my order"}]
        assert sent.body["max_tokens"] == anthropic_adapter.DEFAULT_MAX_TOKENS


@pytest.mark.parametrize("kind", KINDS)
async def test_stream_speaks_the_wire_format(kind: str, mock: MockVendor, client_for: Any) -> None:
    deltas = await collect(client_for(kind).stream(REQ))
    *pieces, final = deltas
    assert len(pieces) > 1 and all(d.usage is None for d in pieces)
    assert "".join(d.text for d in pieces) == ANSWER
    assert final.text == ""
    assert final.usage is not None and not final.usage.estimated
    assert (final.usage.input_tokens, final.usage.output_tokens) == (INPUT_TOKENS, len(ANSWER))
    assert final.finish_reason == ("stop" if kind == "openai" else "end_turn")
    (sent,) = mock.requests
    assert sent.stream
    if kind == "openai":
        assert sent.body["stream_options"] == {"include_usage": True}


async def test_openai_options_and_json_mode(mock: MockVendor, client_for: Any) -> None:
    req = ChatRequest.of("answer in JSON", model="m-1", json_mode=True, max_tokens=50, temperature=0.2, stop=("##",))
    resp = await client_for("openai").complete(req)
    assert json.loads(resp.text) == {"echo": "answer in JSON"}
    body = mock.requests[0].body
    assert body["response_format"] == {"type": "json_object"}
    assert (body["max_tokens"], body["temperature"], body["stop"]) == (50, 0.2, ["##"])


async def test_anthropic_json_mode_asks_in_the_system_prompt(mock: MockVendor, client_for: Any) -> None:
    req = ChatRequest.of("answer", model="m-1", json_mode=True, max_tokens=50, stop=("##",))
    await client_for("anthropic").complete(req)
    body = mock.requests[0].body
    assert body["system"] == anthropic_adapter.JSON_INSTRUCTION
    assert (body["max_tokens"], body["stop_sequences"]) == (50, ["##"])


async def test_openai_stream_without_usage_is_estimated(mock: MockVendor, client_for: Any) -> None:
    final = (await collect(client_for("openai", stream_usage=False).stream(REQ)))[-1]
    assert "stream_options" not in mock.requests[0].body
    assert final.usage is not None and final.usage.estimated
    assert final.usage.input_tokens >= INPUT_TOKENS // 3 and final.usage.output_tokens > 0


# (fault, error code, retryable, retry_after) for both kinds, plain and streamed
FAULTS = [
    (Fault.error(429, retry_after="7"), "vendor_rate_limited", True, 7.0),
    (Fault.error(500), "vendor_unavailable", True, None),
    (Fault.error(503, retry_after="2"), "vendor_unavailable", True, 2.0),
    (Fault.error(529), "vendor_unavailable", True, None),
    (Fault.error(400), "vendor_bad_request", False, None),
    (Fault.error(403), "vendor_auth", False, None),
    (Fault.error(404), "vendor_not_found", False, None),
    (Fault.hanging(), "vendor_timeout", True, None),
    (Fault.bad_json(), "vendor_bad_response", False, None),
]
STREAM_FAULTS = [
    (Fault.truncated(after=1), "vendor_stream_interrupted", True),
    (Fault.aborted(after=1), "vendor_stream_interrupted", True),
    (Fault.slow_stream(5.0), "vendor_timeout", True),  # silence longer than the vendor timeout
    (Fault(stream_error="overloaded_error"), "vendor_unavailable", True),
    (Fault(stream_error="invalid_request_error"), "vendor_bad_request", False),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(("fault", "code", "retryable", "retry_after"), FAULTS, ids=lambda v: str(v)[:40])
async def test_faults_map_to_vendor_errors(
    kind: str,
    streaming: bool,
    fault: Fault,
    code: str,
    retryable: bool,
    retry_after: float | None,
    mock: MockVendor,
    client_for: Any,
) -> None:
    mock.script(fault)
    client = client_for(kind, timeout=0.5 if fault.hang else 5.0)
    with pytest.raises(VendorError) as info:
        await (collect(client.stream(REQ)) if streaming else client.complete(REQ))
    assert (info.value.code, info.value.retryable, info.value.retry_after) == (code, retryable, retry_after)
    assert mock.count() == 1


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("fault", "code", "retryable"), STREAM_FAULTS, ids=lambda v: str(v)[:40])
async def test_stream_faults_after_text_map_to_vendor_errors(
    kind: str, fault: Fault, code: str, retryable: bool, mock: MockVendor, client_for: Any
) -> None:
    mock.script(fault)
    got: list[StreamDelta] = []
    with pytest.raises(VendorError) as info:
        async for delta in client_for(kind, timeout=0.5 if fault.chunk_delay else 5.0).stream(REQ):
            got.append(delta)
    assert (info.value.code, info.value.retryable) == (code, retryable)
    assert all(d.usage is None for d in got)  # never a final item for a broken stream
    if fault.chunk_delay == 0:
        assert "".join(d.text for d in got) == ANSWER[:4]


@pytest.mark.parametrize("kind", KINDS)
async def test_wrong_key_is_an_auth_error_and_never_echoed(kind: str, mock: MockVendor, client_for: Any) -> None:
    with pytest.raises(VendorError) as info:
        await client_for(kind, api_key="sk-wrong-secret").complete(REQ)
    assert (info.value.code, info.value.retryable) == ("vendor_auth", False)
    assert "sk-wrong-secret" not in str(info.value)


@pytest.mark.parametrize("kind", KINDS)
async def test_vendor_messages_are_scrubbed_of_the_key(kind: str, mock: MockVendor, client_for: Any) -> None:
    mock.script(Fault(status=500, text=f"upstream rejected key {KEY} for model"))
    with pytest.raises(VendorError) as info:
        await client_for(kind).complete(REQ)
    assert KEY not in str(info.value)
    assert "[redacted]" in info.value.message


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streaming", [False, True], ids=["complete", "stream"])
async def test_connection_refused_is_retryable(kind: str, streaming: bool) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed when the block ends: nobody listens there
    base = f"http://127.0.0.1:{port}" + ("/v1" if kind == "openai" else "")
    client = factories()[kind](VendorConfig(kind=kind, base_url=base, api_key=KEY, connect_timeout=1))
    try:
        with pytest.raises(VendorError) as info:
            await (collect(client.stream(REQ)) if streaming else client.complete(REQ))
    finally:
        await client.aclose()
    assert (info.value.code, info.value.retryable) == ("vendor_connection", True)


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5
    assert parse_retry_after({"retry-after": "Tue, 14 Nov 2023 22:13:50 GMT"}, now=now) == 30.0
    assert parse_retry_after({"retry-after": "Tue, 14 Nov 2023 22:00:00 GMT"}, now=now) == 0.0  # in the past
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


@pytest.mark.parametrize("kind", KINDS)
async def test_the_environments_proxy_carries_vendor_calls(
    kind: str, mock: MockVendor, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the mock answers as the proxy: a vendor host nobody resolves is reached through it
    monkeypatch.setenv("HTTP_PROXY", mock.base_url)
    monkeypatch.setenv("NO_PROXY", "elsewhere.invalid")
    base = "http://vendor.invalid" + ("/v1" if kind == "openai" else "")
    client = factories()[kind](VendorConfig(kind=kind, base_url=base, api_key=KEY, timeout=5.0))
    try:
        assert (await client.complete(REQ)).text == ANSWER
    finally:
        await client.aclose()
    monkeypatch.setenv("NO_PROXY", "vendor.invalid")  # the host is excluded: no proxy, and no such host
    client = factories()[kind](VendorConfig(kind=kind, base_url=base, api_key=KEY, timeout=5.0, connect_timeout=1))
    try:
        with pytest.raises(VendorError) as info:
            await client.complete(REQ)
    finally:
        await client.aclose()
    assert info.value.code == "vendor_connection" and mock.count() == 1
