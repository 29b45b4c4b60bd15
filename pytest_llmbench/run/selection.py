"""Which samples a run selected, per scenario: what gating and "every selected sample is in
the record exactly once" are decided against.

Every process collects the same items (xdist requires it). Under xdist the controller
collects nothing, so each worker writes what it selected to
``<run-id>.selection-<worker>.json`` beside the journal right after collection: the
controller then knows every selected sample, also one whose worker crashed before it
reported anything.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Set
from pathlib import Path
from typing import Literal

# scenario -> {node id: item key}: the sample id, or with `variants:` item_key(id, variant)
Selection = dict[str, dict[str, str]]
Coverage = Literal["all", "smoke", "subset"]
_VARIANT_MARK = "\x1f"  # never in a variant name (ASCII-safe), so the last one splits


def item_key(sample_id: str, variant: str = "") -> str:
    """A selected item's key: its sample id, with `variants:` joined with its variant."""
    return f"{sample_id}{_VARIANT_MARK}{variant}" if variant else sample_id


def split_key(key: str, variants: bool) -> tuple[str, str]:
    """(sample id, variant) of an item key; a scenario with variants must have one."""
    if not variants:
        return key, ""
    sample_id, mark, variant = key.rpartition(_VARIANT_MARK)
    return (sample_id, variant) if mark else (key, "")


def write(path: Path, selection: Selection) -> None:
    """Atomically, so the controller never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(selection, ensure_ascii=False, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def read_all(paths: Iterable[Path]) -> Selection:
    """The union of the workers' files (they should agree); an unreadable one is skipped:
    the payloads that did arrive still say what ran."""
    found: Selection = {}
    for path in sorted(paths):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict):
            continue
        for scenario, items in data.items():
            if isinstance(scenario, str) and isinstance(items, dict):
                mine = found.setdefault(scenario, {})
                mine.update({str(k): str(v) for k, v in items.items()})
    return found


def coverage(selected: Set[str], every: Set[str], smoke: Set[str]) -> Coverage:
    """Whether the selected sample ids are the scenario whole, its smoke set whole, or a
    strict part of either (which reports but does not gate), however they were selected."""
    if selected == every:
        return "all"
    if smoke and selected == smoke:
        return "smoke"
    return "subset"
