"""The run record: every scenario's samples, aggregates, bands, fingerprints and verdict.

It is the unit of history (baselines and reports read it back), so it is built from plain
data in one place and holds nothing that differs between a run with and without xdist
outside its ``run`` block (ids, times, workers, command line).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.config import MetricConfig, ScenarioConfig
from pytest_llmbench.benchmark.judge_config import Price
from pytest_llmbench.judging.budget import call_cost
from pytest_llmbench.results.bands import MetricVerdict, evaluate_metric, scenario_status, worst
from pytest_llmbench.results.number_format import number

SCHEMA = "llmbench-run/1"
BUDGET_EXHAUSTED = "budget exhausted"


def usage(samples: Sequence[Mapping[str, Any]], price: Price | None) -> dict[str, Any]:
    """Judge calls, cache hits, retries and tokens over sample entries (cached calls are
    counted apart and cost nothing)."""
    calls = cached = attempts = retries = prompt_tokens = completion_tokens = 0
    for sample in samples:
        judge = sample.get("judge") or {}
        if not judge or str(sample.get("reason") or "").startswith(BUDGET_EXHAUSTED):
            continue  # no judge, or the budget stopped it before any call
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
        cost = round(call_cost(price, prompt_tokens, completion_tokens), 6)
    return {
        "judge_calls": calls,
        "cached": cached,
        "http_requests": attempts,
        "retries": retries,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": cost,
    }


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


def problems(name: str, verdicts: Sequence[MetricVerdict]) -> list[str]:
    """One human line per metric outside its pass band."""
    lines = []
    for verdict in verdicts:
        if verdict.status == "no data":
            lines.append(f"{verdict.name} of {name} has no scored samples")
        elif verdict.status != "pass":
            band = "fail" if verdict.status == "fail" else "warn"
            lines.append(
                f"{verdict.name} of {name} is in its {band} band: {number(verdict.value)} "
                f"({verdict.band})"
            )
    return lines


def in_metric_order(fingerprints: Mapping[str, Any], by_name: Mapping[str, Any]) -> dict[str, Any]:
    """``by_name`` in the scenario's YAML order (records are written with sorted keys)."""
    order = [n for n in fingerprints.get("metric_order", []) if n in by_name]
    return {n: by_name[n] for n in [*order, *sorted(set(by_name) - set(order))]}


def restore_metric_order(record: dict[str, Any]) -> None:
    for scenario in record.get("scenarios", {}).values():
        fingerprints = scenario.get("fingerprints", {})
        for holder in (scenario, fingerprints, scenario.get("comparison") or {}):
            if isinstance(holder.get("metrics"), dict):
                holder["metrics"] = in_metric_order(fingerprints, holder["metrics"])


def metrics_from_fingerprints(fingerprints: Mapping[str, Any]) -> tuple[MetricConfig, ...]:
    return tuple(
        MetricConfig(
            name,
            pass_=float(m["pass"]),
            warn=float(m["warn"]),
            better=m["better"],
            source=m["source"],
            aggregate=m["aggregate"],
        )
        for name, m in in_metric_order(fingerprints, fingerprints["metrics"]).items()
    )


def summarize_scenario(
    name: str,
    samples: Sequence[Mapping[str, Any]],
    fingerprints: Mapping[str, Any],
    fail_on_warn: bool,
    usage_block: Mapping[str, Any],
) -> dict[str, Any]:
    """A scenario's block from its sample entries: what a run, a merge and a re-report share."""
    metrics = metrics_from_fingerprints(fingerprints)
    ordered = sorted(samples, key=lambda s: (s.get("position", 0), s["id"]))
    verdicts = [
        evaluate_metric(m, [s["scores"][m.name] for s in ordered if m.name in s["scores"]])
        for m in metrics
    ]
    counts = {"scored": 0, "unscored": 0, "error": 0}
    unjudged = 0
    for sample in ordered:
        counts[sample["status"]] += 1
        unjudged += bool(sample.get("reason") and sample["reason"].startswith(BUDGET_EXHAUSTED))
    found = problems(name, verdicts)
    status = scenario_status(verdicts, fail_on_warn)
    if unjudged:
        # Not judging is not passing: a spent budget fails the scenario, with what was done kept.
        found.insert(0, f"{BUDGET_EXHAUSTED}: {unjudged} samples of {name} not judged")
        status = "fail"
    return {
        "status": status,
        "problems": found,
        "fail_on_warn": fail_on_warn,
        "fingerprints": dict(fingerprints),
        "metrics": {m.name: metric_entry(m, v) for m, v in zip(metrics, verdicts, strict=True)},
        "counts": counts,
        "usage": dict(usage_block),
        "samples": list(ordered),
    }


