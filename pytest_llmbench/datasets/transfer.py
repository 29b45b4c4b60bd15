"""Datasets made from other data: a run record's scenario exported as the next dataset, and
rows imported (mapped, de-duplicated, sampled) from another source. Pure functions over
rows; reading sources is ``datasets/sources.py``, files are written by ``write_dataset``.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.dataset import Dataset, load_dataset
from pytest_llmbench.datasets import sampling
from pytest_llmbench.datasets.sources import Row
from pytest_llmbench.errors import DatasetError, os_reason
from pytest_llmbench.results.schema import ScenarioRecord

# -- export -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    lines: list[dict[str, Any]]
    outputs: int  # samples whose output is the one the run's output function produced
    truncated: int  # of those, cut at 64 KiB in the record (exported as cut)
    unscored: int  # samples the run did not score: exported without ground_truth


def export(scenario: ScenarioRecord, dataset: Dataset, variant: str | None = None) -> Exported:
    """Each of the record's samples (in its order; with variants, those of ``variant``,
    else once per id, the first) as a dataset line: the dataset's own line (ids, inputs,
    references, other fields), the output the run produced when it recorded one, and its
    judged scores as ``ground_truth`` (none when unscored, so that a dry run of the new
    dataset leaves it unscored too).
    Field metrics (latency) are the dataset's fields, kept as the run read them."""
    by_id = {s.id: s for s in dataset.samples}
    metrics = scenario["fingerprints"]["metrics"]
    judged = [name for name, rule in metrics.items() if rule["source"] == "judge"]
    lines: list[dict[str, Any]] = []
    seen: set[str] = set()
    outputs = truncated = unscored = 0
    for entry in scenario["samples"]:
        if variant is not None and entry.get("variant") != variant:
            continue
        if entry["id"] in seen:
            continue
        seen.add(entry["id"])
        sample = by_id.get(entry["id"])
        if sample is None:
            raise DatasetError(
                f"{dataset.display}: has no sample {entry['id']!r} of the run; point "
                "--dataset at the file the run read"
            )
        line = dict(sample.fields)
        if "output" in entry:
            line["output"] = entry["output"]
            outputs += 1
            truncated += bool(entry.get("output_truncated"))
        scores = entry["scores"]
        ground_truth = {m: scores[m] for m in judged if m in scores}
        if entry["status"] == "scored" and ground_truth:
            line["ground_truth"] = ground_truth
        else:
            line.pop("ground_truth", None)
            unscored += 1
        lines.append(line)
    return Exported(lines, outputs, truncated, unscored)


# -- import -------------------------------------------------------------------------------


def renamed(rows: Sequence[Row], mapping: Mapping[str, str]) -> list[Row]:
    """Each row with the source's fields under the dataset's names (``--map id=msg_id``:
    ``msg_id`` becomes ``id``), the canonical fields first; other fields as they were."""
    if not mapping:
        return list(rows)
    out = []
    for where, record in rows:
        moved = {canon: record[src] for canon, src in mapping.items() if src in record}
        rest = {k: v for k, v in record.items() if k not in mapping.values() and k not in moved}
        out.append((where, {**moved, **rest}))
    return out


def row_id(where: str, record: Mapping[str, Any], id_key: str) -> str:
    value = record.get(id_key)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    if value is None:
        raise DatasetError(
            f"{where}: no {id_key!r} field (the id); map it with --map id=FIELD, or give "
            "every row an id"
        )
    raise DatasetError(
        f"{where}: {id_key!r} must be a non-empty string or an integer, got "
        f"{json.dumps(value, ensure_ascii=False)[:80]}"
    )


def deduplicated(rows: Sequence[Row], id_key: str) -> tuple[list[Row], int]:
    """The first row of each id, in order, and how many later rows were dropped."""
    seen: set[str] = set()
    kept = []
    for where, record in rows:
        sample_id = row_id(where, record, id_key)
        if sample_id not in seen:
            seen.add(sample_id)
            kept.append((where, record))
    return kept, len(rows) - len(kept)


def sampled(rows: Sequence[Row], size: int, seed: int, stratify: str | None) -> list[Row]:
    def stratum(row: Row) -> str:
        record = row[1]
        assert stratify is not None
        return sampling.stratum_key(record[stratify]) if stratify in record else sampling.MISSING

    return sampling.sample(rows, size, seed, stratum if stratify else None)


# -- writing ------------------------------------------------------------------------------


def write_dataset(
    lines: Sequence[Mapping[str, Any]],
    path: Path,
    display: str,
    fields: Mapping[str, str] | None = None,
) -> Dataset:
    """Write the lines as JSONL, read the file back with the plugin's reader (so a dataset
    written here is one the plugin loads: the same error otherwise), then move it into
    place, its folder made when missing. Nothing is left at ``path`` when it fails."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # a new version's folder (_v2)
        with partial.open("w", encoding="utf-8", newline="\n") as out:
            for line in lines:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
    except OSError as error:
        _remove(partial)
        raise DatasetError(f"{display}: cannot write ({os_reason(error, path)})") from None
    try:
        data = load_dataset(partial, display, fields)
        os.replace(partial, path)
    except DatasetError:
        _remove(partial)
        raise
    except OSError as error:
        _remove(partial)
        raise DatasetError(f"{display}: cannot write ({os_reason(error, path)})") from None
    return Dataset(path, display, data.samples, data.sha256, data.id_field)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()
