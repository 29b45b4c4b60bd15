"""What is wrong with a scenario, as data: each problem has a kind and the fields that
describe it, and its sentence is rendered from them (`sentence`). Code that decides
(verdicts, alerts) reads the fields; the record stores the sentences for people.

`scenario_problems` derives a scenario's problems from its record block alone, so a
record read back (a merge, `llmbench report`, the nightly alert) gives the same problems
as the run that wrote it, without parsing a sentence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from pytest_llmbench.benchmark.rules import RegressionRules, UnscoredRules
from pytest_llmbench.results.number_format import interval, number, signed
from pytest_llmbench.results.schema import (
    Comparison,
    MetricRecord,
    SampleRecord,
    ScenarioRecord,
    ScenarioRules,
    VariantComparison,
)
from pytest_llmbench.results.stored_rules import regression_rules, stored_rules, unscored_rules

Kind = Literal["budget", "unscored", "band", "no_data", "regression", "noise"]
# "note": said, and the verdict not changed by it (a gate too fine for the judge's noise).
Severity = Literal["note", "warn", "fail"]

# The reason code of a sample the budget stopped before its judge call.
BUDGET_EXHAUSTED = "budget_exhausted"


@dataclass(frozen=True)
class Problem:
    kind: Kind
    scenario: str
    severity: Severity  # what it makes the scenario at least
    metric: str | None = None
    value: float | None = None  # the metric's value, or the paired difference (regression)
    band: str | None = None  # the band in words (band), or the margin (regression)
    count: int = 0  # samples concerned (budget), or compared (regression)
    interval: tuple[float, float] | None = None  # the regression's 95% interval
    underpowered: bool = False  # a regression flagged on too few pairs to trust the interval
    margin: float | None = None
    limit: float | None = None  # unscored: the edge crossed, as a count or a share
    of: int = 0  # unscored: the scenario's selected samples
    reasons: tuple[tuple[str, int], ...] = ()  # unscored: the commonest reasons, counted
    variant: str | None = None  # a gated variant's own problem: its sentence names it

    @property
    def serious(self) -> bool:
        """What an alert leads with: a failure, missing data or a regression."""
        return self.kind not in ("band", "noise") or self.severity == "fail"


def budget_exhausted(sample: SampleRecord) -> bool:
    """The budget stopped this sample before any judge call (by code; older records: by
    the reason's words, which were the only mark then)."""
    if sample.get("reason_code") == BUDGET_EXHAUSTED:
        return True
    return "reason_code" not in sample and str(sample.get("reason") or "").startswith(
        "budget exhausted"
    )


def lost(sample: SampleRecord) -> bool:
    """A sample without a score that counts against the unscored limits: unscored or an
    error, but not one the budget stopped (the budget has its own problem)."""
    return sample.get("status") in ("unscored", "error") and not budget_exhausted(sample)


def unscored_problems(
    name: str, samples: Sequence[SampleRecord], rules: UnscoredRules
) -> list[Problem]:
    missing = [s for s in samples if lost(s)]
    severity = rules.severity(len(missing), len(samples))
    if severity == "pass":
        return []
    counts = Counter(_short(str(s.get("reason") or "no reason")) for s in missing)
    commonest = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3])
    return [
        Problem(
            "unscored",
            name,
            severity,
            count=len(missing),
            of=len(samples),
            limit=rules.fail if severity == "fail" else rules.warn,
            reasons=commonest,
        )
    ]


def _short(reason: str) -> str:
    line = reason.strip().splitlines()[0] if reason.strip() else "no reason"
    return line if len(line) <= 80 else line[:79] + "…"


def band_problems(name: str, metrics: dict[str, MetricRecord]) -> list[Problem]:
    found = []
    for metric, entry in metrics.items():
        status = entry["status"]
        if status == "no data":
            found.append(Problem("no_data", name, "fail", metric=metric))
        elif status in ("warn", "fail"):
            found.append(
                Problem(
                    "band", name, status, metric=metric, value=entry["value"], band=entry["band"]
                )
            )
    return found


def noise_problems(
    name: str, metrics: dict[str, MetricRecord], rules: RegressionRules
) -> list[Problem]:
    """A regression margin below what the judge's noise lets a comparison resolve at this
    many judgements (a metric's ``resolution``, results/noise.py): a note, the verdict
    unchanged, as the gate then flags noise or nothing."""
    found = []
    for metric, entry in metrics.items():
        resolved = entry.get("resolution")
        margin = rules.margin(metric)
        if resolved is not None and margin < resolved:
            found.append(
                Problem(
                    "noise",
                    name,
                    "note",
                    metric=metric,
                    value=entry.get("noise_sd"),
                    margin=margin,
                    limit=resolved,
                    count=entry["n"],
                )
            )
    return found


def budget_problems(name: str, samples: Sequence[SampleRecord]) -> list[Problem]:
    unjudged = sum(budget_exhausted(s) for s in samples)
    return [Problem("budget", name, "fail", count=unjudged)] if unjudged else []


