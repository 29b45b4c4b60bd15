"""The run record: every scenario's samples, aggregates, bands, fingerprints and verdict.

It is the unit of history (baselines and reports read it back), so it is built from plain
data in one place and holds nothing that differs between a run with and without xdist
outside its ``run`` block (ids, times, workers, command line).
"""

from __future__ import annotations

import codecs
import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from pytest_llmbench.benchmark.config import MetricConfig, ScenarioConfig
from pytest_llmbench.benchmark.judge_config import Price
from pytest_llmbench.errors import RecordError
from pytest_llmbench.results import validation
from pytest_llmbench.results.bands import (
    MetricVerdict,
    evaluate_corpus,
    evaluate_metric,
    scenario_status,
    worst,
)
from pytest_llmbench.results.noise import judge_noise, metric_repeats, resolution
from pytest_llmbench.results.problems import block_problems, budget_exhausted, sentence
from pytest_llmbench.results.schema import (
    CallTally,
    Counts,
    Fingerprints,
    MetricRecord,
    OutputCounts,
    RunRecord,
    SampleRecord,
    ScenarioRecord,
    ScenarioRules,
    Status,
    Usage,
)
from pytest_llmbench.results.stored_rules import rules_of

SCHEMA = "llmbench-run/1"
# The largest file read as a run record: 100,000 samples of about 1 KB each fit many times.
MAX_RECORD_BYTES = 512 * 2**20


def usage(
    samples: Sequence[SampleRecord], price: Price | None, tally: CallTally | None = None
) -> Usage:
    """Judge calls, cache hits, retries and tokens over sample entries (cached calls are
    counted apart and cost nothing). With the processes' ``tally`` of what the judge
    answered, calls, requests, retries and tokens are that: it also counts the calls no
    sample entry kept (a rerun's first try, a call whose test timed out)."""
    calls = cached = attempts = retries = prompt_tokens = completion_tokens = 0
    for sample in samples:
        judge = sample.get("judge")
        if not judge or budget_exhausted(sample):
            continue  # no judge, or the budget stopped it before any call
        if judge.get("cached"):
            cached += 1
            continue
        calls += 1
        attempts += int(judge.get("attempts", 0))
        retries += int(judge.get("retries", 0))
        prompt_tokens += int(judge.get("prompt_tokens", 0))
        completion_tokens += int(judge.get("completion_tokens", 0))
    if tally is not None:
        calls, attempts, retries = tally["calls"], tally["http_requests"], tally["retries"]
        prompt_tokens, completion_tokens = tally["prompt_tokens"], tally["completion_tokens"]
    cost = None
    if price is not None:
        cost = round(price.cost(prompt_tokens, completion_tokens), 6)
    return {
        "judge_calls": calls,
        "cached": cached,
        "http_requests": attempts,
        "retries": retries,
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "cost_usd": cost,
    }


def metric_entry(metric: MetricConfig, verdict: MetricVerdict) -> MetricRecord:
    entry: MetricRecord = {
        "value": verdict.value,
        "n": verdict.n,
        "ci95": list(verdict.ci95) if verdict.ci95 is not None else None,
        "ci_method": verdict.method,
        "status": verdict.status,
        "pass": metric.pass_,
        "warn": metric.warn,
        "better": metric.better,
        "aggregate": metric.aggregate,
        "source": metric.source,
        "band": verdict.band,
    }
    return entry


def add_noise(entry: MetricRecord, groups: Sequence[Sequence[float]]) -> None:
    """The judge's noise on a metric's entry, from its samples' repeats (results/noise.py);
    nothing when no sample was judged twice."""
    noise = judge_noise(groups)
    if noise is None:
        return
    entry["noise_sd"] = noise.sd
    entry["agreement"] = noise.agreement()
    entry["resolution"] = resolution(noise.sd, sum(len(g) for g in groups))


def in_metric_order(fingerprints: Mapping[str, Any], by_name: Mapping[str, Any]) -> dict[str, Any]:
    """``by_name`` in the scenario's YAML order (records are written with sorted keys)."""
    order = [n for n in fingerprints.get("metric_order", []) if n in by_name]
    return {n: by_name[n] for n in [*order, *sorted(set(by_name) - set(order))]}


