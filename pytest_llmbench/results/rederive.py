"""Re-deriving a run record's verdict from its samples: what a merge, a re-report with a
baseline and the controller's session finish share. Pure functions over plain record data.

A scenario block's status and problems follow from its samples, fingerprints (metrics and
bands) and ``fail_on_warn``; the record's status and problems follow from its scenarios.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pytest_llmbench.benchmark.rules import RegressionRules
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import variants as variants_mod
from pytest_llmbench.results.problems import regression_problems, sentence
from pytest_llmbench.results.regression import compare_scenario
from pytest_llmbench.results.schema import (
    BaselineSummary,
    RunRecord,
    ScenarioRecord,
    Shard,
)
from pytest_llmbench.results.stored_rules import regression_rules, stored_rules


def add_comparison(
    scenario: ScenarioRecord,
    baseline: ScenarioRecord | None,
    rules: RegressionRules,
    name: str,
) -> None:
    """Add the baseline comparison to a scenario block; an error-level regression fails
    the scenario, a warn-level one makes it warn at least."""
    comparison = compare_scenario(scenario, baseline, rules)
    scenario["comparison"] = comparison
    if comparison["status"] != "regression":
        return
    scenario["problems"].extend(sentence(p) for p in regression_problems(name, comparison))
    severity = comparison.get("severity")
    if severity == "error":
        scenario["status"] = "fail"
    elif scenario["status"] == "pass":
        scenario["status"] = "warn"


def baseline_summary(baseline: RunRecord | None) -> BaselineSummary | None:
    """Which run a record was compared with, as the report's baseline line shows it."""
    if baseline is None:
        return None
    run = baseline.get("run") or {}
    git = run.get("git") or {}
    return {
        "id": run.get("id"),
        "commit": git.get("commit"),
        "branch": git.get("branch"),
        "date": run.get("started_at"),
        "status": baseline.get("status"),
    }


def rescore(name: str, scenario: ScenarioRecord) -> ScenarioRecord:
    """A scenario block rebuilt from its own samples (any baseline comparison dropped; what
    the run selected kept)."""
    if "variants" in scenario:
        block = _rescore_variants(name, scenario)
    else:
        block = record_mod.summarize_scenario(
            name,
            scenario["samples"],
            scenario["fingerprints"],
            stored_rules(scenario),
            scenario["usage"],
        )
    if "selection" in scenario:
        block["selection"] = scenario["selection"]
    return block


def _rescore_variants(name: str, scenario: ScenarioRecord) -> ScenarioRecord:
    """A scenario with variants rebuilt from its samples by its stored variants block;
    each variant's usage kept as stored (a record holds no price to recount its cost)."""
    stored = scenario["variants"]
    block = variants_mod.summarize_variants(
        name,
        scenario["samples"],
        scenario["fingerprints"],
        stored_rules(scenario),
        scenario["usage"],
        variants_mod.spec_of(stored),
    )
    for variant, summary in block["variants"]["variants"].items():
        summary["usage"] = stored["variants"][variant]["usage"]
    return block


def top_level(
    scenarios: Mapping[str, ScenarioRecord],
    *,
    gated: bool,
    gate_note: str,
    partial_reason: str | None,
    shard: Shard | None,
    baseline: RunRecord | None,
) -> RunRecord:
    """A record (without its ``run`` block) around finished scenario blocks."""
    return {
        "schema": record_mod.SCHEMA,
        "status": record_mod.overall_status(scenarios),
        "gated": gated and partial_reason is None,
        "gate_note": gate_note,
        "partial": partial_reason is not None,
        "partial_reason": partial_reason,
        "problems": [p for s in scenarios.values() for p in s["problems"]],
        "verdict_note": None,
        "shard": Shard(index=shard["index"], count=shard["count"]) if shard else None,
        "baseline": baseline_summary(baseline),
        "scenarios": dict(scenarios),
    }


def rederive(
    record: RunRecord,
    baseline: RunRecord | None = None,
    override: Callable[[RegressionRules], RegressionRules] | None = None,
) -> RunRecord:
    """The record's verdict re-derived from its samples, compared with ``baseline`` when
    given: by each scenario's stored regression rules, passed through ``override`` when
    given (a command line that changes some of them). Its gating, shard, rules and run block are
    kept; a warning that -W error had turned into a failure still fails a gated warn."""
    scenarios = {name: rescore(name, s) for name, s in record["scenarios"].items()}
    if baseline is not None:
        for name, scenario in scenarios.items():
            chosen = regression_rules(stored_rules(scenario))
            chosen = override(chosen) if override is not None else chosen
            add_comparison(scenario, baseline["scenarios"].get(name), chosen, name)
    out = top_level(
        scenarios,
        gated=bool(record["gated"]),
        gate_note=str(record.get("gate_note") or ""),
        partial_reason=(record.get("partial_reason") or "partial run")
        if record.get("partial")
        else None,
        shard=record.get("shard"),
        baseline=baseline,
    )
    out["gated"] = bool(record["gated"])  # as the run decided (node ids, partial, shard)
    if record.get("verdict_note") and out["gated"] and out["status"] == "warn":
        out["status"] = "fail"
        out["verdict_note"] = record["verdict_note"]
    if "rules" in record:
        out["rules"] = record["rules"]
    if "run" in record:
        out["run"] = record["run"]
    return out
