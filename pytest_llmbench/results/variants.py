"""Variants of the system side by side in one run: each variant aggregated like a scenario,
each non-reference variant against the reference, paired by sample, and the verdict over
the `gate:` variants. Pure functions over sample entries; no pytest import.

A difference names a winner ("better" or "worse") only when its paired 95% interval
excludes zero; with fewer than two pairs there is no interval, so no winner.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.judge_config import Price
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.bands import worst
from pytest_llmbench.results.problems import deciding_variants
from pytest_llmbench.results.schema import (
    CallTally,
    Fingerprints,
    SampleRecord,
    ScenarioRecord,
    ScenarioRules,
    Status,
    Usage,
    VariantDifference,
    VariantsRecord,
    VariantSummary,
    VariantUsage,
)
from pytest_llmbench.results.statistics import paired_difference
from pytest_llmbench.results.stored_rules import rules_of

__all__ = [
    "Spec",
    "build_scenario",
    "combine",
    "difference",
    "spec_of",
    "summarize_variants",
    "summary",
]

NO_DIFFERENCE = "no detectable difference"


@dataclass(frozen=True)
class Spec:
    """What a scenario's variants are: from its config, or read back from a record's
    ``variants`` block (merge, ``llmbench report``), so both decide the same way."""

    order: tuple[str, ...]
    reference: str
    gate: tuple[str, ...]
    params: Mapping[str, Mapping[str, Any]]
    fingerprints: Mapping[str, str]


def spec_of_config(scenario: ScenarioConfig) -> Spec:
    return Spec(
        order=tuple(v.name for v in scenario.variants),
        reference=scenario.reference,
        gate=scenario.gate,
        params={v.name: dict(v.params) for v in scenario.variants},
        fingerprints={v.name: v.fingerprint for v in scenario.variants},
    )


def spec_of(block: VariantsRecord) -> Spec:
    return Spec(
        order=tuple(block["order"]),
        reference=block["reference"],
        gate=tuple(block["gate"]),
        params={n: v["params"] for n, v in block["variants"].items()},
        fingerprints={n: v["fingerprint"] for n, v in block["variants"].items()},
    )


def summarize_variants(
    name: str,
    samples: Sequence[SampleRecord],
    fingerprints: Fingerprints,
    rules: ScenarioRules,
    usage_block: Usage,
    spec: Spec,
    price: Price | None = None,
    output_latency_s: Mapping[str, float | None] | None = None,
) -> ScenarioRecord:
    """A scenario with variants from its sample entries: each variant summarized like a
    scenario over its own entries, then ``combine``d."""
    blocks: dict[str, ScenarioRecord] = {}
    summaries: dict[str, VariantSummary] = {}
    latency = output_latency_s or {}
    for variant in spec.order:
        mine = [s for s in samples if s.get("variant") == variant]
        spent = record_mod.usage(mine, price)
        blocks[variant] = record_mod.summarize_scenario(name, mine, fingerprints, rules, spent)
        summaries[variant] = summary(
            blocks[variant],
            spec.params[variant],
            spec.fingerprints[variant],
            variant in spec.gate,
            latency.get(variant),
        )
    return combine(spec.order, spec.reference, spec.gate, blocks, summaries, usage_block)


def build_scenario(
    scenario: ScenarioConfig,
    entries: Sequence[SampleRecord],
    fingerprints: Fingerprints,
    price: Price | None,
    fail_on_warn: bool,
    tally: CallTally | None = None,
) -> ScenarioRecord:
    """record.build_scenario for a scenario with `variants:`."""
    rules = rules_of(scenario, fail_on_warn)
    spent = record_mod.usage(entries, price, tally)
    return summarize_variants(
        scenario.name, entries, fingerprints, rules, spent, spec_of_config(scenario), price
    )


def difference(
    variant: str,
    against: str,
    metric: str,
    better: str,
    current: Mapping[str, float],
    reference: Mapping[str, float],
) -> VariantDifference:
    """`metric` of `variant` minus `reference`'s, paired over the sample ids both scored.

    Exactly antisymmetric: the interval is computed on whichever of the differences and
    their negation sorts first, so swapping the two variants negates the mean and the
    interval and swaps "better" and "worse". When the two sort equal (the differences are
    their own negation), the bootstrap's interval need not be symmetric, so it is widened
    to the symmetric one around zero that holds it."""
    keys = sorted(current.keys() & reference.keys())
    diffs = sorted(current[k] - reference[k] for k in keys)
    negated = sorted(-d for d in diffs)
    flip = negated < diffs
    pairs = {str(i): d for i, d in enumerate(negated if flip else diffs)}
    zeros = dict.fromkeys(pairs, 0.0)
    paired = paired_difference(pairs, zeros)
    sign = -1.0 if flip else 1.0
    mean = None if paired.mean is None else _clean(sign * paired.mean)
    ci95: list[float] | None = None
    status = NO_DIFFERENCE
    if paired.ci95 is not None:
        low, high = sorted((_clean(sign * paired.ci95[0]), _clean(sign * paired.ci95[1])))
        if negated == diffs:  # swapping the variants gives these very differences
            wide = max(-low, high)
            low, high = _clean(-wide), _clean(wide)
        ci95 = [low, high]
        if low > 0 or high < 0:
            up = low > 0
            status = "better" if up == (better != "lower") else "worse"
    return {
        "variant": variant,
        "against": against,
        "metric": metric,
        "n": len(keys),
        "mean_diff": mean,
        "ci95": ci95,
        "ci_method": paired.method,
        "better": better,
        "status": status,  # type: ignore[typeddict-item]  # one of the Literal's words
    }


def _clean(value: float) -> float:
    return 0.0 if value == 0 else value  # no "-0.0" in a record


def _scores(samples: Sequence[SampleRecord], metric: str) -> dict[str, float]:
    return {
        s["id"]: s["scores"][metric]
        for s in samples
        if s["status"] == "scored" and metric in s["scores"] and math.isfinite(s["scores"][metric])
    }


def summary(
    scenario: ScenarioRecord,
    params: Mapping[str, Any],
    fingerprint_: str,
    gated: bool,
    output_latency_s: float | None = None,
) -> VariantSummary:
    """One variant's summary from its samples' scenario block (``summarize_scenario`` over
    that variant's entries)."""
    spent = scenario["usage"]
    usage: VariantUsage = {
        "judge_calls": spent["judge_calls"],
        "prompt_tokens": spent["prompt_tokens"],
        "completion_tokens": spent["completion_tokens"],
        "cost_usd": spent["cost_usd"],
    }
    if output_latency_s is not None:
        usage["output_latency_s"] = output_latency_s
    return {
        "params": dict(params),
        "fingerprint": fingerprint_,
        "samples": len(scenario["samples"]),
        "status": scenario["status"],
        "gated": gated,
        "metrics": scenario["metrics"],
        "counts": scenario["counts"],
        "usage": usage,
    }


def combine(
    order: Sequence[str],
    reference: str,
    gate: Sequence[str],
    blocks: Mapping[str, ScenarioRecord],
    summaries: Mapping[str, VariantSummary],
    total_usage: Usage,
) -> ScenarioRecord:
    """The scenario's block from its variants' blocks (each ``summarize_scenario`` over one
    variant's entries): ``metrics`` are the reference's (what older readers show), the
    status the worst of the gated variants', the samples every variant's in dataset
    order, and ``variants`` the side-by-side summary with the paired differences."""
    ref = blocks[reference]
    fingerprints: Fingerprints = ref["fingerprints"]
    metric_rules = fingerprints["metrics"]
    metric_names = [m for m in fingerprints["metric_order"] if m in metric_rules]
    differences: list[VariantDifference] = []
    for name in order:
        if name == reference:
            continue
        for metric in metric_names:
            differences.append(
                difference(
                    name,
                    reference,
                    metric,
                    metric_rules[metric]["better"],
                    _scores(blocks[name]["samples"], metric),
                    _scores(ref["samples"], metric),
                )
            )
    rank = {name: index for index, name in enumerate(order)}
    samples = sorted(
        (s for name in order for s in blocks[name]["samples"]),
        key=lambda s: (s.get("position", 0), s["id"], rank[s.get("variant", "")]),
    )
    # The gated variants that were selected decide (and warn); the others' statuses are
    # in their summaries.
    deciding = deciding_variants(order, gate, {n: len(blocks[n]["samples"]) for n in order})
    status: Status = worst(blocks[name]["status"] for name in deciding)
    problems = [
        f"variant {name}: {problem}" for name in deciding for problem in blocks[name]["problems"]
    ]
    counts = {
        key: sum(blocks[name]["counts"][key] for name in order)
        for key in ("scored", "unscored", "error")
    }
    rules: ScenarioRules = ref["rules"]
    variants: VariantsRecord = {
        "order": list(order),
        "reference": reference,
        "gate": list(gate),
        "variants": {name: summaries[name] for name in order},
        "differences": differences,
    }
    combined: ScenarioRecord = {
        "status": status,
        "problems": problems,
        "fail_on_warn": ref["fail_on_warn"],
        "rules": rules,
        "fingerprints": fingerprints,
        "metrics": ref["metrics"],
        "counts": {
            "scored": counts["scored"],
            "unscored": counts["unscored"],
            "error": counts["error"],
        },
        "usage": total_usage,
        "samples": samples,
        "variants": variants,
    }
    outputs = [blocks[name]["outputs"] for name in order if "outputs" in blocks[name]]
    if outputs:
        combined["outputs"] = {
            "produced": sum(o["produced"] for o in outputs),
            "cached": sum(o["cached"] for o in outputs),
        }
    return combined
