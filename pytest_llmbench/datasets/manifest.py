"""A dataset's manifest, ``<name>.manifest.json`` beside it: what the frozen version holds.

The manifest pins the file's bytes (``sha256``) and, per sample id, a hash of that sample's
line, so a change can be named by id (added, removed, edited) rather than "the hash differs".
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypedDict

from pytest_llmbench.benchmark.dataset import Dataset, json_type, load_dataset
from pytest_llmbench.errors import DatasetError, os_reason

MANIFEST_VERSION = 1
SUFFIX = ".manifest.json"
SAMPLE_HASH_CHARS = 16  # 64 bits per sample: enough to tell edits apart, 100k ids in ~3 MB


class ScrubReport(TypedDict):
    """What a scrub did: counts per kind of personal data replaced, never the values."""

    status: Literal["scrubbed", "not scrubbed"]
    counts: dict[str, int]  # kind (EMAIL, PHONE, PERSON, ...) -> placeholders written
    scrubber: str  # the tool and its models' versions; "" when not scrubbed


class _ManifestRequired(TypedDict):
    manifest_version: int  # MANIFEST_VERSION
    dataset: str  # the data file's name (the manifest sits beside it)
    sha256: str  # of the file's bytes
    samples: int
    ids_sha256: str  # of the ids in file order, each followed by "\n"
    sample_sha256: dict[str, str]  # id -> first SAMPLE_HASH_CHARS hex of its canonical JSON
    fields: dict[str, list[str]]  # top-level field -> the JSON types it holds, sorted
    created: str  # ISO 8601 UTC, seconds
    source: str  # where the data came from, as the freezer said ("" unknown)
    scrub: ScrubReport
    tool_version: str  # "pytest-llmbench X.Y.Z"


class Manifest(_ManifestRequired, total=False):
    # The field the ids were read from (a scenario's `fields: {id: ...}`); "id" when absent
    # (a manifest older than the key). Verifying with another id field is refused.
    id_field: str


NOT_SCRUBBED: ScrubReport = {"status": "not scrubbed", "counts": {}, "scrubber": ""}


def manifest_path(dataset: Path) -> Path:
    """``data/x/2025-11-09_samples.jsonl`` -> ``data/x/2025-11-09_samples.manifest.json``."""
    return dataset.with_name(dataset.stem + SUFFIX)


def sample_hash(fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[
        :SAMPLE_HASH_CHARS
    ]


def build(
    dataset: Path,
    *,
    display: str | None = None,
    source: str = "",
    scrub: ScrubReport | None = None,
    now: datetime | None = None,
) -> Manifest:
    """The manifest of the dataset as it is now (read with the plugin's own reader, so a file
    the plugin would refuse is refused here with the same line)."""
    data = load_dataset(dataset, display or str(dataset))
    return of_dataset(data, source=source, scrub=scrub, now=now)


def of_dataset(
    data: Dataset,
    *,
    source: str = "",
    scrub: ScrubReport | None = None,
    now: datetime | None = None,
) -> Manifest:
    """The manifest of a dataset already read (pure: the plugin builds it from the samples
    it loaded, so that verifying a frozen dataset reads the file once)."""
    from pytest_llmbench import __version__

    types: dict[str, set[str]] = {}
    for sample in data.samples:
        for key, value in sample.fields.items():
            types.setdefault(key, set()).add(json_type(value))
    ids = "".join(f"{sample.id}\n" for sample in data.samples)
    return {
        "manifest_version": MANIFEST_VERSION,
        "dataset": data.path.name,
        "sha256": data.sha256,
        "samples": len(data.samples),
        "ids_sha256": hashlib.sha256(ids.encode("utf-8", "surrogatepass")).hexdigest(),
        "sample_sha256": {s.id: sample_hash(s.fields) for s in data.samples},
        "fields": {key: sorted(kinds) for key, kinds in sorted(types.items())},
        "created": (now or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": source,
        "scrub": scrub or NOT_SCRUBBED,
        "tool_version": f"pytest-llmbench {__version__}",
        "id_field": data.id_field,
    }


def write(dataset: Path, manifest: Manifest) -> Path:
    """Write the manifest beside the dataset (whole, then renamed into place)."""
    path = manifest_path(dataset)
    text = json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot write the manifest ({os_reason(exc, path)})") from None
    return path


_HEX64 = frozenset("0123456789abcdef")
MAX_MANIFEST_BYTES = 256 * 1024 * 1024  # 100k samples take about 3 MB
REFREEZE = "restore it, or freeze the dataset again with `llmbench dataset freeze --force`"


def read(path: Path, display: str | None = None) -> Manifest:
    """A manifest read back and checked key by key: a corrupt one is one line naming the key
    (and the file, as ``display`` or else the path)."""
    return load(path, display)[0]


def load(path: Path, display: str | None = None) -> tuple[Manifest, str]:
    """``read(path)`` and the sha256 of the manifest file's bytes (what a run record names)."""
    shown = display or str(path)
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise DatasetError(f"{shown}: the manifest is over 256 MiB; {REFREEZE}")
        data = path.read_bytes()
        raw = json.loads(data.decode("utf-8"))
    except OSError as exc:
        raise DatasetError(f"{shown}: cannot read the manifest ({os_reason(exc, path)})") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise DatasetError(f"{shown}: the manifest is not valid JSON; {REFREEZE}") from None
    return validate(raw, shown), hashlib.sha256(data).hexdigest()


