"""A frozen dataset in a whole run: the record's dataset fingerprint names the manifest it
was verified against (its path, created time and sha256), with no xdist, `-n 0` and `-n 2`,
and the record reads back through the schema's validation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import pytest
from support.cli import Run
from support.project import Project, config_yaml, make_samples

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


def test_a_dataset_whose_ids_are_another_field_frozen_with_its_mapping_verifies_everywhere(
    project: Project, llmbench: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    samples = [
        {"msg_id": s.pop("id"), **s}
        for s in make_samples([(0.9, 0.9), (0.85, 0.95), (0.95, 0.85), (0.9, 0.9)])
    ]
    project.dataset(samples)
    project.config(
        config_yaml().replace("    smoke: 2\n", "    smoke: 2\n    fields: {id: msg_id}\n")
    )
    code, out, err = llmbench("dataset", "freeze", "data/digest.jsonl", "--scenario", "digest")
    assert (code, err) == (0, "")
    sha = manifest.read(project.root / "data/digest.manifest.json")["sha256"]
    assert out == (
        f"data/digest.jsonl: froze 4 samples (sha256 {sha[:12]}, ids from 'msg_id'); "
        "wrote data/digest.manifest.json\n"
    )
    assert manifest.read(project.root / "data/digest.manifest.json")["id_field"] == "msg_id"
    project.run("benchmarks").assert_outcomes(passed=4)
    (record,) = project.records()
    assert record["scenarios"]["digest"]["fingerprints"]["dataset"]["manifest"]["path"] == (
        "data/digest.manifest.json"
    )
    created = manifest.read(project.root / "data/digest.manifest.json")["created"]
    ok = f"data/digest.jsonl: ok (4 samples, frozen {created})\n"
    assert llmbench("dataset", "verify") == (0, ok, "")
    assert llmbench("dataset", "verify", "data/digest.jsonl", "--id-field", "msg_id") == (0, ok, "")
    assert llmbench("dataset", "verify", "data/digest.jsonl", "--scenario", "digest") == (0, ok, "")
    # Export reads the ids from the field the manifest was frozen with, and keeps them there.
    (run,) = (project.root / ".llmbench" / "runs").glob("*.json")
    code, out, err = llmbench("dataset", "export", str(run), "-o", "data/next.jsonl")
    assert (code, err) == (0, "")
    text = (project.root / "data/next.jsonl").read_text(encoding="utf-8")
    exported = [json.loads(line) for line in text.splitlines()]
    assert [line["msg_id"] for line in exported] == ["s-01", "s-02", "s-03", "s-04"]
    assert not any("id" in line for line in exported)


def test_verifying_with_another_id_field_than_the_manifest_was_frozen_with_is_refused(
    project: Project, llmbench: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project.root)
    code, _, err = llmbench("dataset", "freeze", "data/digest.jsonl", "--id-field", "input")
    assert (code, err) == (0, "")
    refusal = (
        "data/digest.jsonl: frozen with ids from field 'input' (data/digest.manifest.json), "
        "read with ids from 'id'; map them alike: the scenario's `fields: {id: input}` "
        "(llmbench dataset: --scenario NAME or --id-field input), or freeze it again with "
        "the mapping it is read with"
    )
    assert llmbench("dataset", "verify", "data/digest.jsonl") == (2, "", f"llmbench: {refusal}\n")
    result = project.run("benchmarks")
    assert result.ret == 2
    assert refusal in result.stdout.str() + result.stderr.str()
