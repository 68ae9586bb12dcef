"""Read labelled examples (text, label) from a CSV file with a header or a JSONL file.

Errors name the file and the line, so an analyst can open the file at the bad row.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from frontdesk.errors import InputError, NotFound

CSV_SUFFIXES = (".csv", ".tsv")
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_labelled(path: str | Path, text_col: str, label_col: str) -> list[tuple[str, str]]:
    """Return the (text, label) pairs of a labelled data file, in file order.

    Texts are kept as written (an empty text is returned as ""); labels are stripped
    and must not be empty. The format follows the suffix: .csv/.tsv or .jsonl/.ndjson.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise InputError(
            f"{path}: unknown data format {suffix or '(no suffix)'!r}",
            code="data_format_unknown",
            hint="use a .csv file with a header row or a .jsonl file (one JSON object a line)",
        )
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file", code="data_file_missing") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}", code="data_unreadable") from exc
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, _decode(path, raw), text_col, label_col, suffix == ".tsv")
    return _read_jsonl(path, raw, text_col, label_col)


def _decode(path: Path, raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"{path}:{line}: not valid UTF-8", code="data_encoding", hint="save the file as UTF-8"
        ) from None


def _read_csv(path: Path, text: str, text_col: str, label_col: str, tabs: bool) -> list[tuple[str, str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if tabs else ",")
    try:
        header = next(reader, None)
        if header is None:
            raise InputError(f"{path}:1: empty file, expected a header row", code="data_empty")
        header = [name.strip() for name in header]
        for col in (text_col, label_col):
            if col not in header:
                raise InputError(
                    f"{path}:1: column {col!r} missing from header {header}",
                    code="data_column_missing",
                    hint="name the columns with --text-col and --label-col",
                )
        text_i, label_i = header.index(text_col), header.index(label_col)
        rows: list[tuple[str, str]] = []
        start = reader.line_num + 1
        for record in reader:
            if record:  # blank lines carry no example
                line = start
                if len(record) != len(header):
                    raise _malformed(path, line, f"{len(record)} fields, header has {len(header)}")
                rows.append((record[text_i], _label(path, line, record[label_i])))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _malformed(path, reader.line_num, f"bad CSV: {exc}") from None
    return rows


def _read_jsonl(path: Path, raw: bytes, text_col: str, label_col: str) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    for line_no, line in enumerate(raw.splitlines(), start=1):
        if line_no == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            decoded = line.decode("utf-8")
        except UnicodeDecodeError:
            raise InputError(
                f"{path}:{line_no}: not valid UTF-8",
                code="data_encoding",
                hint="save the file as UTF-8",
            ) from None
        if not decoded.strip():
            continue
        try:
            obj = json.loads(decoded)
        except json.JSONDecodeError as exc:
            raise _malformed(path, line_no, f"invalid JSON: {exc.msg}") from None
        if not isinstance(obj, dict):
            raise _malformed(path, line_no, "expected a JSON object")
        for col in (text_col, label_col):
            if col not in obj:
                raise InputError(
                    f"{path}:{line_no}: key {col!r} missing (keys: {sorted(obj)})",
                    code="data_column_missing",
                    hint="name the keys with --text-col and --label-col",
                )
        text, label = obj[text_col], obj[label_col]
        if not isinstance(text, str):
            raise _malformed(path, line_no, f"{text_col!r} must be a string, got {text!r:.40}")
        if isinstance(label, bool) or not isinstance(label, str | int):
            raise _malformed(path, line_no, f"{label_col!r} must be a string, got {label!r:.40}")
        rows.append((text, _label(path, line_no, str(label))))
    return rows


def _label(path: Path, line: int, label: str) -> str:
    label = label.strip()
    if not label:
        raise _malformed(path, line, "empty label")
    return label


def _malformed(path: Path, line: int, what: str) -> InputError:
    return InputError(f"{path}:{line}: {what}", code="data_row_malformed")
