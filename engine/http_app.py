"""The HTTP service: the endpoint channels post messages to, signed webhooks,
conversations, erasure, health and the OpenAPI document (routes and models:
http_schema.py).

    TraceMiddleware     trace id per request (W3C traceparent or new), X-Trace-Id
                        on every response, and the catch-all: an unexpected
                        exception becomes 500 internal_error, traceback in the log
    FrontdeskApi        the endpoints: each /v1 request is authenticated and
                        rate-limited (access.py), then runs on its tenant's engine
                        (tenancy.py); with degrade_to_memory, a second engine on
                        process memory takes the turns Redis cannot
                        (`explain.degradations` says "store:memory")

Workers keep nothing between requests that another worker would need: with
Redis configured, any worker can take any turn.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import math
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from frontdesk import json_codec
from frontdesk.access import Access, Caller
from frontdesk.bootstrap import build_engine
from frontdesk.errors import (
    FrontdeskError,
    InputError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from frontdesk.http_schema import MessageRequest, openapi_document
from frontdesk.http_stream import sse_events
from frontdesk.llm_service import close_services, stream_turn
from frontdesk.pipeline import Engine
from frontdesk.settings import Settings
from frontdesk.store import ConversationStore, MemoryStore, memory_store
from frontdesk.store_redis import ANONYMOUS, RedisStore
from frontdesk.tenancy import Tenant, Tenants
from frontdesk.types import ConversationState, Message

log = logging.getLogger("frontdesk.http")

TRACE_KEY = "frontdesk.trace_id"  # where the middleware leaves the trace id in the ASGI scope
DEGRADED_STORE = "store:memory"
_TRACEPARENT = re.compile(rb"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
_EXPLAIN = {"0": False, "false": False, "1": True, "true": True}
_SIGNATURE_CODES = {"signature_invalid", "signature_expired", "replay_detected"}
AUDIT_TRIM_EVERY = 3600.0  # seconds between retention passes over the audit trails
T = TypeVar("T")


class IdConvertor(Convertor[str]):
    """A conversation or user id in a path: any characters, slashes and line breaks included (the
    `path` convertor's `.*` stops at a line break, and an id the API accepted must be erasable)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", IdConvertor())


def trace_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The trace id of a valid W3C `traceparent` header, else a new random one."""
    for name, value in headers:
        if name == b"traceparent":
            match = _TRACEPARENT.fullmatch(value.strip().lower())
            if match and match[1] != b"0" * 32:
                return match[1].decode()
            break
    return os.urandom(16).hex()


class JSONResponse(Response):
    """Starlette's JSONResponse encoded with orjson (json_codec): the same body, a fraction of the CPU."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json_codec.dumps(content)


def error_response(exc: FrontdeskError) -> JSONResponse:
    headers = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))  # sooner would be refused again
    elif exc.status == 401:  # the challenge RFC 9110 requires: which credentials would do
        headers["WWW-Authenticate"] = "Frontdesk-Signature" if exc.code in _SIGNATURE_CODES else "Bearer"
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)


class TraceMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace_id = scope[TRACE_KEY] = trace_id_from(scope["headers"])
        header = (b"x-trace-id", trace_id.encode())
        started = False

        async def send_traced(message: AsgiMessage) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            await self.app(scope, receive, send_traced)
        except Exception:
            log.exception("unhandled error in %s %s, trace %s", scope["method"], scope["path"], trace_id)
            if started:
                raise  # too late for an error body: the server drops the connection
            exc = FrontdeskError("an internal error occurred and was logged", hint=f"report trace id {trace_id}")
            await error_response(exc)(scope, receive, send_traced)


async def _frontdesk_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FrontdeskError)
    if exc.status >= 500:
        log.error("%s on %s %s, trace %s", exc, request.method, request.url.path, request.scope.get(TRACE_KEY))
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        err = FrontdeskError(f"{request.method} is not allowed on {request.url.path}", hint=f"allowed: {allowed}")
        err.code = "method_not_allowed"
    else:
        err = NotFound(f"no endpoint {request.method} {request.url.path}", hint="see /openapi.json")
    return JSONResponse(err.to_dict(), status_code=exc.status_code, headers=exc.headers)


