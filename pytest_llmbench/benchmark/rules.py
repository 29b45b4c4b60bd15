"""The rules a benchmark states beside its metrics: bands that make sense, and how a drop
against a baseline is judged. Part of the benchmark's definition (benchmark/config.py reads
them from the YAML); results/bands.py and results/regression.py apply them to records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warn"]
DEFAULT_MARGIN = 0.02
DEFAULT_MIN_SAMPLES = 10


@dataclass(frozen=True)
class RegressionRules:
    margins: Mapping[str, float] = field(default_factory=dict)  # per metric
    default_margin: float = DEFAULT_MARGIN
    severity: Severity = "error"
    min_samples: int = DEFAULT_MIN_SAMPLES

    def margin(self, metric: str) -> float:
        return self.margins.get(metric, self.default_margin)


@dataclass(frozen=True)
class UnscoredRules:
    """How many of a scenario's selected samples may end without a score (unscored, or an
    error) before it warns or fails: a count, or a share of the selection when below 1.
    The default fails a night on which the judge was down for more than 5% of samples,
    and warns on any sample lost."""

    warn: float = 0
    fail: float = 0.05

    def limit(self, edge: float, selected: int) -> float:
        """The edge as a count of samples: a share (below 1) of ``selected``, else itself."""
        return edge * selected if edge < 1 else edge

    def severity(self, lost: int, selected: int) -> Literal["pass", "warn", "fail"]:
        """fail over the fail edge, warn over the warn edge: strictly over, so a count of 0
        allows none and a count of 2 allows two."""
        if lost > self.limit(self.fail, selected):
            return "fail"
        if lost > self.limit(self.warn, selected):
            return "warn"
        return "pass"


def band_problem(pass_: float, warn: float, better: str) -> str | None:
    """A sentence saying what is wrong with the bands, or None when they make sense.

    warn equal to pass is allowed: the metric then has no warn band.
    """
    if better not in ("higher", "lower"):
        return f"better must be 'higher' or 'lower', not {better!r}"
    p, w = format_edge(pass_), format_edge(warn)
    if better == "higher" and warn > pass_:
        return (
            f"warn ({w}) is above pass ({p}), but with better: higher a value must reach "
            f"warn before pass; set warn to at most {p}"
        )
    if better == "lower" and warn < pass_:
        return (
            f"warn ({w}) is below pass ({p}), but with better: lower a value must get "
            f"under warn before pass; set warn to at least {p}"
        )
    return None


def format_edge(x: float) -> str:
    """A band edge as the YAML wrote it: 0.88, 210 (not 210.0)."""
    # 'g' drops trailing zeros (210.0 -> 210); 15 significant digits round-trip anything
    # typed in YAML without the float noise repr would show.
    return format(x, ".15g")
