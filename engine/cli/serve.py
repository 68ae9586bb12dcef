"""`frontdesk serve`: the HTTP service under uvicorn (uvloop + httptools).

Options become FRONTDESK_* environment variables, so every worker process builds
the same app from the same Settings (uvicorn starts workers by import string).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from frontdesk.access import Access
from frontdesk.errors import ConfigError
from frontdesk.settings import Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("serve", help="run the HTTP service")
    parser.add_argument(
        "--rulesets",
        type=Path,
        nargs="+",
        metavar="DIR",
        help="ruleset folders, or folders of them (default: the sample rulesets)",
    )
    parser.add_argument("--host", help="default 127.0.0.1 (FRONTDESK_HOST)")
    parser.add_argument("--port", type=int, help="default 8000 (FRONTDESK_PORT)")
    parser.add_argument("--workers", type=int, help="worker processes; more than 1 needs FRONTDESK_REDIS_URL")
    parser.add_argument("--default-ruleset", metavar="NAME", help="used when a request names none")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    overrides = {
        "FRONTDESK_RULESETS": json.dumps([str(p.resolve()) for p in args.rulesets]) if args.rulesets else None,
        "FRONTDESK_HOST": args.host,
        "FRONTDESK_PORT": None if args.port is None else str(args.port),
        "FRONTDESK_WORKERS": None if args.workers is None else str(args.workers),
        "FRONTDESK_DEFAULT_RULESET": args.default_ruleset,
    }
    os.environ.update({k: v for k, v in overrides.items() if v is not None})
    settings = Settings()
    if settings.workers > 1 and settings.redis_url is None:
        raise ConfigError(
            f"{settings.workers} workers without Redis would each keep their own conversations",
            code="workers_need_redis",
            hint="set FRONTDESK_REDIS_URL (e.g. redis://127.0.0.1:6379/0) or run one worker",
        )
    Access(settings, None)  # invalid rate limits or webhook secrets fail here, before any worker starts
    import uvicorn  # here: the other commands should not pay for importing the server

    uvicorn.run(
        "frontdesk.http_app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=settings.access_log,
        log_level=args.log_level,
    )
    return 0
