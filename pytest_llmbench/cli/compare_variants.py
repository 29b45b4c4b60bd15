"""`llmbench compare RUN.json --variants a,b`: two variants of one run record, per metric,
paired by sample id over the samples both scored: the figures of the record's own
``scenarios.<name>.variants.differences`` when A is the reference."""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Mapping
from pathlib import Path

from pytest_llmbench.cli.common import OK, CliError, emit
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import variants as variants_mod
from pytest_llmbench.results.schema import ScenarioRecord, VariantDifference


def cmd_compare_variants(args: argparse.Namespace) -> int:
    path = Path(args.current)
    names = [part.strip() for part in str(args.variants).split(",")]
    if len(names) != 2 or not all(names) or names[0] == names[1]:
        raise CliError(
            f"--variants {args.variants}: expected two different variant names, A,B "
            "(B is compared against A)"
        )
    record = record_mod.load(path)
    scenarios = _scenarios(record["scenarios"], args.scenario, path)
    lines: list[str] = []
    for name, scenario in scenarios.items():
        known = known_variants(scenario)
        unknown = [v for v in names if v not in known]
        if unknown:
            raise CliError(
                f"{path}: scenario {name!r} has no variant {unknown[0]!r}; its variants: "
                f"{', '.join(known)}"
            )
        against, variant = names
        lines.append(f"{name}: {variant} against {against}")
        rows = [
            variant_difference(scenario, variant, against, metric) for metric in scenario["metrics"]
        ]
        lines.extend(variants_table(rows, scenario))
    emit("\n".join(lines) + "\n", None)
    return OK


def _scenarios(
    scenarios: Mapping[str, ScenarioRecord], wanted: str | None, path: Path
) -> dict[str, ScenarioRecord]:
    with_variants = {n: s for n, s in scenarios.items() if known_variants(s)}
    if wanted is not None:
        if wanted not in scenarios:
            raise CliError(
                f"--scenario {wanted}: {path} has no such scenario; its scenarios: "
                f"{', '.join(scenarios) or 'none'}"
            )
        if wanted not in with_variants:
            raise CliError(f"{path}: scenario {wanted!r} has no variants (no `variants:` key)")
        return {wanted: scenarios[wanted]}
    if not with_variants:
        raise CliError(f"{path}: no scenario has variants (no `variants:` key in any scenario)")
    return with_variants


def known_variants(scenario: ScenarioRecord) -> list[str]:
    """The scenario's variants in the YAML's order (from its samples in an older record)."""
    block = scenario.get("variants")
    if block:
        return list(block["order"])
    return sorted({s["variant"] for s in scenario["samples"] if "variant" in s})


def variant_scores(scenario: ScenarioRecord, variant: str, metric: str) -> dict[str, float]:
    """{sample id: score} of one variant's scored samples on `metric`."""
    return {
        s["id"]: float(s["scores"][metric])
        for s in scenario["samples"]
        if s.get("variant") == variant and s["status"] == "scored" and metric in s["scores"]
    }


def variant_difference(
    scenario: ScenarioRecord, variant: str, against: str, metric: str
) -> VariantDifference:
    """`variant` against `against` on one metric, over the samples both scored: the
    record's own paired difference (results/variants.difference)."""
    return variants_mod.difference(
        variant,
        against,
        metric,
        scenario["metrics"][metric]["better"],
        variant_scores(scenario, variant, metric),
        variant_scores(scenario, against, metric),
    )


def variants_table(rows: list[VariantDifference], scenario: ScenarioRecord) -> list[str]:
    from pytest_llmbench.reporting.text_format import columns, interval, number, signed

    if not rows:
        return ["  no metrics"]
    variant, against = rows[0]["variant"], rows[0]["against"]
    table = [("metric", against, variant, "diff", "95% CI of diff", "paired", "status")]
    for row in rows:
        metric = row["metric"]
        a, b = variant_scores(scenario, against, metric), variant_scores(scenario, variant, metric)
        both = sorted(a.keys() & b.keys())
        table.append(
            (
                metric,
                number(_mean([a[k] for k in both])),
                number(_mean([b[k] for k in both])),
                signed(row["mean_diff"]),
                interval(row["ci95"]),
                str(row["n"]),
                row["status"],
            )
        )
    return ["  " + line for line in columns(table, right=(1, 2, 3, 5))]


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None  # fsum / n
