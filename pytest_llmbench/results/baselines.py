"""The baseline a run is compared with: one run record, or a folder of them.

``llmbench baseline promote`` writes one record per scenario (``<dir>/<scenario>.json``);
``--llmbench-baseline DIR`` and ``llmbench report/compare --baseline DIR`` read every
``*.json`` in that folder and compare each scenario with its own file.
"""

from __future__ import annotations

import copy
from pathlib import Path

from pytest_llmbench.errors import RecordError
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord

MAX_FILES = 1000  # a baselines folder holds one file per scenario


def load_baselines(path: Path) -> RunRecord:
    """The record at ``path``; for a folder, its records joined: every scenario of every
    ``*.json`` file (the run block and top level of the first file by name). A scenario in
    two files, or a folder without records, is a RecordError naming the files."""
    if not path.is_dir():
        return record_mod.load(path)
    files = sorted(p for p in path.glob("*.json") if p.is_file())
    if not files:
        raise RecordError(
            f"{path}: no run records (*.json) in this baselines folder; promote one with "
            "`llmbench baseline promote RUN.json`"
        )
    if len(files) > MAX_FILES:
        raise RecordError(f"{path}: {len(files)} files, more than {MAX_FILES} baselines")
    joined: RunRecord | None = None
    where: dict[str, Path] = {}
    for file in files:
        record = record_mod.load(file)
        for name in record["scenarios"]:
            if name in where:
                raise RecordError(
                    f"{file}: scenario {name!r} is also in {where[name]}; keep one baseline "
                    "per scenario in the folder"
                )
            where[name] = file
        if joined is None:
            joined = copy.deepcopy(record)
        else:
            joined["scenarios"].update(record["scenarios"])
    assert joined is not None
    return joined
