"""What ``llmbench dataset import`` reads rows from: a JSONL file, a CSV file (a header
row, then one row a sample) or a Python callable (``module:function`` returning an iterable
of dicts: how a team reads its production store, Mongo or SQL, without this tool depending
on either). Every source is hostile input: each problem is one DatasetError naming the
file and line (or the callable and item) and the fix.

A row is ``(where, record)``: ``where`` names it in messages (``in.csv:3``, ``app:rows
item 3``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeAlias

from pytest_llmbench.benchmark import limits
from pytest_llmbench.benchmark.dataset import decode_line, read_text
from pytest_llmbench.benchmark.extensions import ImportFailed, load
from pytest_llmbench.errors import DatasetError

Row: TypeAlias = "tuple[str, dict[str, Any]]"
MAX_ROWS = 10_000_000  # from a callable: a generator that never ends is stopped here

_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_TYPES = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def read_jsonl(path: Path, display: str) -> list[Row]:
    """One JSON object a line, read within a dataset line's limits."""
    _, text = read_text(path, display, "file")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        value = decode_line(number, line, display)
        if not isinstance(value, dict):
            raise DatasetError(
                f"{display}:{number}: line is {_kind(value)}, expected a JSON object"
            )
        rows.append((f"{display}:{number}", value))
    return rows


def read_csv(path: Path, display: str, text_columns: Collection[str] = ()) -> list[Row]:
    """A header row, then a row a sample. A column whose every non-empty cell is a JSON
    number is read as numbers (an empty cell: no value), except ``text_columns`` (the id);
    every other cell is text, as written."""
    _, text = read_text(path, display, "file")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(name.strip() for name in header):
            raise DatasetError(f"{display}:1: no header row; the first row names the columns")
        for index, name in enumerate(header, start=1):
            if not name.strip():
                raise DatasetError(f"{display}:1: column {index} has no name; name it")
            if header.index(name) != index - 1:
                raise DatasetError(
                    f"{display}:1: column {name!r} is named twice (columns "
                    f"{header.index(name) + 1} and {index}); rename one"
                )
        table: list[tuple[int, list[str]]] = []
        for cells in reader:
            if not cells or cells == [""]:
                continue  # a blank line
            if len(cells) != len(header):
                raise DatasetError(
                    f"{display}:{reader.line_num}: {_cells(len(cells))}, the header has "
                    f"{len(header)}; give each row one cell per column (quote a cell that "
                    "holds a comma)"
                )
            table.append((reader.line_num, cells))
    except csv.Error as error:
        if "field limit" in str(error):
            raise DatasetError(
                f"{display}:{reader.line_num}: a cell is over {csv.field_size_limit():,} "
                "characters; shorten it (or import the data as JSONL)"
            ) from None
        raise DatasetError(
            f"{display}:{reader.line_num}: not valid CSV ({error}); quote a cell that holds "
            'a comma, a quote or a line break, and double each quote in it ("")'
        ) from None
    numeric = [
        name not in text_columns
        and any(cells[i] for _, cells in table)
        and all(not cells[i] or _number(cells[i]) is not None for _, cells in table)
        for i, name in enumerate(header)
    ]
    rows = []
    for line, cells in table:
        record: dict[str, Any] = {}
        for name, cell, is_number in zip(header, cells, numeric, strict=True):
            if is_number:
                if cell:
                    record[name] = _number(cell)
            else:
                record[name] = cell
        rows.append((f"{display}:{line}", record))
    return rows


def _cells(count: int) -> str:
    return f"{count} cell" if count == 1 else f"{count} cells"


def _number(cell: str) -> int | float | None:
    if not _NUMBER_RE.fullmatch(cell):
        return None
    if "." not in cell and "e" not in cell.lower():
        return int(cell) if len(cell.lstrip("-")) <= limits.INTEGER_DIGITS else None
    value = float(cell)
    return value if math.isfinite(value) else None


def read_callable(spec: str) -> list[Row]:
    """The dicts ``module:function()`` returns (any iterable of them), each made JSON."""
    try:
        function = load(spec)
    except ImportFailed as error:
        raise DatasetError(
            f"{spec}: cannot be imported ({error}); give an importable module:function "
            "(the current directory is on the path)"
        ) from None
    if not callable(function):
        raise DatasetError(f"{spec}: is not callable; name a function that yields dicts")
    rows: list[Row] = []
    try:
        items = function()
        if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
            raise DatasetError(
                f"{spec}: returned {_kind(items)}, not an iterable of dicts; yield one dict "
                "a sample"
            )
        for number, item in enumerate(items, start=1):
            where = f"{spec} item {number}"
            if number > MAX_ROWS:
                raise DatasetError(f"{spec}: more than {MAX_ROWS:,} items; yield fewer")
            if not isinstance(item, Mapping):
                raise DatasetError(f"{where}: {_kind(item)}, expected a dict")
            rows.append((where, _as_json(dict(item), where)))
    except DatasetError:
        raise
    except Exception as error:  # the user's code: one line, never its traceback
        raise DatasetError(
            f"{spec} raised {type(error).__name__} after {len(rows)} "
            f"item{'' if len(rows) == 1 else 's'}: "
            f"{str(error)[:300]}; fix the function"
        ) from None
    return rows


def _as_json(record: dict[str, Any], where: str) -> dict[str, Any]:
    """The record as a dataset line will hold it (its JSON read back): a value JSON cannot
    write (a datetime, bytes, NaN) is an error naming the field."""
    try:
        text = json.dumps(record, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):
        for key, value in record.items():
            try:
                json.dumps(value, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError, RecursionError):
                raise DatasetError(
                    f"{where}: field {str(key)[:80]!r} is {type(value).__name__}, not JSON "
                    "(or not finite, or not text); convert it in the function"
                ) from None
        raise DatasetError(f"{where}: not JSON; yield dicts of JSON values") from None
    read: dict[str, Any] = json.loads(text)
    return read


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    return _TYPES.get(type(value), f"a {type(value).__name__}")
