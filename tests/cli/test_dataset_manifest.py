"""`llmbench dataset freeze` and `verify`, run through the real command: each kind of change
named by id, the exit codes 0/1/2, and a manifest never replaced by accident."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.cli import Run
from support.project import PROMPT, config_yaml, make_samples

from pytest_llmbench.datasets import manifest

Llmbench = Callable[..., Run]
FIX = "revert the file, or freeze it again with `llmbench dataset freeze data/d.jsonl`"


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    return write(make_samples([(0.9, 0.9)] * 4))


def write(samples: list[dict[str, Any]], **dumps: Any) -> Path:
    path = Path("data/d.jsonl")
    path.write_text("".join(json.dumps(s, ensure_ascii=False, **dumps) + "\n" for s in samples))
    return path


def frozen_at(llmbench: Llmbench) -> str:
    code, _, err = llmbench("dataset", "freeze", "data/d.jsonl", "--source", "tests")
    assert (code, err) == (0, "")
    return manifest.read(Path("data/d.manifest.json"))["created"]


def test_freeze_writes_the_manifest_beside_the_dataset(data: Path, llmbench: Llmbench) -> None:
    code, out, err = llmbench("dataset", "freeze", "data/d.jsonl", "--source", "prod 2025-11")
    sha = manifest.build(data)["sha256"]
    assert (code, err) == (0, "")
    assert out == f"data/d.jsonl: froze 4 samples (sha256 {sha[:12]}); wrote data/d.manifest.json\n"
    written = manifest.read(Path("data/d.manifest.json"))
    assert (written["samples"], written["source"], written["sha256"]) == (4, "prod 2025-11", sha)


def test_freezing_the_same_content_again_keeps_the_manifest(data: Path, llmbench: Llmbench) -> None:
    created = frozen_at(llmbench)
    before = Path("data/d.manifest.json").read_bytes()
    code, out, err = llmbench("dataset", "freeze", "data/d.jsonl")
    assert (code, err) == (0, "")
    assert out == (
        f"data/d.jsonl: unchanged since it was frozen ({created}); kept data/d.manifest.json\n"
    )
    assert Path("data/d.manifest.json").read_bytes() == before


def test_freeze_refuses_to_replace_a_manifest_of_other_content_without_force(
    data: Path, llmbench: Llmbench
) -> None:
    frozen_at(llmbench)
    before = Path("data/d.manifest.json").read_bytes()
    write(make_samples([(0.9, 0.9)] * 5))
    code, out, err = llmbench("dataset", "freeze", "data/d.jsonl")
    assert (code, out) == (2, "")
    assert err == (
        "llmbench: data/d.manifest.json: the manifest is of other content (1 sample added "
        "(s-05)); give the changed data a new file name (a new version), or pass --force to "
        "replace the manifest\n"
    )
    assert Path("data/d.manifest.json").read_bytes() == before
    code, out, err = llmbench("dataset", "freeze", "data/d.jsonl", "--force")
    assert (code, err) == (0, "")
    assert manifest.read(Path("data/d.manifest.json"))["samples"] == 5


def test_freeze_replaces_a_corrupt_manifest_only_with_force(data: Path, llmbench: Llmbench) -> None:
    Path("data/d.manifest.json").write_text("{", encoding="utf-8")
    code, out, err = llmbench("dataset", "freeze", "data/d.jsonl")
    assert (code, out) == (2, "")
    assert (
        err
        == f"llmbench: data/d.manifest.json: the manifest is not valid JSON; {manifest.REFREEZE}\n"
    )
    assert llmbench("dataset", "freeze", "data/d.jsonl", "--force")[0] == 0
    assert manifest.read(Path("data/d.manifest.json"))["samples"] == 4


def test_verify_passes_an_unchanged_dataset(data: Path, llmbench: Llmbench) -> None:
    created = frozen_at(llmbench)
    assert llmbench("dataset", "verify", "data/d.jsonl") == (
        0,
        f"data/d.jsonl: ok (4 samples, frozen {created})\n",
        "",
    )


@pytest.mark.parametrize(
    ("edit", "what"),
    [
        (lambda s: s + make_samples([(0.5, 0.5)] * 6)[4:], "2 samples added (s-05, s-06)"),
        (lambda s: s[:2], "2 samples removed (s-03, s-04)"),
        (lambda s: [{**s[0], "output": "other"}, *s[1:]], "1 sample edited (s-01)"),
        (lambda s: [s[1], s[0], *s[2:]], "the samples' order changed"),
    ],
    ids=["added", "removed", "edited", "reordered"],
)
def test_verify_names_what_changed_by_id_and_exits_1(
    data: Path, llmbench: Llmbench, edit: Callable[[list[Any]], list[Any]], what: str
) -> None:
    created = frozen_at(llmbench)
    write(edit(make_samples([(0.9, 0.9)] * 4)))
    assert llmbench("dataset", "verify", "data/d.jsonl") == (
        1,
        f"data/d.jsonl: changed since it was frozen (data/d.manifest.json, {created}): {what}; "
        f"{FIX} and bump the dataset version\n",
        "",
    )


def test_verify_tells_a_whitespace_only_change_from_a_changed_sample(
    data: Path, llmbench: Llmbench
) -> None:
    created = frozen_at(llmbench)
    write(make_samples([(0.9, 0.9)] * 4), indent=None, separators=(" ,", " : "))
    assert llmbench("dataset", "verify", "data/d.jsonl") == (
        1,
        f"data/d.jsonl: changed since it was frozen (data/d.manifest.json, {created}): the "
        "file's bytes changed but its samples did not (whitespace, key order or escapes only)"
        f"; {FIX}\n",
        "",
    )


def test_verify_of_a_dataset_without_a_manifest_is_a_usage_error(
    data: Path, llmbench: Llmbench
) -> None:
    assert llmbench("dataset", "verify", "data/d.jsonl") == (
        2,
        "",
        "llmbench: data/d.jsonl: no manifest beside it (data/d.manifest.json); freeze it "
        "with `llmbench dataset freeze data/d.jsonl`\n",
    )


def test_verify_without_paths_checks_every_scenario_dataset_of_the_suite(
    data: Path, llmbench: Llmbench
) -> None:
    extra = (
        "  other:\n    dataset: data/other.jsonl\n    prompt: digest_judge@v1\n"
        "    judge: default\n    metrics:\n      coverage: {pass: 0.8, warn: 0.7}\n"
    )
    Path("benchmarks").mkdir()
    Path("benchmarks/llmbench.yaml").write_text(
        config_yaml(extra_scenario=extra).replace("data/digest.jsonl", "data/d.jsonl")
    )
    Path("data/other.jsonl").write_text('{"id": "o-1"}\n')
    Path("prompts/digest_judge").mkdir(parents=True)
    Path("prompts/digest_judge/v1.yaml").write_text(PROMPT)
    created = frozen_at(llmbench)
    assert llmbench("dataset", "verify") == (
        0,
        f"data/d.jsonl: ok (4 samples, frozen {created})\ndata/other.jsonl: not frozen (no manifest)\n",
        "",
    )
    write(make_samples([(0.9, 0.9)] * 3))
    code, out, _ = llmbench("dataset", "verify")
    assert code == 1
    assert out.splitlines()[0].endswith(
        f"1 sample removed (s-04); {FIX} and bump the dataset version"
    )


def test_verify_without_paths_or_suite_config_says_what_to_pass(
    data: Path, llmbench: Llmbench
) -> None:
    code, out, err = llmbench("dataset", "verify")
    assert (code, out) == (2, "")
    assert err.startswith("llmbench: no PATH and no suite config at ")
    assert err.endswith("; name the datasets, or pass --config FILE\n")


def test_verify_of_a_corrupt_manifest_names_the_key(data: Path, llmbench: Llmbench) -> None:
    frozen_at(llmbench)
    raw = json.loads(Path("data/d.manifest.json").read_text())
    raw["samples"] = -1
    Path("data/d.manifest.json").write_text(json.dumps(raw))
    assert llmbench("dataset", "verify", "data/d.jsonl") == (
        2,
        "",
        "llmbench: data/d.manifest.json: manifest key 'samples' is not a positive integer; "
        f"{manifest.REFREEZE}\n",
    )
