"""Joining shard records: the refusals and the merged record (pure), and whole sharded runs
of a project whose merge equals the unsharded run byte for byte."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.project import SORTED_CONFIG, TWELVE, Project, make_samples, without_footer
from support.records import FINGERPRINTS, entry, make_record, variants_run, with_fingerprint

from pytest_llmbench.cli import main as cli
from pytest_llmbench.errors import MergeError
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.merge import merge
from pytest_llmbench.results.schema import RunRecord
from pytest_llmbench.run.item_side import in_shard


def shards_of(
    scores: Sequence[float | None], count: int, **kwargs: Any
) -> list[tuple[str, RunRecord]]:
    """Records of shard k/count holding positions p with p % count == k - 1."""
    return [
        (
            f"shard{k}.json",
            make_record(
                [entry(p, s) for p, s in enumerate(scores) if p % count == k - 1],
                shard=(k, count),
                run={
                    "id": f"20251109T03000{k}Z-00000{k}",
                    "started_at": f"2025-11-09T03:00:0{k}Z",
                    "finished_at": f"2025-11-09T03:00:{10 + 5 * k}Z",
                    "duration_s": 5.0 + k,
                },
                **kwargs,
            ),
        )
        for k in range(1, count + 1)
    ]


SCORES = [0.9, 0.6, 0.85, 0.95, 0.75, 0.8]


# -- the merged record -----------------------------------------------------------------


def test_merged_shards_equal_the_unsharded_record_apart_from_the_run_block() -> None:
    whole = make_record([entry(p, s) for p, s in enumerate(SCORES)])
    merged, notes = merge(shards_of(SCORES, 3), run_id="merged-1")
    assert notes == []
    assert record_mod.dumps(record_mod.deterministic_view(merged)) == record_mod.dumps(
        record_mod.deterministic_view(whole)
    )
    assert [s["id"] for s in merged["scenarios"]["digest"]["samples"]] == [
        "s-01",
        "s-02",
        "s-03",
        "s-04",
        "s-05",
        "s-06",
    ]
    assert (merged["shard"], merged["gated"], merged["partial"]) == (None, True, False)


def test_the_merged_verdict_is_derived_once_over_all_samples() -> None:
    # Shard 1 alone passes (0.9, 0.9), shard 2 alone fails (0.6, 0.76); together 0.79: warn.
    shards = shards_of([0.9, 0.6, 0.9, 0.76], 2)
    assert [r["scenarios"]["digest"]["status"] for _, r in shards] == ["pass", "fail"]
    merged, _ = merge(shards, run_id="m")
    assert merged["status"] == "warn"
    assert merged["problems"] == [
        "accuracy of digest is in its warn band: 0.790 (pass ≥ 0.8, warn ≥ 0.7)"
    ]


def test_usage_and_cost_are_summed_over_the_shards() -> None:
    shards = shards_of(SCORES, 2, cost=0.0125)
    merged, _ = merge(shards, run_id="m")
    usage = merged["scenarios"]["digest"]["usage"]
    assert usage == {
        "cached": 0,
        "completion_tokens": 60,
        "cost_usd": 0.025,
        "http_requests": 6,
        "judge_calls": 6,
        "prompt_tokens": 600,
        "retries": 0,
    }


def test_the_run_block_spans_the_shards_and_keeps_one_line_per_shard() -> None:
    merged, _ = merge(shards_of(SCORES, 3), run_id="merged-1", argv=["llmbench", "merge"])
    run = merged["run"]
    assert run["id"] == "merged-1"
    assert run["argv"] == ["llmbench", "merge"]
    assert (run["started_at"], run["finished_at"]) == (
        "2025-11-09T03:00:01Z",
        "2025-11-09T03:00:25Z",
    )
    assert run["duration_s"] == 24.0  # wall clock from the first start to the last finish
    assert run["compute_s"] == 21.0  # 6 + 7 + 8: the shards' own durations added
    assert run["git"] == {"commit": "1" * 40, "branch": "main"}
    assert [(s["index"], s["id"]) for s in run["shards"]] == [
        (1, "20251109T030001Z-000001"),
        (2, "20251109T030002Z-000002"),
        (3, "20251109T030003Z-000003"),
    ]


def test_shards_of_different_commits_merge_with_no_commit_and_a_note() -> None:
    shards = shards_of(SCORES, 2)
    shards[1][1]["run"]["git"] = {"commit": "2" * 40, "branch": "main"}
    merged, notes = merge(shards, run_id="m")
    assert merged["run"]["git"] == {"commit": None, "branch": None}
    assert notes == [f"the shards measured different commits ({'1' * 40}, {'2' * 40})"]


def test_the_shards_grouping_key_is_kept_when_they_agree_and_dropped_when_not() -> None:
    shards = shards_of(SCORES, 2)
    for _, record in shards:
        record["run"]["pushgateway_group"] = {"suite": "shop"}
    assert merge(shards, run_id="m")[0]["run"]["pushgateway_group"] == {"suite": "shop"}
    shards[1][1]["run"]["pushgateway_group"] = {"suite": "other"}
    assert "pushgateway_group" not in merge(shards, run_id="m")[0]["run"]


def test_a_partial_shard_makes_a_partial_ungated_merge() -> None:
    shards = shards_of(SCORES, 2)
    shards[1] = ("shard2.json", {**shards[1][1], "partial": True, "partial_reason": "interrupted"})
    merged, _ = merge(shards, run_id="m")
    assert (merged["partial"], merged["partial_reason"], merged["gated"]) == (
        True,
        "shard 2/2: interrupted",
        False,
    )


SUBSET_NOTE = (
    "The shards selected part of digest (not the whole scenario or its smoke set): "
    "scores are reported, bands are not gated."
)


def test_shards_that_selected_part_of_a_scenario_merge_ungated_with_a_note() -> None:
    shards = shards_of(SCORES, 2)
    shards[0][1]["scenarios"]["digest"]["selection"] = {"kind": "subset", "selected": 1, "of": 3}
    merged, _ = merge(shards, run_id="m")
    assert (merged["gated"], merged["gate_note"]) == (False, SUBSET_NOTE)


def test_older_shards_selected_by_node_id_merge_ungated() -> None:
    shards = shards_of(SCORES, 2)
    shards[0][1]["run"]["argv"] = ["pytest", "benchmarks/test_digest.py::test_digest[s-01]"]
    merged, _ = merge(shards, run_id="m")
    assert (merged["gated"], merged["gate_note"]) == (False, SUBSET_NOTE)


def test_the_shards_baseline_comparisons_are_dropped_with_a_note() -> None:
    shards = shards_of(SCORES, 2)
    for _, r in shards:
        r["baseline"] = {
            "id": "base",
            "commit": None,
            "branch": None,
            "date": None,
            "status": "pass",
        }
    merged, notes = merge(shards, run_id="m")
    assert merged["baseline"] is None
    assert notes == [
        "the shards' baseline comparisons are dropped (each covered one shard); compare the "
        "merged run with `llmbench report MERGED.json --baseline B.json`"
    ]


def test_a_scenario_only_some_shards_hold_is_merged_from_those() -> None:
    shards = shards_of(SCORES, 2)
    extra = make_record([entry(0, 0.9)], scenario="other", shard=(2, 2))
    shards[1][1]["scenarios"]["other"] = extra["scenarios"]["other"]
    merged, _ = merge(shards, run_id="m")
    assert sorted(merged["scenarios"]) == ["digest", "other"]
    assert len(merged["scenarios"]["other"]["samples"]) == 1


# -- refusals --------------------------------------------------------------------------


def refusal(shards: Sequence[tuple[str, RunRecord]], **kwargs: Any) -> str:
    with pytest.raises(MergeError) as info:
        merge(shards, run_id="m", **kwargs)
    return str(info.value)


def test_a_record_that_is_not_a_shard_is_refused() -> None:
    shards = [*shards_of(SCORES, 2), ("whole.json", make_record([entry(0, 0.9)]))]
    assert refusal(shards) == (
        "whole.json: not a shard record (it was not run with --llmbench-shard=K/N); "
        "only shard records can be merged"
    )


def test_shards_of_different_counts_are_refused() -> None:
    shards = [shards_of(SCORES, 2)[0], shards_of(SCORES, 3)[1]]
    assert refusal(shards) == (
        "shard2.json is shard 2/3 but shard1.json is shard 1/2: "
        "shards of different counts cannot be merged"
    )


def test_the_same_shard_twice_is_refused() -> None:
    one = shards_of(SCORES, 2)[0]
    assert refusal([one, ("copy.json", one[1])]) == "shard1.json and copy.json are both shard 1/2"


def test_a_missing_shard_is_refused_naming_it() -> None:
    shards = shards_of(SCORES, 3)
    assert refusal([shards[0], shards[2]]) == (
        "shard 2/3 missing (given: 1/3, 3/3); pass every shard's record, or --allow-partial "
        "to merge what there is (the run is then partial and not gated)"
    )


def test_allow_partial_merges_what_there_is_as_a_partial_ungated_run() -> None:
    shards = shards_of(SCORES, 3)
    merged, notes = merge([shards[0], shards[2]], run_id="m", allow_partial=True)
    assert (merged["partial"], merged["partial_reason"], merged["gated"]) == (
        True,
        "shard 2/3 missing",
        False,
    )
    assert notes == ["shard 2/3 missing: the merged run is partial and not gated"]
    assert len(merged["scenarios"]["digest"]["samples"]) == 4


@pytest.mark.parametrize(
    ("part", "changes", "detail"),
    [
        ("dataset", {"sha256": "e" * 64}, f"sha256 {'e' * 12} vs {'a' * 12}"),
        (
            "judge",
            {"mode": "live", "model": "gpt-4o"},
            "mode 'live' vs 'dry-run', model 'gpt-4o' vs ''",
        ),
        ("prompt", {"ref": "digest_judge@v2"}, "ref 'digest_judge@v2' vs 'digest_judge@v1'"),
    ],
)
def test_shards_of_different_configs_are_refused_naming_the_part(
    part: str, changes: dict[str, Any], detail: str
) -> None:
    shards = shards_of(SCORES, 2)
    shards[1] = shards_of(SCORES, 2, fingerprints=with_fingerprint(part, **changes))[1]
    assert refusal(shards) == (
        f"shard2.json: scenario 'digest' has a different {part} from shard1.json ({detail}); "
        "shards must come from one config and dataset"
    )


def test_shards_with_different_bands_are_refused_naming_the_metric() -> None:
    fp = copy.deepcopy(FINGERPRINTS)
    fp["metrics"]["accuracy"]["pass"] = 0.9
    shards = shards_of(SCORES, 2)
    shards[1] = shards_of(SCORES, 2, fingerprints=fp)[1]
    assert refusal(shards) == (
        "shard2.json: scenario 'digest' has a different metrics from shard1.json "
        "(accuracy.pass 0.9 vs 0.8); shards must come from one config and dataset"
    )


def test_shards_holding_the_same_sample_are_refused() -> None:
    shards = shards_of(SCORES, 2)
    shards[1][1]["scenarios"]["digest"]["samples"].append(entry(0, 0.9))
    assert refusal(shards) == (
        "shard1.json and shard2.json both hold sample 's-01' of scenario 'digest'; "
        "shards must not overlap"
    )


# -- whole sharded runs ----------------------------------------------------------------


# Metrics written in name order: a report rendered from a loaded record lists metrics by
# name (the record's JSON sorts keys), the plugin's own report in YAML order.
def merged_run(project: Project, count: int, capsys: pytest.CaptureFixture[str]) -> Path:
    paths = []
    for k in range(1, count + 1):
        path = project.root / f"shard{k}of{count}.json"
        result = project.run(
            "benchmarks", f"--llmbench-shard={k}/{count}", f"--llmbench-json={path}"
        )
        assert result.ret == 0
        paths.append(str(path))
    out = project.root / f"merged{count}.json"
    capsys.readouterr()
    assert cli.main(["merge", *paths, "-o", str(out)]) == 0
    return out


@pytest.mark.parametrize("count", [1, 2, 3])
def test_merging_the_shards_of_a_real_run_gives_the_unsharded_record_and_report(
    project: Project, count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    project.config(SORTED_CONFIG)
    project.dataset(make_samples(TWELVE))
    ids = [f"s-{i:02d}" for i in range(1, 13)]
    assert all(any(in_shard(i, k, count) for i in ids) for k in range(1, count + 1))
    whole = project.root / "whole.json"
    result = project.run("benchmarks", f"--llmbench-json={whole}", "--llmbench-report=whole.md")
    assert result.ret == 0
    merged = merged_run(project, count, capsys)
    assert record_mod.dumps(record_mod.deterministic_view(record_mod.load(merged))) == (
        record_mod.dumps(record_mod.deterministic_view(record_mod.load(whole)))
    )
    capsys.readouterr()
    assert cli.main(["report", str(merged)]) == 0
    report = capsys.readouterr().out
    assert without_footer(report) == without_footer(
        (project.root / "whole.md").read_text(encoding="utf-8")
    )
    merged_id = json.loads(merged.read_text(encoding="utf-8"))["run"]["id"]
    assert report.endswith(f"\n---\n<sub>run {merged_id} · {_duration(merged)} s</sub>\n")


def _duration(path: Path) -> str:
    return f"{json.loads(path.read_text(encoding='utf-8'))['run']['duration_s']:.1f}"


def test_a_report_of_a_merged_run_keeps_the_yaml_order_of_the_metrics(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.dataset(make_samples(TWELVE))
    result = project.run("benchmarks", "--llmbench-report=whole.md")
    assert result.ret == 0
    merged = merged_run(project, 2, capsys)
    capsys.readouterr()  # the merge's own line
    assert cli.main(["report", str(merged)]) == 0
    assert without_footer(capsys.readouterr().out) == without_footer(
        (project.root / "whole.md").read_text(encoding="utf-8")
    )


# -- variants --------------------------------------------------------------------------


VARIANT_SCORES: dict[str, list[float | None]] = {
    "small": [0.5, 0.25, 0.5, 0.75, 0.25, 0.5, 0.75],
    "large": [0.75, 0.5, None, 1.0, 0.5, 0.75, 1.0],
    "tiny": [0.25, 0.25, 0.5, 0.5, 0.0, 0.25, 0.5],
}


@pytest.mark.parametrize("count", [1, 2, 3])
def test_merged_shards_of_variants_equal_the_unsharded_record(count: int) -> None:
    whole = variants_run(VARIANT_SCORES)
    shards = [
        (f"shard{k}.json", variants_run(VARIANT_SCORES, shard=(k, count)))
        for k in range(1, count + 1)
    ]
    merged, notes = merge(shards, run_id="merged-1")
    assert notes == []
    assert record_mod.dumps(record_mod.deterministic_view(merged)) == record_mod.dumps(
        record_mod.deterministic_view(whole)
    )
    block = merged["scenarios"]["digest"]["variants"]
    assert [(d["variant"], d["n"]) for d in block["differences"]] == [("large", 6), ("tiny", 7)]


def test_shards_that_ran_other_variants_are_refused() -> None:
    one = variants_run(VARIANT_SCORES, shard=(1, 2))
    other = {k: v for k, v in VARIANT_SCORES.items() if k != "tiny"}
    two = variants_run(other, shard=(2, 2))
    with pytest.raises(MergeError) as refused:
        merge([("one.json", one), ("two.json", two)], run_id="m")
    assert str(refused.value) == (
        "two.json: scenario 'digest' ran other variants than in one.json (fingerprints.tiny "
        "(absent) vs 8950abfda7b7, gate ['small', 'large'] vs ['small', 'large', 'tiny'], "
        "order ['small', 'large'] vs ['small', 'large', 'tiny'], and 1 more); shards must "
        "come from one config"
    )


def test_a_sample_held_twice_for_one_variant_names_the_variant() -> None:
    one = variants_run(VARIANT_SCORES, shard=(1, 2))
    two = variants_run(VARIANT_SCORES, shard=(2, 2))
    two["scenarios"]["digest"]["samples"].append(one["scenarios"]["digest"]["samples"][0])
    with pytest.raises(MergeError) as refused:
        merge([("one.json", one), ("two.json", two)], run_id="m")
    assert str(refused.value) == (
        "one.json and two.json both hold sample 's-01' (variant small) of scenario 'digest'; "
        "shards must not overlap"
    )


@given(
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, None]), min_size=1, max_size=12),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, None]), min_size=1, max_size=12),
    st.integers(min_value=1, max_value=4),
)
def test_merged_shards_of_any_variants_record_are_the_unsharded_one(
    a: list[float | None], b: list[float | None], count: int
) -> None:
    scores = {"a": a, "b": b}
    shards = [(f"{k}.json", variants_run(scores, shard=(k, count))) for k in range(1, count + 1)]
    merged, _ = merge(shards, run_id="m")
    whole = variants_run(scores)
    assert record_mod.dumps(record_mod.deterministic_view(merged)) == record_mod.dumps(
        record_mod.deterministic_view(whole)
    )
