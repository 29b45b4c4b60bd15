"""JSONL datasets: one sample a line, ids made ASCII-safe and unique."""

from __future__ import annotations

import codecs
import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import isfinite
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmbench.benchmark import limits
from pytest_llmbench.errors import DatasetError

if TYPE_CHECKING:
    from pytest_llmbench.benchmark.config import Variant


@dataclass(frozen=True, slots=True)  # slots: a 10,000-sample dataset holds 10,000 of these
class Sample:
    id: str  # as written in the file
    item_id: str  # ASCII-safe, unique in the file: the test item's id
    position: int  # 0-based order in the file
    line: int  # 1-based line number in the file
    input: Any = None
    output: Any = None
    reference: Any = None
    ground_truth: dict[str, float] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)  # the whole record as read
    # With `variants:`: the variant this item runs (each (sample, variant) is one item,
    # its item_id "<sample item id>-<variant>"); None otherwise.
    item_variant: Variant | None = None

    @property
    def item_key(self) -> tuple[str, str]:
        """(id, variant name or ""): unique among a scenario's items."""
        variant = self.item_variant
        return (self.id, variant.name if variant is not None else "")

    def __getattr__(self, name: str) -> Any:
        # Other dataset fields read as attributes (sample.tags, sample.latency_seconds).
        try:
            fields = object.__getattribute__(self, "fields")
        except AttributeError:  # not set yet (copy, pickle)
            raise AttributeError(name) from None
        if name in fields:
            return fields[name]
        raise AttributeError(f"sample {self.id!r} has no field {name!r}")

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]


@dataclass(frozen=True)
class Dataset:
    path: Path
    display: str  # the path as the user wrote it
    samples: tuple[Sample, ...]
    sha256: str  # of the file's bytes
    id_field: str = "id"  # the file's field the ids were read from (a scenario's `fields:`)


_SAFE_RE = re.compile(r"[A-Za-z0-9._-]+")  # fullmatch: "$" would let a final "\n" through
_UNSAFE_RUN_RE = re.compile(r"[^A-Za-z0-9._-]+")

# Cyrillic has no NFKD decomposition to ASCII; without this "тг-1" would become "1".
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "e", "ж": "zh",
    "з": "z", "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o",
    "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu",
    "я": "ya", "і": "i", "ї": "yi", "є": "ye", "ґ": "g", "ў": "u",
}  # fmt: skip
_TRANSLIT = {ord(k): v for k, v in _CYRILLIC.items()} | {
    ord(k.upper()): v.capitalize() for k, v in _CYRILLIC.items()
}

# The sample's own attributes besides the canonical fields: a dataset field of the same
# name would be shadowed (in `sample.<name>` and in the prompt), so it is refused.
_RESERVED_WHAT = {
    "item_id": "test item id",
    "position": "position in the file",
    "line": "line number",
    "fields": "record of every field",
    "item_variant": "variant of the item",
    "item_key": "item key",
}
_RESERVED = frozenset(_RESERVED_WHAT)



