"""Comparing a run with a baseline run record: pure functions over plain record data.

Per scenario and metric, paired by sample id over the samples both runs scored: the mean
difference with a 95% interval of the paired differences (statistics.summarize's for a
mean: bootstrap-t from 5 to 200 pairs, t otherwise). A regression is a drop beyond the metric's
margin whose interval excludes zero. With fewer pairs than ``min_samples`` (a smoke run)
the interval is too wide to trust either way: only a drop beyond ``UNDERPOWERED_FACTOR``
times the margin is flagged, and the comparison says it is underpowered.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, cast

from pytest_llmbench.benchmark.rules import RegressionRules
from pytest_llmbench.results.bands import source_range
from pytest_llmbench.results.schema import (
    Comparison,
    MetricComparison,
    MetricRecord,
    RegressedSample,
    ScenarioRecord,
    VariantComparison,
)
from pytest_llmbench.results.statistics import Bounds, overlap, paired_difference

UNDERPOWERED_FACTOR = 3.0
METHOD = "paired bootstrap-t interval (t above 200 pairs) over samples scored in both runs"


def comparability(current: ScenarioRecord, baseline: ScenarioRecord) -> list[str]:
    """Why two scenario records cannot be compared; empty when they can."""
    cur, base = current["fingerprints"], baseline["fingerprints"]
    reasons = []
    # Same questions, not the same file: stored outputs and ground truth may differ.
    key: Literal["inputs_sha256", "sha256"] = (
        "inputs_sha256" if "inputs_sha256" in cur["dataset"] else "sha256"
    )
    if cur["dataset"][key] != base["dataset"].get(key):
        reasons.append(
            f"dataset samples differ ({cur['dataset'][key][:12]} vs "
            f"{str(base['dataset'].get(key))[:12]}): other ids, inputs or references"
        )
    if cur["judge"]["mode"] != base["judge"]["mode"]:
        reasons.append(f"judge mode differs ({cur['judge']['mode']} vs {base['judge']['mode']})")
    elif cur["judge"].get("model") != base["judge"].get("model"):
        reasons.append(
            f"judge model differs ({cur['judge'].get('model')} vs {base['judge'].get('model')})"
        )
    if cur["prompt"]["ref"] != base["prompt"]["ref"]:
        reasons.append(f"prompt differs ({cur['prompt']['ref']} vs {base['prompt']['ref']})")
    elif cur["prompt"]["sha256"] != base["prompt"]["sha256"]:
        reasons.append(f"prompt file {cur['prompt']['ref']} changed under the same version")
    return reasons


def _scores(scenario: ScenarioRecord, metric: str) -> dict[str, float]:
    return {
        s["id"]: float(s["scores"][metric])
        for s in scenario["samples"]
        if s["status"] == "scored" and metric in s["scores"]
    }


def compare_metric(
    metric: str,
    better: str,
    current: Mapping[str, float],
    baseline: Mapping[str, float],
    rules: RegressionRules,
    bounds: Bounds | None = None,
) -> MetricComparison:
    """One metric's comparison as a plain dict (it goes into the run record as is).
    `bounds`, the scores' possible range, clips the interval to the possible differences."""
    compared, new, missing = overlap(current, baseline)
    diff = paired_difference(current, baseline, bounds)
    margin = rules.margin(metric)
    entry: MetricComparison = {
        "baseline": _mean([baseline[k] for k in sorted(baseline.keys() & current.keys())]),
        "current": _mean([current[k] for k in sorted(baseline.keys() & current.keys())]),
        "diff": diff.mean,
        "ci95": list(diff.ci95) if diff.ci95 is not None else None,
        "ci_method": diff.method,
        "compared": compared,
        "new": new,
        "missing": missing,
        "margin": margin,
        "better": better,
        "underpowered": compared < rules.min_samples,
        "status": "ok",
    }
    if diff.mean is None:
        entry["status"] = "no overlap"
        return entry
    sign = 1.0 if better == "higher" else -1.0
    drop = -sign * diff.mean  # positive when the metric got worse
    # The interval excludes zero on the side of getting worse.
    lo, hi = diff.ci95 if diff.ci95 is not None else (diff.mean, diff.mean)
    worse_for_sure = (hi < 0) if better == "higher" else (lo > 0)
    better_for_sure = (lo > 0) if better == "higher" else (hi < 0)
    if entry["underpowered"]:
        if drop > UNDERPOWERED_FACTOR * margin:
            entry["status"] = "regression"
    elif drop > margin and worse_for_sure:
        entry["status"] = "regression"
    elif -drop > margin and better_for_sure:
        entry["status"] = "improved"
    return entry


def _mean(values: list[float]) -> float | None:
    import math

    return math.fsum(values) / len(values) if values else None