def restore_metric_order(record: RunRecord) -> None:
    for scenario in record.get("scenarios", {}).values():
        fingerprints = scenario.get("fingerprints", {})
        holders: tuple[Any, ...] = (scenario, fingerprints, scenario.get("comparison") or {})
        for holder in holders:
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


def verdict(metric: MetricConfig, samples: Sequence[SampleRecord]) -> MetricVerdict:
    """The metric over the samples: their scores aggregated, or with ``aggregate: corpus``
    their sufficient statistics summed (a shard's record merges the same way)."""
    if metric.aggregate == "corpus":
        rows = [
            s["reference_stats"][metric.name]
            for s in samples
            if metric.name in s.get("reference_stats", {})
        ]
        return evaluate_corpus(metric, rows)
    return evaluate_metric(
        metric, [s["scores"][metric.name] for s in samples if metric.name in s["scores"]]
    )


def summarize_scenario(
    name: str,
    samples: Sequence[SampleRecord],
    fingerprints: Fingerprints,
    rules: ScenarioRules,
    usage_block: Usage,
) -> ScenarioRecord:
    """A scenario's block from its sample entries: what a run, a merge and a re-report share."""
    metrics = metrics_from_fingerprints(fingerprints)
    ordered = sorted(samples, key=lambda s: (s.get("position", 0), s["id"]))
    verdicts = [verdict(m, ordered) for m in metrics]
    counts: Counts = {"scored": 0, "unscored": 0, "error": 0}
    for sample in ordered:
        counts[sample["status"]] += 1
    entries = {m.name: metric_entry(m, v) for m, v in zip(metrics, verdicts, strict=True)}
    for metric_name, rule in fingerprints["metrics"].items():
        if "signature" in rule and metric_name in entries:
            entries[metric_name]["signature"] = rule["signature"]
    for metric in metrics:
        if metric.source == "judge":
            add_noise(entries[metric.name], metric_repeats(ordered, metric.name))
    found = block_problems(name, ordered, entries, rules)
    status = worst(
        [
            scenario_status(verdicts, rules["fail_on_warn"]),
            # Not judging is not passing: a spent budget or too many samples without a
            # score fail (or warn) the scenario, with what was done kept.
            *(
                p.severity
                for p in found
                if p.kind in ("budget", "unscored") and p.severity != "note"
            ),
        ]
    )
    summary: ScenarioRecord = {
        "status": status,
        "problems": [sentence(p) for p in found],
        "fail_on_warn": rules["fail_on_warn"],
        "rules": rules,
        "fingerprints": fingerprints,
        "metrics": entries,
        "counts": counts,
        "usage": usage_block,
        "samples": list(ordered),
    }
    outputs = output_counts(ordered)
    if outputs is not None:
        summary["outputs"] = outputs
    return summary


def output_counts(samples: Sequence[SampleRecord]) -> OutputCounts | None:
    """How many outputs were produced and how many read from the output cache; None when
    no sample says (no output cache)."""
    marks = [s["output_cached"] for s in samples if "output_cached" in s]
    if not marks:
        return None
    cached = sum(1 for mark in marks if mark is True)
    return {"produced": len(marks) - cached, "cached": cached}


def build_scenario(
    scenario: ScenarioConfig,
    entries: Sequence[SampleRecord],
    fingerprints: Fingerprints,
    price: Price | None,
    fail_on_warn: bool,
    tally: CallTally | None = None,
) -> ScenarioRecord:
    rules = rules_of(scenario, fail_on_warn)
    spent = usage(entries, price, tally)
    return summarize_scenario(scenario.name, entries, fingerprints, rules, spent)


def overall_status(scenarios: Mapping[str, ScenarioRecord]) -> Status:
    return worst(s["status"] for s in scenarios.values())


_SAMPLE_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True)