def json_type(value: object) -> str:
    """The JSON type of a decoded value, in JSON's words (null, boolean, number, ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def safe_id(raw: str) -> str:
    """An ASCII id fit for a pytest node id ("тг-0042" -> "tg-0042"); never empty."""
    if _SAFE_RE.fullmatch(raw):
        return raw  # the common case, kept exactly as the user wrote it
    text = unicodedata.normalize("NFKD", raw.translate(_TRANSLIT))
    text = text.encode("ascii", "ignore").decode("ascii")
    text = _UNSAFE_RUN_RE.sub("-", text).strip("-")
    if not text:
        return "sample-" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:8]
    return text


def load_dataset(path: Path, display: str, fields: Mapping[str, str] | None = None) -> Dataset:
    """Read a JSONL dataset; `fields` maps canonical names (id, input, ...) to the file's."""
    names = {name: name for name in ("id", "input", "output", "reference", "ground_truth")}
    names.update(fields or {})
    id_key = names["id"]
    data, text = read_text(path, display)
    if "\r" in text:  # CR LF and CR-only line ends (a raw CR is never inside a JSON string)
        text = text.replace("\r\n", "\n").replace("\r", "\n")

    samples: list[Sample] = []
    first_line: dict[str, int] = {}  # raw id -> line
    used: set[str] = set()  # item ids handed out
    next_suffix: dict[str, int] = {}  # base item id -> next suffix to try
    # Split on "\n" only: str.splitlines() would also split inside JSON strings at U+2028.
    numbered = [(n, t) for n, t in enumerate(text.split("\n"), start=1) if t.strip()]
    for (number, _), record in zip(numbered, _decode(numbered, display), strict=True):
        if not isinstance(record, dict):
            kind = json_type(record)
            raise DatasetError(f"{display}:{number}: line is a JSON {kind}, expected an object")
        clash = _RESERVED.intersection(record)
        if clash:
            field_name = sorted(clash)[0]
            raise DatasetError(
                f"{display}:{number}: field {field_name!r} has the name of the sample's own "
                f"{_RESERVED_WHAT[field_name]}, so sample.{field_name} could not read it; "
                "rename the field in the dataset"
            )
        raw_id = _read_id(record, id_key, display, number)
        if raw_id in first_line:
            raise DatasetError(
                f'{display}:{number}: duplicate id "{raw_id}" (first on line {first_line[raw_id]})'
            )
        first_line[raw_id] = number
        base = item_id = safe_id(raw_id)
        if item_id in used:  # a different raw id with the same safe form: suffix in file order
            suffix = next_suffix.get(base, 2)
            while f"{base}-{suffix}" in used:
                suffix += 1
            item_id = f"{base}-{suffix}"
            next_suffix[base] = suffix + 1
        used.add(item_id)
        samples.append(
            Sample(
                id=raw_id,
                item_id=item_id,
                position=len(samples),
                line=number,
                input=record.get(names["input"]),
                output=record.get(names["output"]),
                reference=record.get(names["reference"]),
                ground_truth=_read_ground_truth(record, names["ground_truth"], display, number),
                fields=record,
            )
        )
    if not samples:
        raise DatasetError(f"{display}: no samples; write one JSON object per line")
    return Dataset(
        path=path,
        display=display,
        samples=tuple(samples),
        sha256=hashlib.sha256(data).hexdigest(),
        id_field=id_key,
    )


def read_text(path: Path, display: str, what: str = "dataset") -> tuple[bytes, str]:
    """A text file's bytes and its UTF-8 text (a BOM tolerated); a file that cannot be read,
    is UTF-16 or is not UTF-8 is a DatasetError naming it (and the line)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(
            f"{display}: cannot read the {what} ({exc.strerror}): {path}; check the path"
        ) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise DatasetError(f"{display}:1: the file is UTF-16 (or UTF-32); save it as UTF-8")
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"{display}:{line}: not valid UTF-8 ({exc.reason}); save the file as UTF-8"
        ) from None


def _decode(numbered: list[tuple[int, str]], display: str) -> list[Any]:
    """Every line's JSON value, within the limits of `limits.py`. Decoded as one array when
    the file is well formed: one decoder call shares the key strings between samples
    (per-line decoding gives each sample its own copies, a large share of a big dataset's
    memory)."""
    for number, line_text in numbered:
        _check_line(number, line_text, display)
    try:
        values: list[Any] = _loads("[" + ",".join(t for _, t in numbered) + "]")
        if len(values) == len(numbered):
            return values
    except (json.JSONDecodeError, _Refused):
        pass
    # Line by line, to name the line that is wrong (or when a line held two values).
    return [_decode_checked(number, line_text, display) for number, line_text in numbered]


def decode_line(number: int, text: str, display: str) -> Any:
    """One line's JSON value within the limits a dataset line is read with (its size, its
    nesting, its numbers, duplicate keys, lone surrogates), or the DatasetError that names
    the line: for readers of other JSONL files shaped like datasets (``llmbench dataset
    import``)."""
    _check_line(number, text, display)
    return _decode_checked(number, text, display)


def _decode_checked(number: int, text: str, display: str) -> Any:
    """decode_line() of a line already checked against the bounds."""
    try:
        return _loads(text)
    except json.JSONDecodeError as exc:
        if "\x00" in text:  # JSON would say "Extra data" or "Expecting value"
            column = text.index("\x00") + 1
            raise DatasetError(
                f"{display}:{number}: a NUL byte at column {column}, which JSON does not "
                "allow; remove it (a binary or UTF-16 file?)"
            ) from None
        raise DatasetError(
            f"{display}:{number}: not valid JSON ({exc.msg} at column {exc.colno}); "
            "each line must be one JSON object"
        ) from None
    except _Refused as exc:
        raise DatasetError(f"{display}:{number}: {exc}") from None


class _Refused(ValueError):
    """Valid to Python's json module, refused here: the message says what and the fix."""


