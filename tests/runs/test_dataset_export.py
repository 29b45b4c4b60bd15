"""`llmbench dataset export` of a real run record (a dry run of the project), re-imported and
re-run: the same scores on the dry-run judge; the outputs an output function produced
become the dataset's; a dataset moved or changed since the run is one line saying so."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import Run
from support.project import Project, config_yaml, make_samples

Llmbench = Callable[..., Run]


@pytest.fixture
def ran(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dry run of the project whose third sample has no stored scores (so it is unscored);
    the current directory is the project's root. Its record's path."""
    samples = make_samples([(0.9, 0.8), (0.7, 0.95), (0.5, 0.5), (0.85, 0.9)])
    del samples[2]["ground_truth"]
    project.dataset(samples)
    project.run("benchmarks")
    monkeypatch.chdir(project.root)
    (record,) = (project.root / ".llmbench" / "runs").glob("*.json")
    return record.relative_to(project.root)


def results(project: Project) -> list[tuple[str, str, dict[str, float]]]:
    samples = project.records()[-1]["scenarios"]["digest"]["samples"]
    return [(s["id"], s["status"], s["scores"]) for s in samples]


def lines(path: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_an_exported_run_re_imported_and_re_run_gives_the_same_scores(
    project: Project, ran: Path, llmbench: Llmbench, xdist_args: list[str]
) -> None:
    before = results(project)
    assert llmbench("dataset", "export", str(ran), "-o", "data/exported.jsonl") == (
        0,
        f"data/exported.jsonl: 4 samples from scenario digest of {ran} (0 with the run's "
        "outputs, 1 unscored, without ground_truth)\n",
        "",
    )
    exported = lines("data/exported.jsonl")
    assert [line["id"] for line in exported] == ["s-01", "s-02", "s-03", "s-04"]
    assert exported[0]["ground_truth"] == {"accuracy": 0.8, "coverage": 0.9}
    assert "ground_truth" not in exported[2]
    assert exported[0]["latency_seconds"] == 101.0
    assert llmbench("dataset", "import", "data/exported.jsonl", "-o", "data/again.jsonl")[0] == 0
    project.config(config_yaml().replace("data/digest.jsonl", "data/again.jsonl"))
    project.run("benchmarks", *xdist_args)
    assert results(project) == before


def test_the_outputs_an_output_function_produced_become_the_datasets(
    project: Project, monkeypatch: pytest.MonkeyPatch, llmbench: Llmbench
) -> None:
    project.write("pytest.ini", "[pytest]\npythonpath = .\n")
    project.write("mymod.py", "def make(sample):\n    return 'made for ' + sample.id\n")
    project.write(
        "benchmarks/test_digest.py",
        'import pytest\n\n\n@pytest.mark.llmbench("digest")\n'
        "def test_digest(sample, output, judge):\n    judge(output)\n",
    )
    project.config(config_yaml(extra_scenario="    output: mymod:make\n"))
    project.run("benchmarks").assert_outcomes(passed=4)
    monkeypatch.chdir(project.root)
    (record,) = Path(".llmbench/runs").glob("*.json")
    code, out, err = llmbench("dataset", "export", str(record), "-o", "next.jsonl")
    assert (code, err) == (0, "")
    assert "(4 with the run's outputs)" in out
    assert [line["output"] for line in lines("next.jsonl")] == [
        f"made for s-0{n}" for n in range(1, 5)
    ]


def test_a_dataset_changed_since_the_run_is_refused_naming_it(
    project: Project, ran: Path, llmbench: Llmbench
) -> None:
    record = json.loads(ran.read_text(encoding="utf-8"))
    sha = record["scenarios"]["digest"]["fingerprints"]["dataset"]["sha256"]
    project.dataset(make_samples([(0.9, 0.9)] * 4))
    code, out, err = llmbench("dataset", "export", str(ran), "-o", "x.jsonl")
    now = hashlib.sha256(Path("data/digest.jsonl").read_bytes()).hexdigest()
    assert (code, out) == (2, "")
    assert err == (
        f"llmbench: data/digest.jsonl: not the file the run read (sha256 {now[:12]}, the "
        f"record's {sha[:12]}): changed or replaced since; pass --dataset PATH to the file "
        "the run read\n"
    )
    assert not Path("x.jsonl").exists()


def test_a_dataset_moved_since_the_run_is_found_with_dataset(
    project: Project, ran: Path, llmbench: Llmbench
) -> None:
    Path("data/digest.jsonl").rename("moved.jsonl")
    assert llmbench("dataset", "export", str(ran), "-o", "x.jsonl") == (
        2,
        "",
        f"llmbench: data/digest.jsonl: not found (the dataset {ran} names); pass --dataset "
        "PATH to the file the run read, or --rootdir DIR\n",
    )
    code, _, err = llmbench(
        "dataset", "export", str(ran), "-o", "v2/x.jsonl", "--dataset", "moved.jsonl"
    )
    assert (code, err) == (0, "")
    assert len(lines("v2/x.jsonl")) == 4  # the new version's folder made


def test_export_names_the_scenarios_when_one_is_not_picked(
    project: Project, ran: Path, llmbench: Llmbench
) -> None:
    assert llmbench("dataset", "export", str(ran), "-o", "x.jsonl", "--scenario", "faq") == (
        2,
        "",
        f"llmbench: --scenario faq: not in {ran}; its scenarios: digest\n",
    )


def test_export_of_a_variant_from_a_scenario_without_variants_is_refused(
    ran: Path, llmbench: Llmbench
) -> None:
    assert llmbench("dataset", "export", str(ran), "-o", "x.jsonl", "--variant", "long") == (
        2,
        "",
        f"llmbench: --variant long: scenario digest of {ran} has no variants\n",
    )