def build_scenario(
    scenario: ScenarioConfig,
    entries: Sequence[Mapping[str, Any]],
    fingerprints: Mapping[str, Any],
    price: Price | None,
    fail_on_warn: bool,
) -> dict[str, Any]:
    return summarize_scenario(
        scenario.name,
        entries,
        fingerprints,
        fail_on_warn or scenario.fail_on_warn,
        usage(entries, price),
    )


def overall_status(scenarios: Mapping[str, Mapping[str, Any]]) -> str:
    return worst(s["status"] for s in scenarios.values())


def _chunks(record: Mapping[str, Any]) -> Iterator[str]:
    """The record as indented JSON with sorted keys, each sample on one line of its own:
    readable, and fast (an indented dump goes through the pure-Python encoder, seconds for
    10,000 samples). Yielded in pieces so a large record is never held as one string."""
    markers: dict[str, Sequence[Mapping[str, Any]]] = {}
    shallow = dict(record)
    scenarios = {}
    for name, scenario in record.get("scenarios", {}).items():
        marker = json.dumps(f"@@llmbench-samples-{len(markers)}@@")
        markers[marker] = scenario.get("samples", [])
        scenarios[name] = {**scenario, "samples": marker[1:-1]}
    if scenarios:
        shallow["scenarios"] = scenarios
    text = json.dumps(shallow, ensure_ascii=False, indent=2, sort_keys=True)
    for marker, samples in markers.items():
        head, _, text = text.partition(marker)
        yield head
        if not samples:
            yield "[]"
            continue
        yield "["
        for index, sample in enumerate(samples):
            yield ("\n        " if index == 0 else ",\n        ") + json.dumps(
                sample, ensure_ascii=False, sort_keys=True
            )
        yield "\n      ]"
    yield text
    yield "\n"


def dumps(record: Mapping[str, Any]) -> str:
    return "".join(_chunks(record))


def write(record: Mapping[str, Any], *paths: Path) -> None:
    """Write atomically (a reader never sees half a record): streamed to the first path,
    copied to the others."""
    if not paths:
        return
    first, *others = paths
    first.parent.mkdir(parents=True, exist_ok=True)
    tmp = first.with_name(f".{first.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for chunk in _chunks(record):
            out.write(chunk)
    for path in others:
        path.parent.mkdir(parents=True, exist_ok=True)
        copy = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        shutil.copyfile(tmp, copy)
        os.replace(copy, path)
    os.replace(tmp, first)


def deterministic_view(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record without its ``run`` block: what must match across -n 0, -n 2, no xdist."""
    return {k: v for k, v in record.items() if k != "run"}


class RecordError(Exception):
    """A file that is not a run record this version can read; the message says why."""


def load(path: Path) -> dict[str, Any]:
    """Read a run record, refusing foreign or newer files with a clear message."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise RecordError(f"{path}: cannot read the run record ({error.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(
            f"{path}:{error.lineno}: not JSON ({error.msg}); is this a run record?"
        ) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith("llmbench-run/"):
            raise RecordError(
                f"{path}: run record schema {schema} is not {SCHEMA}; "
                "re-create it with this version of pytest-llmbench"
            )
        raise RecordError(f"{path}: not a pytest-llmbench run record (no schema {SCHEMA!r})")
    if not isinstance(data.get("scenarios"), dict):
        raise RecordError(f"{path}: run record has no scenarios")
    for name, scenario in data["scenarios"].items():
        for key in ("fingerprints", "metrics", "samples", "status"):
            if key not in scenario:
                raise RecordError(f"{path}: scenario {name!r} lacks {key!r}; the record is damaged")
    record = dict(data)
    restore_metric_order(record)
    return record
