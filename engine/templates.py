"""Reply templates: text with `{path}` variables and `{path|default}` fallbacks.

Variables name facts of the turn (`slots.order_id`, `customer.name`,
`entities.amount`, `intent`); `{{` and `}}` write literal braces. Templates are
parsed once at load, so an unknown variable is a load error, not a reply with
a hole in it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_VAR = re.compile(r"\{\{|\}\}|\{([^{}|]*)(?:\|([^{}]*))?\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_\-]+)*$")
FREE_ROOTS = ("customer", "crm", "metadata")
EXACT_VARS = ("intent", "emotion", "channel", "language", "time.date", "time.hour", "time.weekday")


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | tuple[str, str | None], ...]  # literal text or (path, default)

    @property
    def variables(self) -> list[str]:
        return [p[0] for p in self.parts if isinstance(p, tuple)]

    def render(self, lookup: Callable[[str], Any]) -> str:
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = lookup(part[0])
            if value is None or value == "":
                out.append(part[1] or "")
            elif isinstance(value, float) and value.is_integer():
                out.append(str(int(value)))
            else:
                out.append(str(value))
        return "".join(out)


def parse_template(source: str) -> tuple[Template, list[str]]:
    """Parse a template; returns it with a list of error messages (empty when valid)."""
    parts: list[str | tuple[str, str | None]] = []
    errors: list[str] = []
    pos = 0
    for match in _VAR.finditer(source):
        parts.append(source[pos : match.start()])
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append(token[0])
        else:
            path = match.group(1).strip()
            if not _PATH.match(path):
                errors.append(f"`{token}` is not a variable; write e.g. {{slots.order_id}}")
            parts.append((path, match.group(2)))
        pos = match.end()
    tail = source[pos:]
    if "{" in tail or "}" in tail:
        errors.append("unbalanced brace; write {{ or }} for a literal brace")
    parts.append(tail)
    return Template(source, tuple(p for p in parts if p != "")), errors


def check_variable(path: str, slots: set[str], entities: set[str]) -> str | None:
    """Why a template variable cannot resolve, or None when it can."""
    root, _, rest = path.partition(".")
    if path in EXACT_VARS:
        return None
    if root in FREE_ROOTS and rest:
        return None
    if root == "slots" and rest in slots:
        return None
    if root == "entities" and rest in entities:
        return None
    if root == "slots":
        return f"`{{{path}}}`: no slot `{rest}` is declared"
    if root == "entities":
        return f"`{{{path}}}`: no entity `{rest}` is declared or built in"
    return f"`{{{path}}}` cannot resolve; variables start with slots., entities., customer., crm. or are one of: " + (
        ", ".join(EXACT_VARS)
    )
