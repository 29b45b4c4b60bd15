"""Model outputs on disk (`output_cache: true`): what a scenario's `output: module:function`
returned for a sample, so that a re-run with another judge prompt re-judges without
regenerating. A SqliteStore beside the judge reply cache, shared the same way.

Keyed by the function's import path, the scenario's `output_version:` and the sample's id
and input, and nothing else: a changed function body is a new `output_version:`. Only
outputs that are plain JSON (text, numbers, booleans, None, lists and string-keyed
mappings of them) of bounded size are stored; anything else is produced again every run.
Every entry is checked on read (its version, checksum and shape); one that fails is
dropped and the output produced again.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
from dataclasses import dataclass
from typing import Any

from pytest_llmbench.judging.sqlite_store import BadEntry, SqliteStore, stored_object

__all__ = [
    "ENTRY_VERSION",
    "FILENAME",
    "MAX_ENTRY_CHARS",
    "OutputCache",
    "StoredOutput",
    "decode_output",
    "encode_output",
    "output_key",
]

KEY_VERSION = 1
ENTRY_VERSION = 1
FILENAME = "model-outputs.sqlite3"
MAX_ENTRY_CHARS = 4_000_000  # a long digest is some 10 KB; a stored value past this is not one
_MAX_DEPTH = 32


def output_key(
    function: str, version: str, sample_id: str, sample_input: Any, variant: str = ""
) -> str:
    """Everything the stored output stands for: the function (`module:function`), the
    scenario's output_version, the sample's id and input, and with `variants:` the
    variant's fingerprint (its params, the function and output_version)."""
    parts: dict[str, Any] = {
        "v": KEY_VERSION,
        "function": function,
        "version": version,
        "id": sample_id,
        "input": sample_input,
    }
    if variant:  # absent otherwise: the keys of scenarios without variants stay as they were
        parts["variant"] = variant
    # default=repr: an input is JSON as read from the dataset; this only keeps a key total.
    blob = json.dumps(
        parts, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=repr
    )
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True)
class StoredOutput:
    """A stored output (None is one, so a miss is no StoredOutput at all)."""

    value: Any


def is_plain(value: object, depth: int = 0) -> bool:
    """Whether `value` reads back from JSON as exactly itself (type included)."""
    if depth > _MAX_DEPTH:
        return False
    if value is None or isinstance(value, (str, bool, int)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if type(value) is list:
        return all(is_plain(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(
            isinstance(key, str) and is_plain(item, depth + 1) for key, item in value.items()
        )
    return False


def encode_output(value: object) -> str | None:
    """The stored text of an output, with its version and a checksum; None for an output
    that cannot be stored (not plain JSON, or too large)."""
    if not is_plain(value):
        return None
    text = json.dumps(
        {"v": ENTRY_VERSION, "sha256": _digest(value), "output": value},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )
    if len(text) > MAX_ENTRY_CHARS:
        return None
    try:
        text.encode("utf-8")  # SQLite takes no lone surrogate
    except UnicodeEncodeError:
        return None
    return text


def decode_output(value: object) -> StoredOutput:
    """The output stored as `value`; BadEntry when it cannot be trusted."""
    data = stored_object(value, MAX_ENTRY_CHARS, ENTRY_VERSION)
    if set(data) != {"v", "sha256", "output"}:
        raise BadEntry("entry has the wrong shape")
    output = data["output"]
    if not is_plain(output):
        raise BadEntry("output is not plain JSON")
    if data["sha256"] != _digest(output):
        raise BadEntry("checksum mismatch")
    return StoredOutput(output)


def _digest(output: object) -> str:
    blob = json.dumps(output, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class OutputCache(SqliteStore):
    """The output store of one process (see SqliteStore: nothing raises for a locked or
    unreadable file)."""

    FILENAME = FILENAME
    TABLE = "outputs"
    LABEL = "output cache"
    HOLDS = "model outputs"
    ENTRIES = "outputs"

    def get(self, key: str) -> StoredOutput | None:
        """The stored output for `key`; None for a miss, also when the disk fails under
        the cache (an I/O error: noted, and the output produced again)."""
        try:
            return self._get(key, decode_output)
        except (OSError, sqlite3.Error) as error:
            self._notes.add(f"{self.LABEL} {self.display}: an output could not be read: {error}")
            return None

    def put(self, key: str, output: object) -> bool:
        """Store `output`; False when it is not one that can be stored (or the disk
        refused it: then nothing more is stored this run, with a note)."""
        blob = encode_output(output)
        if blob is None or self.read_only:
            return False
        try:
            self._put(key, blob)
        except (OSError, sqlite3.Error) as error:
            self.read_only = True  # a disk that filled up mid-run: stop storing
            self._notes.add(f"{self.LABEL} {self.display}: new outputs not kept: {error}")
            return False
        return True
