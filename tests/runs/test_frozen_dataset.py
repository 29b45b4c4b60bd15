"""A frozen dataset in a whole run: the record's dataset fingerprint names the manifest it
was verified against (its path, created time and sha256), with no xdist, `-n 0` and `-n 2`,
and the record reads back through the schema's validation."""

from __future__ import annotations

import hashlib
import json

import pytest
from support.project import Project

from pytest_llmbench.datasets import manifest
from pytest_llmbench.errors import RecordError
from pytest_llmbench.results import record as record_mod


def test_the_record_of_a_frozen_dataset_names_its_manifest(
    project: Project, xdist_args: list[str]
) -> None:
    path = project.root / "data" / "digest.jsonl"
    written = manifest.write(path, manifest.build(path, source="tests"))
    project.run("benchmarks", *xdist_args).assert_outcomes(passed=4)
    (record_path,) = (project.root / ".llmbench" / "runs").glob("*.json")
    fingerprint = record_mod.load(record_path)["scenarios"]["digest"]["fingerprints"]["dataset"]
    assert fingerprint.get("manifest") == {
        "path": "data/digest.manifest.json",
        "created": manifest.read(written)["created"],
        "sha256": hashlib.sha256(written.read_bytes()).hexdigest(),
    }
    assert fingerprint["sha256"] == manifest.read(written)["sha256"]


def test_the_record_of_a_dataset_never_frozen_names_no_manifest(project: Project) -> None:
    project.run("benchmarks").assert_outcomes(passed=4)
    (record,) = project.records()
    assert "manifest" not in record["scenarios"]["digest"]["fingerprints"]["dataset"]


@pytest.mark.parametrize("part", ["path", "created", "sha256"])
def test_a_record_whose_manifest_fingerprint_is_damaged_is_refused_naming_the_key(
    project: Project, part: str
) -> None:
    path = project.root / "data" / "digest.jsonl"
    manifest.write(path, manifest.build(path))
    project.run("benchmarks").assert_outcomes(passed=4)
    (record_path,) = (project.root / ".llmbench" / "runs").glob("*.json")
    raw = json.loads(record_path.read_text(encoding="utf-8"))
    raw["scenarios"]["digest"]["fingerprints"]["dataset"]["manifest"][part] = 7
    record_path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(RecordError) as caught:
        record_mod.load(record_path)
    assert f"scenarios.digest.fingerprints.dataset.manifest.{part}" in str(caught.value)
