"""What every HTTP model vendor adapter shares: the pooled connections, error mapping, SSE.

httpx's request and response types are the API; the aiohttp transport carries
them, because httpx's default transport is slow under concurrency
(encode/httpx#3215, see DESIGN.md). Requests go straight to the transport: the
`httpx.AsyncClient` around it spends more per call (URL merging, the cookie
jar, auth and redirect flows) than the rest of a model call's bookkeeping
together, and none of it applies to a vendor API, which takes its key in a
header, never redirects and keeps no cookies. One `VendorHTTP` per configured
vendor keeps a connection pool for the process; the transport opens its aiohttp
session on the first request, so it belongs to the event loop that first used it.
"""

from __future__ import annotations

import email.utils
import time
import urllib.request
from collections.abc import AsyncGenerator, Mapping
from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport

from frontdesk import json_codec
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
# what httpx.AsyncClient would send, so vendors and their gateways see the same requests
DEFAULT_HEADERS = {
    "accept": "*/*",
    "accept-encoding": "gzip, deflate",
    "user-agent": f"python-httpx/{httpx.__version__}",
    "content-type": "application/json",
}


def environment_proxy(base_url: str) -> httpx.Proxy | None:
    """The proxy the environment names for this URL (`HTTPS_PROXY`, `ALL_PROXY`…, unless `NO_PROXY` covers the
    host), as httpx.AsyncClient would use it."""
    url = httpx.URL(base_url)
    if urllib.request.proxy_bypass(url.host):
        return None
    proxies = urllib.request.getproxies()
    found = proxies.get(url.scheme) or proxies.get("all")
    return httpx.Proxy(found) if found else None


class VendorHTTP:
    """One vendor's connection pool, with the headers, timeouts and key its adapter sends with every request."""

    def __init__(self, vendor: VendorConfig, headers: Mapping[str, str], label: str) -> None:
        # the aiohttp transport reads only max_connections and keepalive_expiry from the limits
        limits = httpx.Limits(max_connections=vendor.max_connections, keepalive_expiry=30.0)
        self._transport = AiohttpTransport(limits=limits, proxy=environment_proxy(vendor.base_url))
        self._base = vendor.base_url.rstrip("/") + "/"
        self._headers = httpx.Headers({**DEFAULT_HEADERS, **vendor.headers, **headers})  # copied per request
        # read = the longest silence accepted from the vendor, per chunk when streaming
        self._extensions = {"timeout": httpx.Timeout(vendor.timeout, connect=vendor.connect_timeout).as_dict()}
        self.secret = vendor.api_key.get_secret_value()
        self.label = label

    def url(self, path: str) -> httpx.URL:
        """`path` under the base URL, as httpx.AsyncClient(base_url=...) would join them."""
        return httpx.URL(self._base + path.lstrip("/"))

    async def send(self, url: httpx.URL, payload: dict[str, Any]) -> httpx.Response:
        """POST `payload` as JSON; the response's body is still to be read (and the response closed)."""
        # a request of the transport API (`stream=`): httpx adds no headers of its own (aiohttp writes Host and
        # Content-Length) and so neither re-reads nor rebuilds ours
        body = httpx.ByteStream(json_codec.dumps(payload))
        request = httpx.Request("POST", url, headers=self._headers, stream=body, extensions=self._extensions)
        request.read()  # the transport sends the bytes it finds there
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


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
        err = json_codec.loads(body).get("error")
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
        data = json_codec.loads(body)
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


async def post_json(http: VendorHTTP, url: httpx.URL, payload: dict[str, Any]) -> dict[str, Any]:
    try:
        response = await http.send(url, payload)
        try:
            body = await response.aread()
        finally:
            await response.aclose()
    except httpx.TransportError as exc:
        raise error_from_transport(http.label, exc) from exc
    if response.status_code >= 300:
        raise error_from_response(http.label, response, body, http.secret)
    return parse_json(http.label, body)


async def post_sse(http: VendorHTTP, url: httpx.URL, payload: dict[str, Any]) -> AsyncGenerator[tuple[str, str], None]:
    """POST and iterate the answer's server-sent events, vendor errors mapped."""
    answered = False
    try:
        response = await http.send(url, payload)
        answered = True
        try:
            if response.status_code >= 300:
                raise error_from_response(http.label, response, await response.aread(), http.secret)
            async for item in iter_sse(response):
                yield item
        finally:
            await response.aclose()
    except httpx.TransportError as exc:
        raise error_from_transport(http.label, exc, streaming=answered) from exc