def _chunks(record: RunRecord) -> Iterator[str]:
    """The record as indented JSON with sorted keys, each sample on one line of its own:
    readable, and fast (an indented dump goes through the pure-Python encoder, seconds for
    10,000 samples). Yielded in pieces so a large record is never held as one string."""
    markers: dict[str, Sequence[SampleRecord]] = {}
    shallow: dict[str, Any] = dict(record)
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
        encode = _SAMPLE_JSON.encode  # json.dumps(sample, ensure_ascii=False, sort_keys=True)
        for index, sample in enumerate(samples):
            yield ("\n        " if index == 0 else ",\n        ") + encode(sample)
        yield "\n      ]"
    yield text
    yield "\n"


def dumps(record: RunRecord) -> str:
    return "".join(_chunks(record))


def write(record: RunRecord, *paths: Path) -> None:
    """Write atomically (a reader never sees half a record): streamed to the first path,
    copied to the others."""
    if not paths:
        return
    first, *others = paths
    first.parent.mkdir(parents=True, exist_ok=True)
    tmp = first.with_name(f".{first.name}.{os.getpid()}.tmp")
    copy = tmp
    try:
        # "backslashreplace": a lone surrogate (a dataset's "\\ud800" escape) can only sit
        # inside a JSON string, where "\\ud800" is the escape that reads back as it.
        with tmp.open("w", encoding="utf-8", errors="backslashreplace") as out:
            for chunk in _chunks(record):
                out.write(chunk)
        for path in others:
            path.parent.mkdir(parents=True, exist_ok=True)
            copy = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            shutil.copyfile(tmp, copy)
            os.replace(copy, path)
        os.replace(tmp, first)
    except OSError:
        # A full disk: leave no half-written temporary file behind.
        for leftover in {tmp, copy}:
            with contextlib.suppress(OSError):
                leftover.unlink()
        raise


def deterministic_view(record: RunRecord) -> RunRecord:
    """The record without its ``run`` block: what must match across -n 0, -n 2, no xdist."""
    view = dict(record)
    view.pop("run", None)
    return cast(RunRecord, view)


def load(path: Path) -> RunRecord:
    """Read a run record, checked whole against the schema before anyone reads it: a
    foreign, newer, damaged, oversized or non-UTF-8 file is one ``RecordError`` naming the
    file and the key, whatever its bytes."""
    data = _parse(path, _read(path))
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema != SCHEMA:
        if isinstance(schema, str) and schema.startswith("llmbench-run/"):
            shown = repr(schema if len(schema) <= 40 else schema[:37] + "...")[1:-1]
            raise RecordError(
                f"{path}: run record schema {shown} is not {SCHEMA}; "
                "re-create it with this version of pytest-llmbench"
            )
        raise RecordError(f"{path}: not a pytest-llmbench run record (no schema {SCHEMA!r})")
    try:
        validation.check_record(data)
    except validation.Invalid as problem:
        raise RecordError.at(
            str(path), None, problem.key, problem.what, "the record is damaged; re-create it"
        ) from None
    record = cast(RunRecord, dict(data))
    restore_metric_order(record)
    return record


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as stream:
            raw = stream.read(MAX_RECORD_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise RecordError(f"{path}: cannot read the run record ({reason})") from None
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordError(
            f"{path}: over {MAX_RECORD_BYTES // 2**20} MiB, the largest run record read; "
            "is this a run record?"
        )
    return raw


def _parse(path: Path, raw: bytes) -> Any:
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or (
        len(raw) >= 2 and raw.count(0) * 4 >= len(raw)
    ):
        raise RecordError(f"{path}: UTF-16 text, not UTF-8; re-save the run record as UTF-8")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise RecordError(
            f"{path}: not UTF-8 (byte {error.start}); re-save the run record as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(
            f"{path}:{error.lineno}: not JSON ({error.msg}); is this a run record?"
        ) from None
    except ValueError:  # a number of over 4,300 digits
        raise RecordError(f"{path}: not JSON a reader can keep (an over-long number)") from None
    except RecursionError:
        raise RecordError(f"{path}: not JSON a reader can keep (nested too deep)") from None
