"""A baseline is one run record or a folder of them, one per scenario (as `llmbench baseline
promote` writes): the folder's scenarios are joined, each compared with its own file."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.records import entry, make_record

from pytest_llmbench.errors import RecordError
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.baselines import load_baselines


def promoted(folder: Path, scenario: str, accuracy: float = 0.9) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{scenario}.json"
    record_mod.write(make_record([entry(i, accuracy) for i in range(3)], scenario=scenario), path)
    return path


def test_a_folder_joins_every_scenarios_baseline(tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    promoted(folder, "digest", 0.9)
    promoted(folder, "summary", 0.5)
    (folder / "README.md").write_text("not a record", encoding="utf-8")
    joined = load_baselines(folder)
    assert sorted(joined["scenarios"]) == ["digest", "summary"]
    assert (
        joined["scenarios"]["summary"]
        == record_mod.load(folder / "summary.json")["scenarios"]["summary"]
    )
    assert joined["run"] == record_mod.load(folder / "digest.json")["run"]


def test_a_file_is_read_as_one_record(tmp_path: Path) -> None:
    path = promoted(tmp_path / "b", "digest")
    assert load_baselines(path) == record_mod.load(path)


def test_a_scenario_in_two_files_is_refused_naming_both(tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    first = promoted(folder, "digest")
    second = folder / "digest-copy.json"
    second.write_bytes(first.read_bytes())
    with pytest.raises(RecordError) as caught:
        load_baselines(folder)
    assert str(caught.value) == (
        f"{first}: scenario 'digest' is also in {second}; keep one baseline per scenario "
        "in the folder"
    )


def test_an_empty_folder_says_how_to_make_a_baseline(tmp_path: Path) -> None:
    with pytest.raises(RecordError) as caught:
        load_baselines(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: no run records (*.json) in this baselines folder; promote one with "
        "`llmbench baseline promote RUN.json`"
    )


def test_a_damaged_file_in_the_folder_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "baselines"
    promoted(folder, "digest")
    (folder / "summary.json").write_text("{", encoding="utf-8")
    with pytest.raises(RecordError, match=r"summary\.json:1: not JSON"):
        load_baselines(folder)
