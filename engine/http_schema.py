"""What the HTTP API accepts and returns: pydantic models, the error codes, and the
OpenAPI 3.1 document generated from both.

The request model validates every request; response models are not applied at
run time (the engine's result is sent as it is) but document it, and a test
validates real responses against this document so the two cannot drift.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

API_VERSION = "1.0.0"

# Every code a client can receive, with its HTTP status and meaning. The README's
# error table is checked against this by a test.
ERROR_CODES: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "the body is not valid JSON"),
    "invalid_input": (400, "the request is invalid in a way the message explains"),
    "erase_anonymous": (400, "the anonymous user cannot be erased"),
    "auth_missing": (401, "FRONTDESK_AUTH=keys and no `Authorization: Bearer <key>` was sent"),
    "auth_invalid": (401, "the API key is malformed or unknown"),
    "auth_revoked": (401, "the API key was revoked"),
    "signature_invalid": (401, "the webhook request is unsigned or its signature does not match"),
    "signature_expired": (401, "the webhook timestamp is outside the tolerance (FRONTDESK_WEBHOOK_TOLERANCE)"),
    "replay_detected": (401, "the webhook nonce was used before"),
    "auth_scope": (403, "the API key lacks the scope the endpoint needs"),
    "not_found": (404, "no such endpoint"),
    "webhook_not_found": (404, "no such channel in FRONTDESK_WEBHOOK_SECRETS"),
    "conversation_not_found": (404, "no conversation with this id (never started, erased or expired)"),
    "ruleset_not_found": (404, "the request names a ruleset that is not loaded"),
    "method_not_allowed": (405, "the endpoint exists but not with this method"),
    "ruleset_mismatch": (409, "the message names another ruleset than the one its conversation runs under"),
    "conversation_busy": (409, "another turn held the conversation longer than acquire_timeout; retry"),
    "conversation_lock_lost": (409, "the turn outlived lock_ttl and another worker took the conversation over"),
    "payload_too_large": (413, "the body is longer than max_body_bytes"),
    "message_too_long": (413, "the text is longer than the ruleset's max_message_length"),
    "unsupported_media_type": (415, "the body is not sent as application/json"),
    "invalid_request": (422, "the JSON does not match the schema; the message names the field"),
    "overloaded": (429, "this worker has max_in_flight turns running; retry after Retry-After seconds"),
    "rate_limited": (429, "slow down; retry after Retry-After seconds"),
    "internal_error": (500, "a bug: the traceback is in the server log under the response's trace id"),
    "rules_runtime_error": (500, "the rules runtime refused the turn"),
    "key_pepper_missing": (500, "keys were stored with FRONTDESK_KEY_PEPPER and the server has none"),
    "keys_file_invalid": (500, "FRONTDESK_KEYS_FILE cannot be read"),
    "audit_file_corrupt": (500, "the audit file has an unreadable line; `frontdesk audit verify` shows it"),
    "redis_unavailable": (503, "Redis cannot be reached (and degrade_to_memory is off)"),
    "redis_error": (503, "Redis refused a command (memory limit, ACL, scripting disabled)"),
    "vendor_error": (503, "a model vendor failed and no fallback answered"),
    "service_unavailable": (503, "a backing service is down"),
    "audit_contention": (503, "too many workers appended to one tenant's audit trail at once; retry"),
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


Id = Field(min_length=1, max_length=256)


class MessageRequest(Strict):
    """One customer message from a channel."""

    conversation_id: str = Id
    user_id: str = Id
    text: str = Field(min_length=1, description="longer than the ruleset's max_message_length: 413 message_too_long")
    channel: str = Field("api", min_length=1, max_length=64)
    message_id: str | None = Field(
        None, min_length=1, max_length=256, description="idempotency key: a repeat returns the first result"
    )
    ruleset: str | None = Field(None, description="a loaded ruleset; default: the deployment's")
    customer: dict[str, Any] = Field(default_factory=dict, description="facts the caller knows, e.g. level")
    metadata: dict[str, Any] = Field(default_factory=dict)


class ReplyOut(BaseModel):
    text: str
    template: str | None
    source: str = Field(description="template | llm | knowledge | fallback")


class IntentOut(BaseModel):
    name: str | None
    confidence: float


class EntityOut(BaseModel):
    type: str
    value: Any
    text: str
    start: int
    end: int


class EmotionOut(BaseModel):
    label: Literal["negative", "neutral", "positive"]
    score: float
    anger: bool
    urgency: bool


class ActionOut(BaseModel):
    type: str
    rule: str
    params: Any


class HandoffOut(BaseModel):
    queue: str
    priority: str
    rule: str


class RulesetRef(BaseModel):
    name: str
    version: str


class ExplainOut(BaseModel):
    """Why the turn went as it did (`?explain=1`)."""

    model_config = ConfigDict(extra="allow")

    intent: dict[str, Any]
    rules: list[dict[str, Any]]
    timings_us: dict[str, float]
    degradations: list[str] = Field(description='e.g. "store:memory" when Redis was down and degrade_to_memory is on')
    emotion_cues: list[str]
    suppressed: list[dict[str, Any]]
    model_calls: list[dict[str, Any]]
    masked: list[dict[str, Any]]
    notes: list[str]
    flags: dict[str, Any]


Status = Literal["bot", "handed_off", "closed"]


class MessageResponse(BaseModel):
    conversation_id: str
    message_id: str
    ruleset: RulesetRef
    reply: ReplyOut | None
    intent: IntentOut
    entities: list[EntityOut]
    slots: dict[str, Any]
    emotion: EmotionOut
    actions: list[ActionOut] = Field(description="side effects decided this turn (ticket, tag, handoff...)")
    handoff: HandoffOut | None
    status: Status
    trace_id: str = Field(description="trace of the request that processed the turn (a retry returns the first)")
    explain: ExplainOut | None = Field(None, description="only with ?explain=1")


class ConversationStateOut(BaseModel):
    conversation_id: str
    user_id: str
    ruleset: str | None = Field(description="the ruleset the conversation runs under, set on its first turn")
    status: Status
    turn: int
    slots: dict[str, Any]
    expecting: str | None
    reask_count: int
    last_intent: str | None
    rule_memory: dict[str, list[float]] = Field(description="rule id -> times its `when` matched (windows)")
    tags: list[str]
    created_at: float
    updated_at: float


class TranscriptEntry(BaseModel):
    message_id: str
    at: str
    user: str
    bot: str | None
    intent: str | None
    actions: list[str]


class ConversationResponse(BaseModel):
    conversation_id: str
    state: ConversationStateOut | None = Field(description="null when only the transcript remains")
    transcript: list[TranscriptEntry]


class CloseResponse(BaseModel):
    conversation_id: str
    status: Literal["closed"]
    turn: int


class ErasedCounts(BaseModel):
    conversations: int
    transcripts: int
    results: int = Field(description="idempotency records")
    audit_payloads: int = Field(description="audit records whose payload was removed (the chain keeps tombstones)")
    cached_answers: int = Field(description="model answers cached for this customer")


class EraseResponse(BaseModel):
    user_id: str
    erased: ErasedCounts


class HealthResponse(BaseModel):
    status: Literal["ok"]


class ReadyResponse(BaseModel):
    ready: bool
    rulesets: list[str]
    store: Literal["memory", "redis"]
    redis: bool | None = Field(description="Redis answered a PING; null without Redis")
    degraded: bool = Field(description="Redis is down and turns are served from process memory")


class ErrorBody(BaseModel):
    code: str = Field(description="stable; see the README's table")
    message: str
    hint: str


class ErrorResponse(BaseModel):
    error: ErrorBody


# --- the OpenAPI document -------------------------------------------------------------

_REQUESTS = [MessageRequest]
_RESPONSES = [
    MessageResponse,
    ConversationResponse,
    CloseResponse,
    EraseResponse,
    HealthResponse,
    ReadyResponse,
    ErrorResponse,
]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


_TRACE_HEADER = {"X-Trace-Id": {"$ref": "#/components/headers/X-Trace-Id"}}
_CHALLENGE = {"WWW-Authenticate": {"$ref": "#/components/headers/WWW-Authenticate"}}


def _ok(model: type[BaseModel] | None, description: str) -> dict[str, Any]:
    schema = _ref(model) if model else {"type": "object"}
    return {"description": description, "headers": _TRACE_HEADER, "content": _json(schema)}


def _errors(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in sorted({*statuses, 500}):
        codes = [code for code, (s, _) in ERROR_CODES.items() if s == status]
        response = _ok(ErrorResponse, "error codes: " + ", ".join(codes))
        if status == 429:
            response["headers"] = {**_TRACE_HEADER, "Retry-After": {"$ref": "#/components/headers/Retry-After"}}
        elif status == 401:
            response["headers"] = {**_TRACE_HEADER, **_CHALLENGE}
        out[str(status)] = response
    return out


def _path_param(name: str, description: str) -> dict[str, Any]:
    schema = {"type": "string", "minLength": 1}
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


_TRACEPARENT = {"$ref": "#/components/parameters/traceparent"}
_CONVERSATION = _path_param("conversation_id", "as sent in POST /v1/messages")
# FRONTDESK_AUTH=keys: a Bearer key with the scope; off (the default): nothing (the empty requirement)
_KEY: list[dict[str, list[str]]] = [{"apiKey": []}, {}]


def _signed(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": True, "schema": {"type": "string"}, "description": description}


def _operations() -> dict[str, dict[str, Any]]:
    explain = {
        "name": "explain",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": ["0", "1", "false", "true"]},
        "description": "1 adds the decision trace and stage timings",
    }
    return {
        "/v1/messages": {
            "post": {
                "operationId": "postMessage",
                "summary": "Process one customer message (one turn) and return the decision",
                "description": "Scope `messages`.",
                "security": _KEY,
                "parameters": [explain, _TRACEPARENT],
                "requestBody": {"required": True, "content": _json(_ref(MessageRequest))},
                "responses": {
                    "200": _ok(MessageResponse, "the turn's result (the first result again for a repeated message_id)"),
                    **_errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
                },
            }
        },
        "/v1/webhooks/{channel}": {
            "post": {
                "operationId": "postWebhook",
                "summary": "A channel's signed delivery of one customer message (one turn)",
                "description": "The body of POST /v1/messages; the channel is the path's. Signed with a secret of "
                "the channel in FRONTDESK_WEBHOOK_SECRETS: `X-Frontdesk-Signature: v1=` + hex "
                'HMAC-SHA256(secret, "<timestamp>.<nonce>." + raw body); a nonce is accepted once.',
                "security": [{"webhookSignature": []}],
                "parameters": [
                    _path_param("channel", "a channel declared in FRONTDESK_WEBHOOK_SECRETS"),
                    explain,
                    _signed("X-Frontdesk-Timestamp", "Unix seconds; refused further than the tolerance from now"),
                    _signed("X-Frontdesk-Nonce", "16-128 characters A-Z a-z 0-9 _ -, never sent twice"),
                    _TRACEPARENT,
                ],
                "requestBody": {"required": True, "content": _json(_ref(MessageRequest))},
                "responses": {
                    "200": _ok(MessageResponse, "the turn's result (the first result again for a repeated message_id)"),
                    **_errors(400, 401, 404, 409, 413, 415, 422, 429, 503),
                },
            }
        },
        "/v1/conversations/{conversation_id}": {
            "get": {
                "operationId": "getConversation",
                "summary": "The conversation's state and transcript",
                "description": "Scope `analyst`.",
                "security": _KEY,
                "parameters": [_CONVERSATION, _TRACEPARENT],
                "responses": {
                    "200": _ok(ConversationResponse, "state and transcript"),
                    **_errors(401, 403, 404, 429, 503),
                },
            }
        },
        "/v1/conversations/{conversation_id}/close": {
            "post": {
                "operationId": "closeConversation",
                "summary": "Mark the conversation closed (rules see session.status = closed)",
                "description": "Scope `admin`; recorded in the audit trail.",
                "security": _KEY,
                "parameters": [_CONVERSATION, _TRACEPARENT],
                "responses": {"200": _ok(CloseResponse, "closed"), **_errors(401, 403, 404, 409, 429, 503)},
            }
        },
        "/v1/customers/{user_id}": {
            "delete": {
                "operationId": "eraseCustomer",
                "summary": "Erase a customer: conversations, transcripts, stored results, audit payloads, "
                "cached model answers",
                "description": "Scope `admin`. Audit records keep their place in the hash chain without the "
                "payload, and an erasure record says so.",
                "security": _KEY,
                "parameters": [_path_param("user_id", "as sent in POST /v1/messages"), _TRACEPARENT],
                "responses": {"200": _ok(EraseResponse, "what was erased"), **_errors(400, 401, 403, 409, 429, 503)},
            }
        },
        "/healthz": {
            "get": {
                "operationId": "healthz",
                "summary": "The process is alive",
                "responses": {"200": _ok(HealthResponse, "alive")},
            }
        },
        "/readyz": {
            "get": {
                "operationId": "readyz",
                "summary": "Rulesets loaded and the store reachable (or degraded to memory)",
                "responses": {"200": _ok(ReadyResponse, "ready"), "503": _ok(ReadyResponse, "not ready")},
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {"200": _ok(None, "the OpenAPI 3.1 document")},
            }
        },
    }


def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation") for m in _REQUESTS] + [(m, "serialization") for m in _RESPONSES],
        ref_template="#/components/schemas/{model}",
    )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Frontdesk",
            "version": API_VERSION,
            "description": "Rules-plus-LLM customer service engine. Errors are "
            '`{"error": {"code", "message", "hint"}}`; every response carries `X-Trace-Id`. '
            "With FRONTDESK_AUTH=keys every /v1 endpoint but the webhooks needs an API key with its scope.",
        },
        "paths": _operations(),
        "components": {
            "schemas": defs["$defs"],
            "parameters": {
                "traceparent": {
                    "name": "traceparent",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "W3C trace context; its trace id becomes the response's trace id",
                }
            },
            "headers": {
                "X-Trace-Id": {"description": "this request's trace id", "schema": {"type": "string"}},
                "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
                "WWW-Authenticate": {
                    "description": "`Bearer` (API key), or `Frontdesk-Signature` on webhooks",
                    "schema": {"type": "string"},
                },
            },
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "`frontdesk keys create --tenant T --scope messages|analyst|admin`; the key "
                    "names the tenant. admin implies the other scopes.",
                },
                "webhookSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Frontdesk-Signature",
                    "description": 'v1=<hex HMAC-SHA256(secret, "<timestamp>.<nonce>." + raw body)>',
                },
            },
        },
    }
