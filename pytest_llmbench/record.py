"""The run record: every scenario's samples, aggregates, bands, fingerprints and verdict.

It is the unit of history (baselines and reports read it back), so it is built from plain
data in one place and holds nothing that differs between a run with and without xdist
outside its ``run`` block (ids, times, workers, command line).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import MetricConfig, Price, ScenarioConfig
from .payload import SamplePayload
from .verdict import MetricVerdict, evaluate_metric, scenario_status, worst

SCHEMA = "llmbench-run/1"
BUDGET_EXHAUSTED = "budget exhausted"


def usage(samples: Sequence[SamplePayload], price: Price | None) -> dict[str, Any]:
    calls = cached = attempts = retries = prompt_tokens = completion_tokens = 0
    for sample in samples:
        judge = sample.judge
        if not judge:
            continue
        if judge.get("cached"):
            cached += 1
            continue
        calls += 1
        attempts += int(judge.get("attempts", 0))
        retries += int(judge.get("retries", 0))
        prompt_tokens += int(judge.get("prompt_tokens", 0))
        completion_tokens += int(judge.get("completion_tokens", 0))
    cost = None
    if price is not None:
        cost = round(
            math.fsum(
                [
                    prompt_tokens * price.input_per_mtok / 1e6,
                    completion_tokens * price.output_per_mtok / 1e6,
                ]
            ),
            6,
        )
    return {
        "judge_calls": calls,
        "cached": cached,
        "http_requests": attempts,
        "retries": retries,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": cost,
    }


def metric_values(metric: MetricConfig, samples: Sequence[SamplePayload]) -> list[float]:
    return [s.scores[metric.name] for s in samples if metric.name in s.scores]


def metric_entry(metric: MetricConfig, verdict: MetricVerdict) -> dict[str, Any]:
    return {
        "value": verdict.value,
        "n": verdict.n,
        "ci95": list(verdict.ci95) if verdict.ci95 is not None else None,
        "status": verdict.status,
        "pass": metric.pass_,
        "warn": metric.warn,
        "better": metric.better,
        "aggregate": metric.aggregate,
        "source": metric.source,
        "band": verdict.band,
    }


def sample_entry(sample: SamplePayload) -> dict[str, Any]:
    judge = sample.judge
    return {
        "id": sample.sample_id,
        "item_id": sample.item_id,
        "nodeid": sample.nodeid,
        "status": sample.status,
        "reason": sample.reason,
        "outcome": sample.outcome,
        "scores": dict(sorted(sample.scores.items())),
        "prompt_sha256": sample.prompt_sha256,
        "judge": {
            key: judge[key]
            for key in ("cached", "attempts", "retries", "prompt_tokens", "completion_tokens")
            if key in judge
        },
    }


def problems(name: str, scenario: ScenarioConfig, verdicts: Sequence[MetricVerdict]) -> list[str]:
    """One human line per metric outside its pass band."""
    lines = []
    for verdict in verdicts:
        if verdict.status == "no data":
            lines.append(f"{verdict.name} of {name} has no scored samples")
        elif verdict.status != "pass":
            band = "fail" if verdict.status == "fail" else "warn"
            value = "—" if verdict.value is None else f"{verdict.value:.3f}"
            lines.append(
                f"{verdict.name} of {name} is in its {band} band: {value} ({verdict.band})"
            )
    del scenario
    return lines


def build_scenario(
    scenario: ScenarioConfig,
    samples: Sequence[SamplePayload],
    fingerprints: Mapping[str, Any],
    price: Price | None,
    fail_on_warn: bool,
) -> dict[str, Any]:
    verdicts = [evaluate_metric(m, metric_values(m, samples)) for m in scenario.metrics]
    counts = {"scored": 0, "unscored": 0, "error": 0}
    unjudged = 0
    for sample in samples:
        counts[sample.status] += 1
        unjudged += bool(sample.reason and sample.reason.startswith(BUDGET_EXHAUSTED))
    found = problems(scenario.name, scenario, verdicts)
    status = scenario_status(verdicts, fail_on_warn or scenario.fail_on_warn)
    if unjudged:
        # Not judging is not passing: a spent budget fails the scenario, with what was done kept.
        found.insert(0, f"{BUDGET_EXHAUSTED}: {unjudged} samples of {scenario.name} not judged")
        status = "fail"
    return {
        "status": status,
        "problems": found,
        "fail_on_warn": fail_on_warn or scenario.fail_on_warn,
        "fingerprints": dict(fingerprints),
        "metrics": {
            m.name: metric_entry(m, v) for m, v in zip(scenario.metrics, verdicts, strict=True)
        },
        "counts": counts,
        "usage": usage(samples, price),
        "samples": [sample_entry(s) for s in samples],
    }


def overall_status(scenarios: Mapping[str, Mapping[str, Any]]) -> str:
    return worst(s["status"] for s in scenarios.values())


def dumps(record: Mapping[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write(record: Mapping[str, Any], path: Path) -> None:
    """Write atomically, so a reader never sees half a record."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(dumps(record), encoding="utf-8")
    os.replace(tmp, path)


def deterministic_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record without its ``run`` block: what must match across -n 0, -n 2, no xdist."""
    return {k: v for k, v in record.items() if k != "run"}