async def read_body(request: Request, limit: int) -> bytes:
    """The JSON body, refused with 415 unless sent as JSON and 413 as soon as it passes `limit` bytes."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise UnsupportedMediaType(
            f"the body is sent as {media_type or 'nothing'!r}",
            hint="send JSON with Content-Type: application/json",
        )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the body is larger than {limit} bytes",
        hint="raise FRONTDESK_MAX_BODY_BYTES if messages this large are expected",
    )


def _invalid(exc: ValidationError) -> InvalidRequest:
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in exc.errors(include_url=False, include_input=False)
    ]
    return InvalidRequest("; ".join(problems[:5]), hint="see the request schema in /openapi.json")


def parse_body(model: type[BaseModel], body: bytes) -> Any:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if all(e["type"] != "json_invalid" for e in exc.errors()):
            raise _invalid(exc) from None
    # pydantic refuses lone surrogates (\ud83d), which channels that cut strings
    # do send: the stdlib parser takes them and they become "?" like in the
    # pipeline; it also words real JSON errors better
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InputError(f"the body is not valid JSON: {exc}", code="invalid_json", hint="check the quoting") from None
    try:
        return model.model_validate_json(json.dumps(data, ensure_ascii=False).encode("utf-8", "replace"))
    except ValidationError as exc:
        raise _invalid(exc) from None


def store_from_settings(settings: Settings) -> ConversationStore:
    if settings.redis_url is None:
        return memory_store(settings)
    return RedisStore.from_url(
        settings.redis_url.get_secret_value(),
        mode=settings.redis_mode,
        tenant=settings.tenant,
        state_ttl=settings.state_ttl,
        transcript_ttl=settings.transcript_ttl,
        transcript_limit=settings.transcript_limit,
        result_ttl=settings.result_ttl,
        lock_ttl=settings.lock_ttl,
        acquire_timeout=settings.acquire_timeout,
    )


def engine_from_settings(settings: Settings) -> Engine:
    return build_engine(
        settings.rulesets or [settings.rulesets_dir],
        store=store_from_settings(settings),
        default_ruleset=settings.default_ruleset,
        settings=settings,
    )


class FrontdeskApi:
    """The endpoints; `engine` is set at creation or, when built from settings, at start-up."""

    def __init__(self, settings: Settings, engine: Engine | None) -> None:
        self.settings = settings
        self.engine: Engine | None = None
        self.tenants: Tenants | None = None
        self.access: Access | None = None
        self.in_flight = 0
        self.openapi = json.dumps(openapi_document(), ensure_ascii=False).encode()
        if engine is not None:
            self.attach(engine)

    def attach(self, engine: Engine) -> None:
        """Security runs on the store's Redis client when it has one (shared by every worker)."""
        store = engine.store
        redis, timeout = (store.client, store.command_timeout) if isinstance(store, RedisStore) else (None, None)
        self.access = Access(self.settings, redis, timeout=timeout)
        self.tenants = Tenants(engine, self.settings)
        self.engine = engine

    def _ready(self) -> tuple[Access, Tenants]:
        if self.access is None or self.tenants is None:
            raise ServiceUnavailable("the service is starting", code="service_unavailable", hint="retry shortly")
        return self.access, self.tenants

    async def _tenant(self, request: Request, scope: str) -> tuple[Caller, Tenant]:
        """Authenticate for `scope`, rate-limit by tenant and address, and find the caller's tenant."""
        access, tenants = self._ready()
        caller = await access.caller(request, scope)
        await access.limit(caller.tenant, user=None, ip=_client_ip(request), tier=None)
        return caller, tenants.get(caller.tenant)

    async def _run(self, tenant: Tenant, op: Callable[[Engine], Awaitable[T]]) -> tuple[T, bool]:
        """Run on the tenant's store; on a Redis outage, on process memory when allowed. -> (result, degraded)"""
        try:
            return await op(tenant.engine), False
        except ServiceUnavailable as exc:
            if tenant.fallback is None or exc.code != "redis_unavailable":
                raise
            log.warning("serving from process memory: %s", exc.message)
            return await op(tenant.fallback), True

    async def post_message(self, request: Request) -> Response:
        access, _ = self._ready()
        caller = await access.caller(request, "messages")
        req: MessageRequest = parse_body(MessageRequest, await read_body(request, self.settings.max_body_bytes))
        return await self._turn(request, caller, req, req.channel)

    async def post_webhook(self, request: Request) -> Response:
        """A channel's signed delivery: the same body as /v1/messages, the channel from the path."""
        access, _ = self._ready()
        channel = request.path_params["channel"]
        body = await read_body(request, self.settings.max_body_bytes)
        caller = await access.webhook_caller(channel, request.headers, body)
        return await self._turn(request, caller, parse_body(MessageRequest, body), channel)

    async def _turn(self, request: Request, caller: Caller, req: MessageRequest, channel: str) -> Response:
        access, tenants = self._ready()
        query = request.query_params if request.scope["query_string"] else {}  # parsing costs ~1%
        explain = _EXPLAIN.get(query.get("explain", "0").lower())
        if explain is None:
            raise InvalidRequest("explain: use 0, 1, false or true", hint="?explain=1 adds the decision trace")
        if self.in_flight >= self.settings.max_in_flight:
            raise RateLimited(
                f"this worker is running {self.in_flight} turns already",
                code="overloaded",
                retry_after=1,
                hint="retry shortly, or add workers (FRONTDESK_MAX_IN_FLIGHT caps turns per worker)",
            )
        message = Message(
            req.text,
            conversation_id=req.conversation_id,
            user_id=req.user_id,
            channel=channel,
            message_id=req.message_id,
            customer=req.customer,
            metadata=req.metadata,
            trace_id=request.scope[TRACE_KEY],
        )
        tenant = tenants.get(caller.tenant)
        level = req.customer.get("level")
        stream = _EXPLAIN.get(query.get("stream", "0").lower())
        if stream is None:
            raise InvalidRequest("stream: use 0, 1, false or true", hint="?stream=1 answers with Server-Sent Events")
        if stream:
            await access.limit(
                caller.tenant,
                user=None if req.user_id == ANONYMOUS else req.user_id,
                ip=_client_ip(request),
                tier=level if isinstance(level, str) else None,
            )
            events = self._stream(tenant, message, req.ruleset, caller.actor)
            return StreamingResponse(self._counted(sse_events(events, explain)), media_type="text/event-stream")
        self.in_flight += 1
        try:
            await access.limit(
                caller.tenant,
                user=None if req.user_id == ANONYMOUS else req.user_id,  # anonymous users share no bucket
                ip=_client_ip(request),
                tier=level if isinstance(level, str) else None,
            )
            result, degraded = await self._run(
                tenant, lambda engine: engine.handle(message, req.ruleset, actor=caller.actor)
            )
        finally:
            self.in_flight -= 1
        if degraded:
            result = _on_memory(result)
        body = {k: v for k, v in result.items() if k != "explain"}
        if explain:
            body["explain"] = result["explain"]
        return JSONResponse(body)

    async def _stream(
        self, tenant: Tenant, message: Message, ruleset: str | None, actor: str
    ) -> AsyncIterator[tuple[str, Any]]:
        """A streamed turn; on a Redis outage it runs again on process memory when allowed, like `_run`.
        Deltas already sent are not sent twice: the result's reply is authoritative either way."""
        sent = False
        try:
            async for kind, value in stream_turn(tenant.engine, message, ruleset, actor=actor):
                sent = sent or kind == "delta"
                yield kind, value
            return
        except ServiceUnavailable as exc:
            if tenant.fallback is None or exc.code != "redis_unavailable":
                raise
            log.warning("streaming from process memory: %s", exc.message)
        async for kind, value in stream_turn(tenant.fallback, message, ruleset, actor=actor):
            if kind == "result":
                yield kind, _on_memory(value)
            elif not sent:
                yield kind, value

    async def _counted(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """A streamed turn counts against max_in_flight until its last event is sent."""
        self.in_flight += 1
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            self.in_flight -= 1

    async def get_conversation(self, request: Request) -> Response:
        _, tenant = await self._tenant(request, "analyst")
        cid = request.path_params["conversation_id"]

        async def read(engine: Engine) -> tuple[ConversationState | None, list[dict[str, Any]]]:
            return await engine.store.load(cid), await engine.store.transcript(cid)

        (state, transcript), _ = await self._run(tenant, read)
        if state is None and not transcript:
            raise _unknown(cid)
        return JSONResponse(
            {"conversation_id": cid, "state": state.to_dict() if state else None, "transcript": transcript}
        )

    async def close_conversation(self, request: Request) -> Response:
        caller, tenant = await self._tenant(request, "admin")
        cid = request.path_params["conversation_id"]

        async def close(engine: Engine) -> ConversationState:
            async with engine.store.lock(cid) as fence:
                state = await engine.store.load(cid)
                if state is None:
                    raise _unknown(cid)
                state.status = "closed"
                state.updated_at = time.time()
                await engine.store.save(state, fence=fence)
                audit = tenant.audit_of(engine)
                payload = {"action": "conversations.close", "conversation_id": cid}
                await audit.append("admin", actor=caller.actor, subject=state.user_id, payload=payload)
                return state

        state, _ = await self._run(tenant, close)
        return JSONResponse({"conversation_id": cid, "status": state.status, "turn": state.turn})

    async def erase_customer(self, request: Request) -> Response:
        """Erase from every store this worker writes to; no fallback: erasure must reach Redis."""
        caller, tenant = await self._tenant(request, "admin")
        user_id = request.path_params["user_id"]
        counts = await tenant.erase_customer(user_id, actor=caller.actor)
        return JSONResponse({"user_id": user_id, "erased": counts})

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(self, request: Request) -> Response:
        engine = self.engine
        if engine is None:
            body = {"ready": False, "rulesets": [], "store": "memory", "redis": None, "degraded": False}
            return JSONResponse(body, status_code=503)
        on_redis = not isinstance(engine.store, MemoryStore)
        redis_ok = await engine.store.ping() if on_redis else None
        degraded = redis_ok is False and self.settings.degrade_to_memory
        ready = redis_ok is not False or degraded
        body = {
            "ready": ready,
            "rulesets": list(engine.rulesets),
            "store": "redis" if on_redis else "memory",
            "redis": redis_ok,
            "degraded": degraded,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    async def openapi_json(self, request: Request) -> Response:
        return Response(self.openapi, media_type="application/json")

    async def trim_audits_forever(self) -> None:
        """Retention: drop audit records older than FRONTDESK_AUDIT_RETENTION_DAYS, now and every hour."""
        while True:
            if self.tenants is not None:
                try:
                    if removed := await self.tenants.trim_audits():
                        log.info("audit retention: trimmed %d record(s)", removed)
                except FrontdeskError as exc:  # Redis down: the next pass catches up
                    log.warning("audit retention pass failed: %s", exc)
            await asyncio.sleep(AUDIT_TRIM_EVERY)


def _on_memory(result: dict[str, Any]) -> dict[str, Any]:
    """The result of a turn that ran on process memory, as its `explain` says."""
    record = result["explain"]
    if DEGRADED_STORE in record["degradations"]:
        return result
    return {**result, "explain": {**record, "degradations": [*record["degradations"], DEGRADED_STORE]}}


def _client_ip(request: Request) -> str | None:
    """The peer address (uvicorn puts the client named by X-Forwarded-For here for FORWARDED_ALLOW_IPS)."""
    return request.client.host if request.client else None


def _unknown(conversation_id: str) -> NotFound:
    return NotFound(
        f"no conversation {conversation_id!r}",
        code="conversation_not_found",
        hint="it was never started, was erased, or expired (state_ttl)",
    )


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Starlette:
    """The ASGI app. Without `engine`, one is built from `settings` at start-up (and its store closed at exit),
    and what start-up built is then frozen out of the cyclic collector's reach (`gc.freeze`)."""
    settings = settings or Settings()
    api = FrontdeskApi(settings, engine)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        built = api.engine is None
        if built:
            api.attach(engine_from_settings(settings))
            # What start-up built (rulesets, classifiers: ~140k objects) lives as long as the worker.
            # Frozen, the cyclic collector stops walking it on every older-generation collection:
            # a turn then spends ~7 µs in collections instead of ~46.
            gc.collect()
            gc.freeze()
        trimmer = asyncio.create_task(api.trim_audits_forever())
        try:
            yield
        finally:
            trimmer.cancel()
            if built and api.engine is not None:
                await api.engine.store.aclose()  # the Redis client every tenant's store and trail share
                await close_services(api.engine.services)

    routes = [
        Route("/v1/messages", api.post_message, methods=["POST"]),
        Route("/v1/webhooks/{channel}", api.post_webhook, methods=["POST"]),
        Route("/v1/conversations/{conversation_id:id}/close", api.close_conversation, methods=["POST"]),
        Route("/v1/conversations/{conversation_id:id}", api.get_conversation, methods=["GET"]),
        Route("/v1/customers/{user_id:id}", api.erase_customer, methods=["DELETE"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/openapi.json", api.openapi_json, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(TraceMiddleware)],
        exception_handlers={FrontdeskError: _frontdesk_error, HTTPException: _http_error},
        lifespan=lifespan,
    )
    app.state.api = api
    return app
