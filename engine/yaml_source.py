"""YAML loading that remembers where every key and item was written.

Analysts get `file:line:col` for every problem, so the loader keeps a map from
a path inside the document (keys and list indexes) to its 1-based position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from frontdesk.errors import Problem

PathKey = tuple[str | int, ...]


@dataclass
class SourceDoc:
    """A parsed YAML file: plain Python data plus the position of every node."""

    file: str
    data: Any
    positions: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: PathKey) -> tuple[int, int]:
        """Position of the deepest node of `path` that exists (never fails)."""
        for end in range(len(path), -1, -1):
            pos = self.positions.get(tuple(path[:end]))
            if pos is not None:
                return pos
        return (1, 1)

    def problem(self, path: PathKey, code: str, message: str, hint: str = "") -> Problem:
        line, col = self.where(path)
        return Problem(self.file, line, col, code, message, hint)


def _plain(node: Any, path: PathKey, positions: dict[PathKey, tuple[int, int]]) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            child = (*path, str(key))
            try:
                line, col = node.lc.key(key)
                positions[child] = (line + 1, col + 1)
            except (KeyError, TypeError):
                pass
            out[str(key)] = _plain(value, child, positions)
        return out
    if isinstance(node, CommentedSeq):
        out_list = []
        for index, value in enumerate(node):
            child = (*path, index)
            try:
                line, col = node.lc.item(index)
                positions[child] = (line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            out_list.append(_plain(value, child, positions))
        return out_list
    if isinstance(node, str):
        return str(node)
    return node


def parse_yaml(text: str, file: str) -> tuple[SourceDoc | None, list[Problem]]:
    """Parse YAML text; a syntax error becomes a located Problem instead of an exception."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        node = yaml.load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return None, [
            Problem(
                file,
                line,
                col,
                "duplicate-key",
                "a key appears twice in one mapping",
                "remove or rename one of them",
            )
        ]
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = (exc.problem or exc.context or "invalid YAML").strip()
        return None, [
            Problem(
                file,
                line,
                col,
                "yaml-syntax",
                what,
                "check indentation, colons and quotes around this line",
            )
        ]
    except YAMLError as exc:
        return None, [Problem(file, 1, 1, "yaml-syntax", str(exc).splitlines()[0], "")]
    positions: dict[PathKey, tuple[int, int]] = {(): (1, 1)}
    return SourceDoc(file, _plain(node, (), positions), positions), []


def load_yaml(path: Path, display: str | None = None) -> tuple[SourceDoc | None, list[Problem]]:
    file = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem(file, 1, 1, "encoding", f"not UTF-8 text ({exc.reason})", "save the file as UTF-8")]
    except OSError as exc:
        return None, [Problem(file, 1, 1, "file-unreadable", exc.strerror or str(exc), "")]
    return parse_yaml(text, file)