def _check_line(number: int, text: str, display: str) -> None:
    """The bounds a line is checked against before it is decoded: its size (UTF-8 is at
    most 4 bytes a character, so only a long line is encoded to measure it), its nesting
    (only a line with that many brackets is scanned), and lone surrogates (only a line
    that escapes one is looked at again)."""
    limit = limits.SAMPLE_LINE_BYTES
    if len(text) > limit // 4 and (size := len(text.encode("utf-8", "surrogatepass"))) > limit:
        raise DatasetError(
            f"{display}:{number}: the line is {size:,} bytes, over the "
            f"{limits.size(limit)} limit for one sample; shorten the sample (see Limits in the "
            "README)"
        )
    column = too_deep(text)
    if column is not None:
        raise DatasetError(
            f"{display}:{number}: nested more than {limits.NESTING_DEPTH} levels "
            f"deep at column {column}; flatten the record"
        )


def too_deep(text: str, limit: int = limits.NESTING_DEPTH) -> int | None:
    """The column (from 1) where JSON `text` goes deeper than `limit` lists and objects,
    or None. Checked before decoding: how deep json.loads goes before a RecursionError
    depends on the Python version (3.13 reads what 3.10 refuses), and so would what is
    refused. Only text with that many brackets is scanned, in linear time."""
    if text.count("[") + text.count("{") <= limit:
        return None
    depth = 0
    for token in _NESTING_RE.finditer(text):
        bracket = token.group()
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return token.start() + 1
        elif bracket in "]}":
            depth -= 1
    return None


# A JSON string (skipped whole: brackets in it are text) or one bracket. An unterminated
# string runs to the end, so that no quote restarts a scan (linear, whatever the line).
_NESTING_RE = re.compile(r'"(?:[^"\\]+|\\.)*(?:"|\\?\Z)|[\[\]{}]')


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        key = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _Refused(f"duplicate key {json.dumps(key, ensure_ascii=False)}; keep one of them")
    return record


def _integer(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > limits.INTEGER_DIGITS:
        raise _Refused(
            f"an integer of {digits} digits (the limit is {limits.INTEGER_DIGITS}); write a "
            'smaller number, or a string ("...") to keep it as text'
        )
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not isfinite(value):
        raise _Refused(
            f"the number {text[:40]}{'…' if len(text) > 40 else ''} is too large for a float; "
            "write a smaller number, or a string to keep it as text"
        )
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not JSON (nor a number a metric can use); write null or a number")


def _loads(text: str) -> Any:
    value = json.loads(
        text,
        object_pairs_hook=_pairs,
        parse_int=_integer,
        parse_float=_float,
        parse_constant=_constant,
    )
    if "\\u" in text and _LONE_SURROGATE_RE.search(text):
        try:  # a lone surrogate cannot be written out as UTF-8: not text
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused(
                "a string escapes half of a surrogate pair (\\uD800-\\uDFFF alone), which is "
                "not text; write the character itself, or both halves of its pair"
            ) from None
    return value


_LONE_SURROGATE_RE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _read_id(record: dict[str, Any], key: str, display: str, line: int) -> str:
    where = f'"{key}"' if key == "id" else f'"{key}" (the scenario maps id to {key})'
    if key not in record:
        raise DatasetError(f"{display}:{line}: missing {where}; every sample needs a unique id")
    value = record[key]
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise DatasetError(
            f"{display}:{line}: {where} must be a string or an integer, got {json.dumps(value)}"
        )
    if not value.strip():
        raise DatasetError(f"{display}:{line}: {where} is empty; every sample needs a unique id")
    return value


def _read_ground_truth(
    record: dict[str, Any], key: str, display: str, line: int
) -> dict[str, float]:
    value = record.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DatasetError(
            f'{display}:{line}: "{key}" must be an object of numbers, '
            f'e.g. {{"coverage": 0.9}}, got {json.dumps(value, ensure_ascii=False)}'
        )
    if all(type(score) is float and isfinite(score) for score in value.values()):
        return value  # already in the form wanted: not a second dict per sample
    scores: dict[str, float] = {}
    for metric, score in value.items():
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not isfinite(score):
            raise DatasetError(
                f"{display}:{line}: {key}.{metric} must be a finite number, "
                f"got {json.dumps(score, ensure_ascii=False)}"
            )
        scores[metric] = float(score)
    return scores
