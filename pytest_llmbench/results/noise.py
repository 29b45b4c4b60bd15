"""The judge's noise, from samples judged more than once (`repeats:`).

Per judged metric, over the samples with at least two scored repeats:

- ``noise_sd``: the pooled within-sample standard deviation, sqrt(MSW), where MSW is the
  within-sample sum of squares over its degrees of freedom (N - n for N judgements of
  n samples): how far one judgement of a sample strays from that sample's mean.
- ICC(1), one-way random effects for a single judgement (Shrout & Fleiss 1979, case 1):
  (MSB - MSW) / (MSB + (k0 - 1) MSW), with its 95% interval from the F distribution
  (McGraw & Wong 1996); k0 is the number of repeats per sample, adjusted when samples have
  unequal numbers of scored repeats. 1 means the judge always gives a sample the same
  score; near 0, its scores say little about which sample is better.
- ``resolution``: the smallest change between two runs the judge's noise alone lets a
  paired comparison see at 95%: 1.96 * noise_sd * sqrt(2 / J), J the scored judgements
  behind the metric (n samples times K repeats). Each run's mean carries judge noise of
  variance noise_sd^2 / J; a difference of two runs twice that (pairing by sample removes
  the samples' own spread, not the judge's). A regression margin below it is a gate that
  cannot tell a regression from the judge's noise.

Every function sorts its input and sums with math.fsum: the same figures with or without
xdist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pytest_llmbench.results.schema import Agreement, SampleRecord
from pytest_llmbench.results.statistics import f_quantile

__all__ = ["Noise", "judge_noise", "metric_repeats", "resolution"]

_Z975 = 1.959963984540054


@dataclass(frozen=True)
class Noise:
    sd: float  # pooled within-sample SD
    icc: float | None  # None with fewer than 2 samples, or scores that never vary
    ci95: tuple[float, float] | None
    samples: int  # samples with >= 2 scored repeats
    k0: float  # repeats per sample (adjusted for unequal counts)
    judgements: int  # scored repeats of those samples

    def agreement(self) -> Agreement:
        return {
            "method": "ICC(1)",
            "value": self.icc,
            "ci95": list(self.ci95) if self.ci95 is not None else None,
            "samples": self.samples,
            "repeats": self.k0,
        }


def metric_repeats(samples: Sequence[SampleRecord], metric: str) -> list[list[float]]:
    """Each sample's scored repeats of `metric` (samples judged once have none)."""
    groups = []
    for sample in samples:
        values = [
            r["scores"][metric]
            for r in sample.get("repeats") or []
            if r["status"] == "scored" and metric in r["scores"]
        ]
        if values:
            groups.append(values)
    return groups


def judge_noise(groups: Sequence[Sequence[float]]) -> Noise | None:
    """The noise of a judge over groups of repeated scores (one group per sample); None
    when no group has two scores."""
    kept = sorted(sorted(float(v) for v in g) for g in groups if len(g) >= 2)
    if not kept:
        return None
    n = len(kept)
    total = sum(len(g) for g in kept)
    means = [math.fsum(g) / len(g) for g in kept]
    ssw = math.fsum(math.fsum((v - m) ** 2 for v in g) for g, m in zip(kept, means, strict=True))
    msw = ssw / (total - n)
    sd = math.sqrt(msw)
    if n < 2:
        return Noise(sd, None, None, n, float(len(kept[0])), total)
    grand = math.fsum(v for g in kept for v in g) / total
    ssb = math.fsum(len(g) * (m - grand) ** 2 for g, m in zip(kept, means, strict=True))
    msb = ssb / (n - 1)
    k0 = (total - math.fsum(len(g) ** 2 for g in kept) / total) / (n - 1)
    icc, ci = _icc(msb, msw, k0, n - 1, total - n)
    return Noise(sd, icc, ci, n, k0, total)


def _icc(
    msb: float, msw: float, k0: float, df1: int, df2: int
) -> tuple[float | None, tuple[float, float] | None]:
    # Sums of squares below this are rounding of scores that do not vary.
    tiny = 1e-24
    if msw <= tiny:
        return (1.0, (1.0, 1.0)) if msb > tiny else (None, None)
    f = msb / msw
    icc = (msb - msw) / (msb + (k0 - 1) * msw)
    f_low = f / f_quantile(0.975, df1, df2)
    f_high = f * f_quantile(0.975, df2, df1)
    low = (f_low - 1) / (f_low + k0 - 1)
    high = (f_high - 1) / (f_high + k0 - 1)
    return icc, (low, high)


def resolution(noise_sd: float, judgements: int) -> float:
    """The smallest change of a metric's mean between two runs that the judge's noise
    alone lets a 95% paired comparison tell, with `judgements` scored repeats per run."""
    return _Z975 * noise_sd * math.sqrt(2 / judgements)
