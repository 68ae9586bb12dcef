"""What every HTTP model vendor adapter shares: the pooled client, error mapping, SSE.

httpx is the API; the aiohttp transport carries it, because httpx's default
transport is slow under concurrency (encode/httpx#3215, see DESIGN.md). One
client per configured vendor keeps a connection pool for the process. The
transport opens its aiohttp session on the first request, so a client belongs
to the event loop that first used it.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from frontdesk.errors import VendorError
from frontdesk.models_config import VendorConfig

RETRYABLE_STATUS = frozenset({408, 409, 429, 529}) | frozenset(range(500, 600))
# in-band stream error types worth another try (OpenAI and Anthropic names); any other is final
STREAM_ERRORS = {
    "server_error": "vendor_unavailable",
    "api_error": "vendor_unavailable",
    "overloaded_error": "vendor_unavailable",
    "rate_limit_error": "vendor_rate_limited",
    "rate_limit_exceeded": "vendor_rate_limited",
}


def build_http_client(vendor: VendorConfig) -> httpx.AsyncClient:
    """A pooled client for one vendor: its base URL, timeouts, connection limit and extra headers."""
    # the aiohttp transport reads only max_connections and keepalive_expiry from the limits
    limits = httpx.Limits(max_connections=vendor.max_connections, keepalive_expiry=30.0)
    return httpx.AsyncClient(
        base_url=vendor.base_url,
        transport=AiohttpTransport(limits=limits),
        # read = the longest silence accepted from the vendor, per chunk when streaming
        timeout=httpx.Timeout(vendor.timeout, connect=vendor.connect_timeout),
        headers=vendor.headers,
    )


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `Retry-After` as seconds or an HTTP date."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _scrub(text: str, secret: str) -> str:
    text = text.replace(secret, "[redacted]") if secret else text
    return text[:300]


def error_from_response(vendor: str, response: httpx.Response, body: bytes, secret: str) -> VendorError:
    """Map a non-2xx answer; the vendor's own message is kept (scrubbed of the key) except on auth errors."""
    status = response.status_code
    detail = ""
    try:
        err = json.loads(body).get("error")
        if isinstance(err, dict):
            detail = str(err.get("message") or err.get("type") or "")
        elif isinstance(err, str):
            detail = err
    except (ValueError, AttributeError):
        pass
    if status in (401, 403):
        code, detail = "vendor_auth", "check the vendor's api_key"
    elif status == 404:
        code = "vendor_not_found"
    elif status == 429:
        code = "vendor_rate_limited"
    elif status in RETRYABLE_STATUS:
        code = "vendor_unavailable"
    else:
        code = "vendor_bad_request"
    message = f"{vendor} answered HTTP {status}" + (f": {_scrub(detail, secret)}" if detail else "")
    return VendorError(
        message,
        code=code,
        retryable=status in RETRYABLE_STATUS,
        retry_after=parse_retry_after(response.headers),
    )


def _is_timeout(exc: httpx.TransportError) -> bool:
    # httpx-aiohttp 0.2.0 reports a refused connection as ConnectTimeout; the cause tells the truth
    cause = exc.__cause__
    return isinstance(exc, httpx.TimeoutException) and (
        isinstance(cause, TimeoutError) or not isinstance(cause, aiohttp.ClientError)
    )


def error_from_transport(vendor: str, exc: httpx.TransportError, *, streaming: bool = False) -> VendorError:
    if _is_timeout(exc):
        return VendorError(f"{vendor} timed out ({type(exc).__name__})", code="vendor_timeout", retryable=True)
    code = "vendor_stream_interrupted" if streaming else "vendor_connection"
    return VendorError(f"{vendor} connection failed ({type(exc).__name__})", code=code, retryable=True)


def error_in_stream(vendor: str, error: object) -> VendorError:
    """An error the vendor sent inside a 200 stream (`{"error": {"type": ...}}`, both wire formats)."""
    kind = str(error.get("type") or error.get("code") or "") if isinstance(error, dict) else ""
    code = STREAM_ERRORS.get(kind, "vendor_bad_request")
    return VendorError(
        f"{vendor} failed mid-stream ({kind or 'unknown error'})", code=code, retryable=code != "vendor_bad_request"
    )


def bad_response(vendor: str, what: str) -> VendorError:
    return VendorError(f"{vendor} sent a malformed answer: {what}", code="vendor_bad_response", retryable=False)


def parse_json(vendor: str, body: bytes | str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise bad_response(vendor, "body is not JSON") from exc
    if not isinstance(data, dict):
        raise bad_response(vendor, "body is not a JSON object")
    return data


async def iter_sse(response: httpx.Response) -> AsyncGenerator[tuple[str, str], None]:
    """Server-sent events as (event, data); `event` is "" when the server names none.

    An event cut off by the end of the body is dropped, as the SSE spec says, so
    a truncated stream shows up as a missing end marker, never as half a JSON."""
    event, data = "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


async def post_json(
    http: httpx.AsyncClient, url: str, payload: dict[str, Any], headers: Mapping[str, str], label: str, secret: str
) -> dict[str, Any]:
    try:
        response = await http.post(url, json=payload, headers=headers)
    except httpx.TransportError as exc:
        raise error_from_transport(label, exc) from exc
    if response.status_code >= 300:
        raise error_from_response(label, response, response.content, secret)
    return parse_json(label, response.content)


async def post_sse(
    http: httpx.AsyncClient, url: str, payload: dict[str, Any], headers: Mapping[str, str], label: str, secret: str
) -> AsyncGenerator[tuple[str, str], None]:
    """POST and iterate the answer's server-sent events, vendor errors mapped."""
    answered = False
    try:
        async with http.stream("POST", url, json=payload, headers=headers) as response:
            answered = True
            if response.status_code >= 300:
                raise error_from_response(label, response, await response.aread(), secret)
            async for item in iter_sse(response):
                yield item
    except httpx.TransportError as exc:
        raise error_from_transport(label, exc, streaming=answered) from exc