def compare_scenario(
    current: ScenarioRecord, baseline: ScenarioRecord | None, rules: RegressionRules
) -> Comparison:
    """The comparison block of one scenario: status ok / regression / not comparable.
    With `variants:`, variant by variant (``compare_variants``)."""
    if baseline is None:
        return {"status": "not comparable", "reasons": ["the baseline has no such scenario"]}
    reasons = comparability(current, baseline)
    if reasons:
        return {"status": "not comparable", "reasons": reasons}
    if "variants" in current:
        return compare_variants(current, baseline, rules)
    return _compare_samples(current, baseline, rules)


def compare_variants(
    current: ScenarioRecord, baseline: ScenarioRecord, rules: RegressionRules
) -> Comparison:
    """Each variant's samples against the same variant's in the baseline; a variant whose
    fingerprint (params, output function, output_version) changed is not comparable, one
    the baseline lacks is new. The comparison's own keys are the reference variant's."""
    block = current["variants"]
    before = baseline.get("variants")
    per: dict[str, VariantComparison] = {}
    for name in block["order"]:
        gated = name in block["gate"]
        mine = block["variants"][name]
        theirs = before["variants"].get(name) if before is not None else None
        if theirs is None:
            per[name] = {
                "status": "new",
                "gated": gated,
                "reasons": [f"variant {name} is not in the baseline"],
            }
            continue
        if mine["fingerprint"] != theirs["fingerprint"]:
            per[name] = {
                "status": "not comparable",
                "gated": gated,
                "reasons": [f"variant {name}: {changed(mine['params'], theirs['params'])}"],
            }
            continue
        one = _compare_samples(
            _variant_block(current, name, mine["metrics"]),
            _variant_block(baseline, name, theirs["metrics"]),
            rules,
        )
        per[name] = {
            "status": "regression" if one["status"] == "regression" else "ok",
            "gated": gated,
            "regressed": one.get("regressed", []),
            "underpowered": one.get("underpowered", False),
            "metrics": one.get("metrics", {}),
            "most_regressed": one.get("most_regressed", []),
        }
    reference = per[block["reference"]]
    top: Comparison = {
        "status": "ok",
        "severity": rules.severity,
        "regressed": reference.get("regressed", []),
        "underpowered": reference.get("underpowered", False),
        "method": METHOD,
        "metrics": reference.get("metrics", {}),
        "most_regressed": reference.get("most_regressed", []),
        "variants": per,
    }
    if any(c["status"] == "regression" and c["gated"] for c in per.values()):
        top["status"] = "regression"
    return top


def changed(params: Mapping[str, Any], before: Mapping[str, Any]) -> str:
    """What changed in a variant, in words: its params' keys, else the output function."""
    keys = sorted(k for k in {*params, *before} if params.get(k, _ABSENT) != before.get(k, _ABSENT))
    if keys:
        return f"params changed ({', '.join(keys)}); not comparable"
    return "output function or output_version changed; not comparable"


_ABSENT = object()


def _variant_block(
    scenario: ScenarioRecord, variant: str, metrics: Mapping[str, MetricRecord]
) -> ScenarioRecord:
    """The scenario narrowed to one variant's samples and metrics, for _compare_samples."""
    narrowed = dict(scenario)
    narrowed["samples"] = [s for s in scenario["samples"] if s.get("variant") == variant]
    narrowed["metrics"] = dict(metrics)
    return cast(ScenarioRecord, narrowed)


def _compare_samples(
    current: ScenarioRecord, baseline: ScenarioRecord, rules: RegressionRules
) -> Comparison:
    metrics = {}
    for name, metric in current["metrics"].items():
        if name not in baseline["metrics"]:
            continue
        metrics[name] = compare_metric(
            name,
            metric["better"],
            _scores(current, name),
            _scores(baseline, name),
            rules,
            source_range(metric["source"]),
        )
    regressed = sorted(n for n, m in metrics.items() if m["status"] == "regression")
    underpowered = any(m["underpowered"] for m in metrics.values())
    return {
        "status": "regression" if regressed else "ok",
        "severity": rules.severity,
        "regressed": regressed,
        "underpowered": underpowered,
        "method": METHOD,
        "metrics": metrics,
        "most_regressed": most_regressed(current, baseline, regressed),
    }


def most_regressed(
    current: ScenarioRecord, baseline: ScenarioRecord, metrics: list[str], limit: int = 5
) -> list[RegressedSample]:
    """The samples whose regressed metrics dropped the most, worst first."""
    if not metrics:
        return []
    base = {s["id"]: s for s in baseline["samples"]}
    rows: list[RegressedSample] = []
    for sample in current["samples"]:
        before = base.get(sample["id"])
        if before is None:
            continue
        drops = {}
        for name in metrics:
            if name in sample["scores"] and name in before["scores"]:
                sign = 1.0 if current["metrics"][name]["better"] == "higher" else -1.0
                drops[name] = sign * (before["scores"][name] - sample["scores"][name])
        if drops and max(drops.values()) > 0:
            rows.append(
                {
                    "id": sample["id"],
                    "nodeid": sample["nodeid"],
                    "drops": dict(sorted(drops.items())),
                    "worst": max(drops.values()),
                }
            )
    rows.sort(key=lambda r: (-r["worst"], r["id"]))
    return rows[:limit]
