"""One exception tree for Frontdesk.

    FrontdeskError                    base: carries a stable `code` and a `hint`
    ├── ConfigError                   settings or plugin configuration is wrong
    ├── PluginError                   a plugin misbehaves or is missing
    ├── RulesetError                  a ruleset cannot be loaded; holds every Problem
    ├── RuntimeRulesError             the rules runtime refused a turn (walled-off engine defect)
    ├── InputError                    a request or message is invalid (HTTP 4xx)
    │   ├── NotFound                  the thing asked for does not exist (404)
    │   ├── Conflict                  the request clashes with current state (409)
    │   ├── PayloadTooLarge           body or message too large (413)
    │   ├── UnsupportedMediaType      the body is not sent as JSON (415)
    │   ├── InvalidRequest            the body does not match the schema (422)
    │   └── RateLimited               slow down (429)
    └── ServiceUnavailable            a backing service is down (503)
        └── VendorError               a model vendor failed (retryable or not)

Every error renders as `{"error": {"code", "message", "hint"}}` on the HTTP API
and as `CODE message — hint` on the command line.
"""

from __future__ import annotations

from dataclasses import dataclass


class FrontdeskError(Exception):
    code = "internal_error"
    status = 500
    hint = ""

    def __init__(self, message: str, *, code: str | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if hint is not None:
            self.hint = hint

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message, "hint": self.hint}}

    def __str__(self) -> str:
        return f"{self.code} {self.message}" + (f" — {self.hint}" if self.hint else "")


class ConfigError(FrontdeskError):
    code = "config_invalid"


class PluginError(FrontdeskError):
    code = "plugin_error"


@dataclass(frozen=True)
class Problem:
    """One validation finding, located in the analyst's file."""

    file: str
    line: int
    col: int
    code: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.code} {self.message}"
        return text + (f" — {self.hint}" if self.hint else "")


class RulesetError(FrontdeskError):
    code = "ruleset_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        first = str(problems[0]) if problems else "ruleset invalid"
        super().__init__(
            f"{len(problems)} problem(s); first: {first}",
            hint="run `frontdesk ruleset check` on the folder to see every problem",
        )


class RuntimeRulesError(FrontdeskError):
    code = "rules_runtime_error"


class InputError(FrontdeskError):
    code = "invalid_input"
    status = 400


class NotFound(InputError):
    code = "not_found"
    status = 404


class Conflict(InputError):
    code = "conflict"
    status = 409


class PayloadTooLarge(InputError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(InputError):
    code = "unsupported_media_type"
    status = 415


class InvalidRequest(InputError):
    code = "invalid_request"
    status = 422


class RateLimited(InputError):
    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: float, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServiceUnavailable(FrontdeskError):
    code = "service_unavailable"
    status = 503


class VendorError(ServiceUnavailable):
    code = "vendor_error"

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None, **kw: str) -> None:
        super().__init__(message, **kw)
        self.retryable = retryable
        self.retry_after = retry_after