def regression_problems(name: str, comparison: Comparison) -> list[Problem]:
    if comparison.get("status") != "regression":
        return []
    severity: Severity = "fail" if comparison.get("severity") == "error" else "warn"
    variants = comparison.get("variants")
    if variants is not None:  # each gated variant's regressions, the variant named
        return [
            problem
            for variant, one in variants.items()
            if one["status"] == "regression" and one["gated"]
            for problem in _regressions(f"{name} (variant {variant})", severity, one)
        ]
    return _regressions(name, severity, comparison)


def _regressions(
    name: str, severity: Severity, comparison: Comparison | VariantComparison
) -> list[Problem]:
    found = []
    for metric in comparison.get("regressed", []):
        m = comparison.get("metrics", {})[metric]
        ci = m["ci95"]
        found.append(
            Problem(
                "regression",
                name,
                severity,
                metric=metric,
                value=m["diff"],
                count=m["compared"],
                interval=(ci[0], ci[1]) if ci else None,
                underpowered=m["underpowered"],
                margin=m["margin"],
            )
        )
    return found


def block_problems(
    name: str,
    samples: Sequence[SampleRecord],
    metrics: dict[str, MetricRecord],
    rules: ScenarioRules,
) -> list[Problem]:
    """A scenario's (or one variant's) problems from its samples and metric entries, before
    any baseline: what ``summarize_scenario`` stores and ``scenario_problems`` reads back."""
    return [
        *budget_problems(name, samples),
        *unscored_problems(name, samples, unscored_rules(rules)),
        *band_problems(name, metrics),
        *noise_problems(name, metrics, regression_rules(rules)),
    ]


def deciding_variants(
    order: Sequence[str], gate: Sequence[str], samples: Mapping[str, int]
) -> list[str]:
    """The variants whose bands decide a scenario's status and whose problems it states:
    the gated ones with samples. A variant with none was not selected (a node id that
    runs one pair): it has no data, and says nothing. When no gated variant was selected,
    the selected ones (what the bands of what ran say; such a run is not gated)."""
    selected = [name for name in order if samples.get(name, 0) > 0]
    return [name for name in selected if name in gate] or selected


def scenario_problems(name: str, scenario: ScenarioRecord) -> list[Problem]:
    """Every problem of a scenario block, in the order its sentences are stored. Tolerant
    of an abridged block (a hand-written record for an alert): what is missing has none.
    With `variants:`, each deciding variant's own problems (its samples, its metrics), the
    variant named, as ``variants.combine`` stores them; an ungated variant has none."""
    samples = scenario.get("samples") or []
    rules = stored_rules(scenario)
    comparison = regression_problems(name, scenario.get("comparison") or {"status": "ok"})
    block = scenario.get("variants")
    if block is None:
        return [*block_problems(name, samples, scenario.get("metrics") or {}, rules), *comparison]
    counts = {variant: one["samples"] for variant, one in block["variants"].items()}
    return [
        replace(problem, variant=variant)
        for variant in deciding_variants(block["order"], block["gate"], counts)
        for problem in block_problems(
            name,
            [s for s in samples if s.get("variant") == variant],
            block["variants"][variant]["metrics"],
            rules,
        )
    ] + comparison


def sentence(problem: Problem) -> str:
    """The problem in words, as the terminal, the report and the warning show it."""
    said = _sentence(problem)
    return f"variant {problem.variant}: {said}" if problem.variant is not None else said


def _sentence(problem: Problem) -> str:
    p = problem
    if p.kind == "budget":
        return f"budget exhausted: {p.count} samples of {p.scenario} not judged"
    if p.kind == "unscored":
        edge = p.limit or 0.0
        allowed = f"{edge * 100:g}% of the samples" if 0 < edge < 1 else f"{edge:g}"
        why = "; ".join(f"{reason} ({n})" for reason, n in p.reasons)
        return (
            f"{p.count} of {p.of} samples of {p.scenario} have no score, over the {p.severity} "
            f"limit of {allowed}: {why}"
        )
    if p.kind == "no_data":
        return f"{p.metric} of {p.scenario} has no scored samples"
    if p.kind == "band":
        return (
            f"{p.metric} of {p.scenario} is in its {p.severity} band: {number(p.value)} ({p.band})"
        )
    if p.kind == "noise":
        return (
            f"{p.metric} of {p.scenario}: margin {p.margin:g} is below the judge's noise: this "
            f"gate cannot tell (noise SD {number(p.value)}; at n = {p.count} a change under "
            f"{number(p.limit)} is within it: raise the margin, the samples or repeats:)"
        )
    level = "error" if p.severity == "fail" else "warn"
    bounds = f", 95% CI {interval(p.interval, signed)}" if p.interval else ""
    powered = "; underpowered: only a large drop is flagged" if p.underpowered else ""
    return (
        f"{p.metric} of {p.scenario} regressed ({level}): {signed(p.value)} vs baseline "
        f"over {p.count} samples{bounds}, margin {p.margin:g}{powered}"
    )
