"""Server-Sent Events for `POST /v1/messages?stream=1`.

    event: delta   data: {"text": "..."}        text as it is ready, after the output checks
    event: result  data: {...}                  the full turn result (as the JSON endpoint)
    event: error   data: {"error": {...}}       instead of a result when the turn failed

The result's `reply.text` is authoritative: a reply the output guard replaced
differs from the joined deltas.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from frontdesk import json_codec
from frontdesk.errors import FrontdeskError

log = logging.getLogger(__name__)


def _event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + json_codec.dumps(data) + b"\n\n"


async def sse_events(events: AsyncIterator[tuple[str, Any]], explain: bool) -> AsyncIterator[bytes]:
    try:
        async for kind, value in events:
            if kind == "delta":
                yield _event("delta", {"text": value})
            else:
                body = value if explain else {k: v for k, v in value.items() if k != "explain"}
                yield _event("result", body)
    except FrontdeskError as exc:
        yield _event("error", exc.to_dict())
    except Exception:  # the status line is sent already: report in-band, never a traceback
        log.exception("streamed turn failed")
        yield _event("error", {"error": {"code": "internal_error", "message": "the turn failed", "hint": ""}})
