"""A scenario's variants side by side, as rows of text cells: the terminal section and the
markdown report render the same rows (variants as columns, metrics as rows, each value
with its interval and status, then what each variant cost), then the paired differences
against the reference."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_llmbench.reporting.text_format import interval, money, number, seconds, signed

__all__ = ["differences_rows", "output_latencies", "side_by_side_rows"]


def output_latencies(record: Mapping[str, Any], scenario: str) -> dict[str, float | None]:
    """Each variant's mean output seconds: kept in the record's run block (a time), or on
    a summary that carries its own."""
    block = record["scenarios"][scenario]["variants"]
    stored = ((record.get("run") or {}).get("output_latency_s") or {}).get(scenario) or {}
    found: dict[str, float | None] = {}
    for name in block["order"]:
        own = block["variants"][name]["usage"].get("output_latency_s")
        value = own if own is not None else stored.get(name)
        found[name] = value if isinstance(value, (int, float)) else None
    return found


def side_by_side_rows(
    block: Mapping[str, Any], latencies: Mapping[str, float | None]
) -> list[list[str]]:
    """Header, a row per metric (the bands, then each variant's value, interval and
    status), then each variant's verdict, judge calls, tokens, cost and output time."""
    order = block["order"]
    variants = block["variants"]
    reference = block["reference"]

    def label(name: str) -> str:
        marks = [
            m
            for m, on in (("reference", name == reference), ("gated", variants[name]["gated"]))
            if on
        ]
        return f"{name} ({', '.join(marks)})" if marks else name

    rows = [["metric", "bands", *(label(n) for n in order)]]
    metric_names = list(variants[reference]["metrics"])
    for metric in metric_names:
        band = variants[reference]["metrics"][metric]["band"]
        cells = []
        for name in order:
            m = variants[name]["metrics"].get(metric)
            shown = m is not None and variants[name]["samples"]
            cells.append(
                f"{number(m['value'])} ({interval(m['ci95'])}) {m['status']}" if shown else "—"
            )
        rows.append([metric, band, *cells])
    rows.append(["verdict", "", *(verdict(variants[n]) for n in order)])
    rows.append(["judge calls", "", *(str(variants[n]["usage"]["judge_calls"]) for n in order)])
    usage = [variants[n]["usage"] for n in order]
    rows.append(
        [
            "tokens in / out",
            "",
            *(f"{u['prompt_tokens']} / {u['completion_tokens']}" for u in usage),
        ]
    )
    if any(variants[n]["usage"]["cost_usd"] is not None for n in order):
        rows.append(["cost", "", *(money(variants[n]["usage"]["cost_usd"]) for n in order)])
    if any(latencies.get(n) is not None for n in order):
        rows.append(["output time (mean)", "", *(seconds(latencies.get(n)) for n in order)])
    return rows


def verdict(variant: Mapping[str, Any]) -> str:
    """A variant's status; "not selected" for one without samples (a node id that runs one
    pair), whose "no data" says nothing about it."""
    return str(variant["status"]) if variant["samples"] else "not selected"


def differences_rows(block: Mapping[str, Any]) -> list[list[str]]:
    """Header and a row per difference: variant vs reference, metric, Δ, interval, n, status."""
    rows = [["variant", "metric", "Δ", "95% CI of Δ", "n", "status"]]
    for d in block["differences"]:
        rows.append(
            [
                f"{d['variant']} vs {d['against']}",
                d["metric"],
                signed(d["mean_diff"]),
                interval(d["ci95"]),
                str(d["n"]),
                d["status"],
            ]
        )
    return rows
