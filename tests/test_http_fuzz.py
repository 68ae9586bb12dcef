"""schemathesis against the served OpenAPI document of an in-process app (ASGI): for every
operation, generated requests valid and invalid never get a 5xx, and every response
(status, headers, body) matches the document. Bounded: 25 examples per operation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from schemathesis.config import SchemathesisConfig

from frontdesk.bootstrap import build_engine
from frontdesk.http_app import create_app
from frontdesk.settings import Settings

MINI = Path(__file__).resolve().parent / "fixtures" / "mini"
AUDIT_DIR = Path(tempfile.mkdtemp(prefix="fd-fuzz-audit-"))

APP = create_app(
    Settings(
        audit_dir=AUDIT_DIR,
        max_body_bytes=4096,
        webhook_secrets={"wecom": {"secrets": ["fuzz-secret"]}},
    ),
    engine=build_engine([MINI], services={}),
)
# what rejecting a request may look like here: 413 for a body over max_body_bytes (the generator writes big ones)
REJECTED = ["400", "401", "403", "404", "409", "413", "415", "422", "429"]
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}})
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.negative_data_rejection,
]


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_response_matches_the_document(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS)
