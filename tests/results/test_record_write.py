"""Writing a run record where the disk refuses: the error is the caller's to report, and no
half-written temporary file is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.records import entry, make_record

from pytest_llmbench.results import record as record_mod


def test_a_copy_that_cannot_be_written_raises_and_leaves_no_temporary_file(
    tmp_path: Path,
) -> None:
    record = make_record([entry(0, 0.9), entry(1, 0.8)])
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    first = tmp_path / "runs" / "r.json"
    with pytest.raises(FileExistsError):  # its parent is a file
        record_mod.write(record, first, blocker / "copy.json")
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == []
    record_mod.write(record, first)  # on its own, the first path is written
    assert record_mod.load(first)["scenarios"].keys() == {"digest"}


def test_a_lone_surrogate_is_written_as_its_json_escape_and_reads_back(tmp_path: Path) -> None:
    record = make_record([entry(0, 0.9)])
    record["scenarios"]["digest"]["samples"][0]["reason"] = "bad \ud800 text"
    path = tmp_path / "run.json"
    record_mod.write(record, path)
    assert '"reason": "bad \\ud800 text"' in path.read_text(encoding="utf-8")
    assert record_mod.load(path) == record