def validate(raw: Any, path: Path | str) -> Manifest:
    def bad(key: str, what: str) -> DatasetError:
        return DatasetError(f"{path}: manifest key {key!r} {what}; {REFREEZE}")

    if not isinstance(raw, dict):
        raise bad("(top level)", "is not an object")
    if raw.get("manifest_version") != MANIFEST_VERSION:
        raise bad("manifest_version", f"is not {MANIFEST_VERSION}")

    def digest(key: str, value: Any, size: int = 64) -> str:
        if not (isinstance(value, str) and len(value) == size and _HEX64.issuperset(value)):
            raise bad(key, f"is not {size} lowercase hex digits")
        return value

    def text(key: str) -> str:
        value = raw.get(key)
        if not isinstance(value, str):
            raise bad(key, "is not a string")
        return value

    samples = raw.get("samples")
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        raise bad("samples", "is not a positive integer")
    hashes = raw.get("sample_sha256")
    if not isinstance(hashes, dict) or len(hashes) != samples:
        raise bad("sample_sha256", "is not an object with one hash per sample")
    for sample_id, value in hashes.items():
        digest(f"sample_sha256.{sample_id}", value, SAMPLE_HASH_CHARS)
    fields = raw.get("fields")
    if not isinstance(fields, dict) or not all(
        isinstance(kinds, list) and all(isinstance(k, str) for k in kinds)
        for kinds in fields.values()
    ):
        raise bad("fields", "is not an object of type lists")
    scrub = raw.get("scrub")
    if (
        not isinstance(scrub, dict)
        or scrub.get("status") not in ("scrubbed", "not scrubbed")
        or not isinstance(scrub.get("counts"), dict)
        or not all(
            isinstance(k, str) and type(v) is int and v >= 0 for k, v in scrub["counts"].items()
        )
        or not isinstance(scrub.get("scrubber"), str)
    ):
        raise bad("scrub", "is not a scrub report (status, counts, scrubber)")
    id_field = raw.get("id_field", "id")
    if not isinstance(id_field, str) or not id_field or not id_field.isprintable():
        raise bad("id_field", "is not a field name")
    return {
        "manifest_version": MANIFEST_VERSION,
        "dataset": text("dataset"),
        "sha256": digest("sha256", raw.get("sha256")),
        "samples": samples,
        "ids_sha256": digest("ids_sha256", raw.get("ids_sha256")),
        "sample_sha256": dict(hashes),
        "fields": {key: list(kinds) for key, kinds in fields.items()},
        "created": text("created"),
        "source": text("source"),
        "scrub": {
            "status": scrub["status"],
            "counts": dict(scrub["counts"]),
            "scrubber": scrub["scrubber"],
        },
        "tool_version": text("tool_version"),
        "id_field": id_field,
    }
