"""Run records built by hand, as the controller writes them, for tests of what reads them."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import rederive as rerecord
from pytest_llmbench.results.schema import Fingerprints, RunRecord, SampleRecord, ScenarioRecord
from pytest_llmbench.results.stored_rules import default_rules
from pytest_llmbench.results.variants import Spec, summarize_variants

FINGERPRINTS: Fingerprints = {
    "dataset": {
        "path": "data/digest.jsonl",
        "sha256": "a" * 64,
        "inputs_sha256": "b" * 64,
        "samples": 6,
    },
    "judge": {
        "name": "default",
        "kind": "openai",
        "mode": "dry-run",
        "mode_reason": "auto: $TEST_LLM_URL is not set",
        "model": "",
        "base_url": "",
    },
    "prompt": {"ref": "digest_judge@v1", "sha256": "c" * 64},
    "metric_order": ["accuracy"],
    "metrics": {
        "accuracy": {
            "pass": 0.8,
            "warn": 0.7,
            "better": "higher",
            "source": "judge",
            "aggregate": "mean",
        }
    },
}


def entry(
    position: int, accuracy: float | None, *, tokens: tuple[int, int] = (100, 10)
) -> SampleRecord:
    sample_id = f"s-{position + 1:02d}"
    return {
        "id": sample_id,
        "item_id": sample_id,
        "position": position,
        "nodeid": f"benchmarks/test_digest.py::test_digest[{sample_id}]",
        "status": "scored" if accuracy is not None else "unscored",
        "reason": None if accuracy is not None else "unusable reply",
        "outcome": "passed",
        "scores": {} if accuracy is None else {"accuracy": accuracy},
        "prompt_sha256": "d" * 64,
        "judge": {
            "cached": False,
            "attempts": 1,
            "retries": 0,
            "prompt_tokens": tokens[0],
            "completion_tokens": tokens[1],
        },
    }


def make_record(
    samples: Sequence[SampleRecord],
    *,
    scenario: str = "digest",
    fingerprints: Fingerprints = FINGERPRINTS,
    shard: tuple[int, int] | None = None,
    gated: bool = True,
    partial_reason: str | None = None,
    cost: float | None = None,
    run: Mapping[str, Any] | None = None,
    variants: Spec | None = None,
) -> RunRecord:
    usage = record_mod.usage(samples, None)
    usage["cost_usd"] = cost
    if variants is None:
        block = record_mod.summarize_scenario(
            scenario, samples, fingerprints, default_rules(), usage
        )
    else:
        block = summarize_variants(
            scenario, samples, fingerprints, default_rules(), usage, variants
        )
    note = (
        f"Shard {shard[0]}/{shard[1]}: bands are gated once the shards are joined." if shard else ""
    )
    out = rerecord.top_level(
        {scenario: block},
        gated=gated and shard is None,
        gate_note=note,
        partial_reason=partial_reason,
        shard={"index": shard[0], "count": shard[1]} if shard else None,
        baseline=None,
    )
    out["run"] = {
        "id": "20251109T030000Z-aaaaaa",
        "started_at": "2025-11-09T03:00:00Z",
        "finished_at": "2025-11-09T03:00:30Z",
        "duration_s": 30.0,
        "exitstatus": 0,
        "argv": ["pytest", "benchmarks"],
        "workers": None,
        "python": "3.11.7",
        "pytest": "9.0.0",
        "git": {"commit": "1" * 40, "branch": "main"},
        **(run or {}),
    }
    return out


def variant_entries(name: str, scores: Sequence[float | None]) -> list[SampleRecord]:
    """entry() for each score, as items of variant `name`."""
    found = []
    for position, score in enumerate(scores):
        one = entry(position, score)
        one["variant"] = name
        one["item_id"] = f"{one['id']}-{name}"
        one["nodeid"] = f"benchmarks/test_digest.py::test_digest[{one['item_id']}]"
        found.append(one)
    return found


VARIANTS_SPEC = Spec(
    order=("a", "b"),
    reference="a",
    gate=("b",),
    params={"a": {"model": "m-1"}, "b": {"model": "m-2"}},
    fingerprints={"a": "1" * 64, "b": "2" * 64},
)


def variants_scenario(
    a: Sequence[float | None], b: Sequence[float | None], spec: Spec = VARIANTS_SPEC
) -> ScenarioRecord:
    """A scenario block of variants a and b (their `accuracy` scores), as a run builds it."""
    samples = variant_entries("a", a) + variant_entries("b", b)
    usage = record_mod.usage(samples, None)
    return summarize_variants("digest", samples, FINGERPRINTS, default_rules(), usage, spec)


def variants_record(
    a: Sequence[float | None], b: Sequence[float | None], **kwargs: Any
) -> RunRecord:
    """A whole record around ``variants_scenario(a, b)``, as written and read back."""
    record = make_record(variant_entries("a", a), **kwargs)
    record["scenarios"]["digest"] = variants_scenario(a, b)
    record.update(
        rerecord.top_level(
            record["scenarios"],
            gated=record["gated"],
            gate_note="",
            partial_reason=None,
            shard=None,
            baseline=None,
        )
    )
    return record


def with_fingerprint(part: str, **changes: Any) -> Fingerprints:
    """A copy of FINGERPRINTS with `changes` made to one part ("prompt", "metrics", ...)."""
    fp: dict[str, Any] = copy.deepcopy(dict(FINGERPRINTS))
    fp[part].update(changes)
    return cast(Fingerprints, fp)


def nightly_run(day: int, *, branch: str = "main", **run: Any) -> dict[str, Any]:
    """The run block (for make_record's `run`) of a run at 03:00 on 2025-11-`day`: its id,
    start time and commit ("a" * 40 on the 10th) are that day's."""
    return {
        "id": f"202511{day:02d}T030000Z-{day:06d}",
        "started_at": f"2025-11-{day:02d}T03:00:00Z",
        "git": {"commit": f"{day:x}" * 40, "branch": branch},
        **run,
    }


def run_on(day: int, accuracy: float, *, branch: str = "main", **kwargs: Any) -> RunRecord:
    """A record of six samples all scored `accuracy`, run on 2025-11-`day` (nightly_run,
    12.5 s long); `kwargs` go to make_record."""
    run = nightly_run(day, branch=branch, duration_s=12.5)
    return make_record([entry(p, accuracy) for p in range(6)], run=run, **kwargs)


def run_record(
    scenarios: Mapping[str, Mapping[str, Any]], status: str | None = None, *, gated: bool = True
) -> dict[str, Any]:
    """The top level of a run record around hand-built scenario blocks (make_record builds
    the blocks with the controller's code instead): the blocks' problems in order, and
    `status`, by default "fail" if there are problems and "pass" if not."""
    problems = [p for s in scenarios.values() for p in s["problems"]]
    return {
        "schema": "llmbench-run/1",
        "status": status or ("fail" if problems else "pass"),
        "gated": gated,
        "gate_note": "",
        "partial": False,
        "partial_reason": None,
        "problems": problems,
        "verdict_note": None,
        "shard": None,
        "baseline": None,
        "scenarios": dict(scenarios),
    }


def record_fixture() -> dict[str, Any]:
    """A run record of two scenarios, shaped as the controller writes it (whole, so
    ``record.load`` reads it back; the values are what the exporter tests expect)."""

    def metric(
        value: float | None, pass_: float, warn: float, better: str = "higher"
    ) -> dict[str, Any]:
        return {
            "value": value,
            "n": 0 if value is None else 4,
            "ci95": None,
            "status": "pass",
            "pass": pass_,
            "warn": warn,
            "better": better,
            "aggregate": "mean",
            "source": "judge",
            "band": "",
        }

    def sample(sample_id: str, status: str, position: int, **judge: Any) -> dict[str, Any]:
        return {
            "id": sample_id,
            "item_id": sample_id,
            "position": position,
            "nodeid": f"benchmarks/test_digest.py::test_digest[{sample_id}]",
            "status": status,
            "reason": None if status == "scored" else "not judged",
            "outcome": "passed",
            "scores": {},
            "prompt_sha256": None,
            "judge": judge,
        }

    def scenario(status: str, metrics: dict[str, Any], **rest: Any) -> dict[str, Any]:
        samples = rest.pop("samples")
        rules = {name: {k: m[k] for k in ("pass", "warn", "better")} for name, m in metrics.items()}
        counts = {"scored": 0, "unscored": 0, "error": 0}
        for one in samples:
            counts[one["status"]] += 1
        usage = {"judge_calls": 0, "cached": 0, "http_requests": 0, "retries": 0}
        return {
            "status": status,
            "problems": [],
            "fail_on_warn": False,
            "fingerprints": {
                **copy.deepcopy(FINGERPRINTS),
                "metric_order": list(metrics),
                "metrics": {
                    n: {**r, "source": "judge", "aggregate": "mean"} for n, r in rules.items()
                },
            },
            "metrics": metrics,
            "counts": counts,
            "usage": {**usage, **rest.pop("usage")},
            "samples": samples,
        }

    digest = scenario(
        "warn",
        {
            "coverage": metric(0.85, 0.88, 0.80),
            "accuracy": metric(0.93, 0.90, 0.85),
            "latency_seconds": metric(205.5, 210, 240, better="lower"),
            "coherence": metric(None, 0.9, 0.85),  # no scored sample: no value series
        },
        usage={
            "judge_calls": 4,
            "cached": 1,
            "http_requests": 7,
            "retries": 3,
            "prompt_tokens": 1200,
            "completion_tokens": 300,
            "cost_usd": 0.006,
        },
        samples=[
            sample("a", "scored", 0, cached=False, attempts=1, retries=0),
            sample("b", "scored", 1, cached=False, attempts=3, retries=2),
            sample("c", "scored", 2, cached=False, attempts=1, retries=0),
            sample("d", "unscored", 3, cached=False, attempts=2, retries=1),
            sample("e", "scored", 4, cached=True, attempts=0, retries=0),
            sample("f", "error", 5),  # never judged
        ],
    )
    qa = scenario(
        "pass",
        {"exact": metric(1.0, 0.9, 0.8)},
        usage={"prompt_tokens": 0, "completion_tokens": 0, "cost_usd": None},
        samples=[sample("q1", "scored", 0, cached=False, attempts=0, retries=0)],
    )
    record = run_record({"digest": digest, "qa": qa}, "warn")
    record["run"] = {"id": "20251109T030000Z-abc123", "duration_s": 42.5}
    return record


LATENCIES = {"digest": [0.05, 0.3, 1.5, 7.0, 200.0]}


def metric_entry(value: float, *, pass_: float = 0.8, warn: float = 0.7) -> dict[str, Any]:
    status = "pass" if value >= pass_ else "warn" if value >= warn else "fail"
    return {
        "value": value,
        "n": 3000,
        "ci95": [value - 0.01, value + 0.01],
        "status": status,
        "pass": pass_,
        "warn": warn,
        "better": "higher",
        "aggregate": "mean",
        "source": "judge",
        "band": f"pass ≥ {pass_:g}, warn ≥ {warn:g}",
    }


def scenario_record(name: str, sample_ids: list[str], score: float) -> dict[str, Any]:
    """One scenario as record.build_scenario shapes it, every sample scored at `score`."""
    samples = [
        {
            "id": sample_id,
            "item_id": sample_id,
            "nodeid": f"benchmarks/test_{name}.py::test_{name}[{sample_id}]",
            "status": "scored",
            "reason": None,
            "outcome": "passed",
            "scores": {"accuracy": score, "coverage": score},
            "prompt_sha256": None,
            "judge": {},
        }
        for sample_id in sample_ids
    ]
    metrics = {"coverage": metric_entry(score), "accuracy": metric_entry(score)}
    problems = [
        f"{metric} of {name} is in its fail band: {score:.3f} (pass ≥ 0.8, warn ≥ 0.7)"
        for metric in metrics
        if score < 0.7
    ]
    return {
        "status": "fail" if problems else "pass",
        "problems": problems,
        "fail_on_warn": False,
        "fingerprints": {
            "dataset": {"path": f"data/{name}.jsonl", "sha256": "0" * 64, "samples": len(samples)},
            "judge": {
                "name": "default",
                "kind": "openai",
                "mode": "dry-run",
                "mode_reason": "--llmbench-judge=dry-run",
                "model": "",
                "base_url": "",
            },
            "prompt": {"ref": "judge@v1", "sha256": "1" * 64},
            "metrics": {},
        },
        "metrics": metrics,
        "counts": {"scored": len(samples), "unscored": 0, "error": 0},
        "usage": {
            "judge_calls": len(samples),
            "cached": 0,
            "http_requests": 0,
            "retries": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "cost_usd": None,
        },
        "samples": samples,
    }


def variants_run(
    scores: Mapping[str, Sequence[float | None]],
    *,
    scenario: str = "digest",
    shard: tuple[int, int] | None = None,
) -> RunRecord:
    """A record of one scenario whose variants (in the mapping's order, the first the
    reference and all gated, each with params {model: its name}) scored
    `scores[variant][position]` on accuracy, built by the controller's code
    (summarize_variants); with `shard`, shard K/N's record of the positions p with
    p % N == K - 1."""
    samples = sorted(
        (
            sample
            for variant, values in scores.items()
            for sample in variant_entries(variant, values)
            if shard is None or sample["position"] % shard[1] == shard[0] - 1
        ),
        key=lambda sample: sample["position"],
    )
    order = tuple(scores)
    spec = Spec(
        order=order,
        reference=order[0],
        gate=order,
        params={v: {"model": v} for v in order},
        fingerprints={v: hashlib.sha256(v.encode()).hexdigest() for v in order},
    )
    return make_record(samples, scenario=scenario, shard=shard, variants=spec)
