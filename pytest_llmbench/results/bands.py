"""Pass/warn/fail bands: where a metric's value falls, and what that makes a scenario."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pytest_llmbench.benchmark.config import MetricConfig
from pytest_llmbench.benchmark.rules import format_edge
from pytest_llmbench.results.corpus import corpus_summary
from pytest_llmbench.results.statistics import Bounds, IntervalMethod, summarize

__all__ = [
    "EDGE_TOLERANCE",
    "MetricVerdict",
    "Status",
    "band_status",
    "describe_band",
    "evaluate_corpus",
    "evaluate_metric",
    "scenario_status",
    "source_range",
    "worst",
]

Status = Literal["pass", "warn", "fail"]
_RANK: dict[Status, int] = {"pass": 0, "warn": 1, "fail": 2}

# A value within this of a band edge counts as on the edge (so in the better band):
# relative to the edge when |edge| > 1, absolute below. A mean of floats lands a few ulps
# off the decimal the user wrote (0.8799999999999999 for 0.88); that is not a miss.
EDGE_TOLERANCE = 1e-12

# The possible range of one sample's value, by metric source, where it is known: a judge's
# scores are normalised to 0..1, chrF and ROUGE-L are fractions, a WER is never negative.
# A mean's interval is clipped to it; a source not named here is not clipped.
_SOURCE_RANGES: dict[str, Bounds] = {
    "judge": (0.0, 1.0),
    "chrf": (0.0, 1.0),
    "rouge_l": (0.0, 1.0),
    "wer": (0.0, math.inf),
}


@dataclass(frozen=True)
class MetricVerdict:
    name: str
    value: float | None
    n: int
    ci95: tuple[float, float] | None
    status: Status | Literal["no data"]
    band: str  # describe_band(), for the report
    method: IntervalMethod = "none"  # how ci95 was made (stats.Summary.method)


def source_range(source: str) -> Bounds | None:
    """The possible range of a sample's value from metric source `source`, when known."""
    return _SOURCE_RANGES.get(source)


def _reaches(value: float, edge: float, better: str) -> bool:
    # A fixed shift of the edge (not math.isclose, whose tolerance also scales with the
    # value) keeps the band monotone in the value.
    slack = EDGE_TOLERANCE * max(1.0, abs(edge))
    if better == "lower":
        return value <= edge + slack
    return value >= edge - slack


def band_status(value: float, metric: MetricConfig) -> Status:
    """pass, warn or fail for `value`; exactly on an edge counts as the better band.

    NaN reaches no band, so it fails.
    """
    if _reaches(value, metric.pass_, metric.better):
        return "pass"
    if _reaches(value, metric.warn, metric.better):
        return "warn"
    return "fail"


def worst(statuses: Iterable[Status]) -> Status:
    """The worst of the statuses (pass < warn < fail); pass when there are none."""
    return max(statuses, key=_RANK.__getitem__, default="pass")


def describe_band(metric: MetricConfig) -> str:
    """The bands as the report shows them: "pass ≥ 0.88, warn ≥ 0.8"."""
    op = "≤" if metric.better == "lower" else "≥"
    return f"pass {op} {format_edge(metric.pass_)}, warn {op} {format_edge(metric.warn)}"


def evaluate_metric(metric: MetricConfig, values: Sequence[float]) -> MetricVerdict:
    """Aggregate `values` as the metric says and place the result in its bands."""
    s = summarize(values, metric.aggregate, source_range(metric.source))
    status: Status | Literal["no data"] = (
        "no data" if s.value is None else band_status(s.value, metric)
    )
    return MetricVerdict(
        name=metric.name,
        value=s.value,
        n=s.n,
        ci95=s.ci95,
        status=status,
        band=describe_band(metric),
        method=s.method,
    )


def evaluate_corpus(metric: MetricConfig, rows: Sequence[Sequence[float]]) -> MetricVerdict:
    """``aggregate: corpus``: the corpus score of the samples' sufficient statistics, with
    a bootstrap interval over samples, placed in the metric's bands."""
    value, ci95 = corpus_summary(metric.source, rows)
    return MetricVerdict(
        name=metric.name,
        value=value,
        n=len(rows),
        ci95=ci95,
        status="no data" if value is None else band_status(value, metric),
        band=describe_band(metric),
        method="corpus bootstrap" if ci95 is not None else "none",
    )


def scenario_status(verdicts: Sequence[MetricVerdict], fail_on_warn: bool) -> Status:
    """A scenario's status: its worst metric; a metric with no data fails it.

    With fail_on_warn, a warn is a fail.
    """
    status = worst("fail" if v.status == "no data" else v.status for v in verdicts)
    if fail_on_warn and status == "warn":
        return "fail"
    return status
