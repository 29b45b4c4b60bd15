"""The terminal section, as lines with a colour each, built from the run record."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pytest_llmbench.reporting.text_format import (
    columns,
    interval,
    judge_noise,
    money,
    number,
    printable,
    signed,
)
from pytest_llmbench.reporting.variants_table import (
    differences_rows,
    output_latencies,
    side_by_side_rows,
)

Line = tuple[str, str]  # (text, colour: "" | "green" | "yellow" | "red")
COLOURS = {"pass": "green", "warn": "yellow", "fail": "red", "no data": "red"}


def _table(metrics: Mapping[str, Mapping[str, Any]]) -> list[Line]:
    rows = [("metric", "value", "95% CI", "n", "bands", "status")]
    for name, m in metrics.items():
        rows.append(
            (name, number(m["value"]), interval(m["ci95"]), str(m["n"]), m["band"], m["status"])
        )
    lines: list[Line] = []
    for index, text in enumerate(columns(rows, right=(1, 3))):
        colour = "" if index == 0 else COLOURS.get(rows[index][5], "")
        lines.append(("  " + text, colour))
    return lines


def variant_lines(record: Mapping[str, Any], name: str) -> list[Line]:
    """The variants side by side, then each one's paired difference from the reference."""
    block = record["scenarios"][name]["variants"]
    rows = side_by_side_rows(block, output_latencies(record, name))
    lines: list[Line] = [("  " + text, "") for text in columns(rows)]
    differences = differences_rows(block)
    if len(differences) > 1:
        lines.append((f"  paired differences from {block['reference']}:", ""))
        for index, text in enumerate(columns(differences, right=(2, 4))):
            status = differences[index][5]
            colour = {"better": "green", "worse": "yellow"}.get(status, "") if index else ""
            lines.append(("    " + text, colour))
    return lines


def noise_lines(metrics: Mapping[str, Mapping[str, Any]]) -> list[Line]:
    """The judge's noise per judged metric, with `repeats:` (none without)."""
    noisy = [(name, judge_noise(m)) for name, m in metrics.items()]
    shown = [(name, text) for name, text in noisy if text is not None]
    if not shown:
        return []
    return [("  judge noise over repeats:", "")] + [(f"    {n}: {t}", "") for n, t in shown]


def usage_line(u: Mapping[str, Any]) -> str:
    text = (
        f"judge calls {u['judge_calls']} · cached {u['cached']} · retries {u['retries']}"
        f" · tokens {u['prompt_tokens']} in / {u['completion_tokens']} out"
    )
    if u.get("cost_usd") is not None:
        text += f" · cost {money(u['cost_usd'])}"
    if u.get("ahead_unused"):
        text += f" · judged ahead, unused {u['ahead_unused']}"
    return text


def budget_line(budget: Mapping[str, Any]) -> Line:
    """What the run's budget allowed: spent, held by calls that never returned, refused."""
    text = f"budget ${budget['limit_usd']:g}: {money(budget['spent_usd'])} spent"
    if budget.get("held_usd"):
        text += f", {money(budget['held_usd'])} held by calls that never returned"
    refused = int(budget.get("refused_calls") or 0)
    if not refused:
        return text, ""
    calls = "call" if refused == 1 else "calls"
    return f"{text}; it stopped {refused} judge {calls} whose worst case did not fit", "yellow"


def comparison_lines(comparison: Mapping[str, Any] | None) -> list[Line]:
    """One line per metric against the baseline: difference, interval, status."""
    if not comparison:
        return []
    if comparison["status"] == "not comparable":
        return [("  not compared with the baseline: " + "; ".join(comparison["reasons"]), "")]
    power = " (underpowered: only large drops are flagged)" if comparison["underpowered"] else ""
    lines: list[Line] = [(f"  vs baseline, paired by sample id{power}:", "")]
    for name, m in comparison["metrics"].items():
        colour = "red" if m["status"] == "regression" else ""
        lines.append(
            (
                f"    {name}: {signed(m['diff'])} (95% CI {interval(m['ci95'])}, "
                f"{m['compared']} paired) {comparison_status(m)}",
                colour,
            )
        )
    for name, one in (comparison.get("variants") or {}).items():
        lines.append((f"    variant {name}: {variant_comparison(one)}", ""))
    return lines


def variant_comparison(one: Mapping[str, Any]) -> str:
    """A variant against its baseline self, in words."""
    if one["status"] in ("new", "not comparable"):
        return f"{one['status']} ({'; '.join(one.get('reasons', []))})"
    if one["status"] == "regression":
        return "regression in " + ", ".join(one.get("regressed", []))
    return "ok"


def section(record: Mapping[str, Any]) -> list[Line]:
    """The section's lines, every control character in them shown escaped: sample ids,
    dataset keys and judge messages come from outside and must not repaint the terminal."""
    return [(printable(text), colour) for text, colour in _lines(record)]


def _lines(record: Mapping[str, Any]) -> list[Line]:
    lines: list[Line] = []
    for name, scenario in record["scenarios"].items():
        counts = scenario["counts"]
        judge = scenario["fingerprints"]["judge"]
        prompt = scenario["fingerprints"]["prompt"]["ref"] or "no prompt"
        status = scenario["status"]
        shown = status.upper() if record["gated"] else f"not gated (bands: {status})"
        lines.append(
            (
                f"{name}: {shown}  ({sum(counts.values())} samples: "
                f"{counts['scored']} scored, {counts['unscored']} unscored, "
                f"{counts['error']} errors · judge {judge['mode']} · prompt {prompt})",
                COLOURS[status] if record["gated"] else "yellow",
            )
        )
        if "variants" in scenario:
            lines.extend(variant_lines(record, name))
        else:
            lines.extend(_table(scenario["metrics"]))
        lines.extend(noise_lines(scenario["metrics"]))
        lines.extend(comparison_lines(scenario.get("comparison")))
        lines.append(("  " + usage_line(scenario["usage"]), ""))
        outputs = scenario.get("outputs")
        if outputs:
            made, cached = outputs["produced"], outputs["cached"]
            lines.append((f"  outputs: {made} produced, {cached} from the cache", ""))
        for problem in scenario["problems"]:
            lines.append(("  " + problem, COLOURS[status]))
    budget = (record.get("run") or {}).get("budget")
    if budget:
        lines.append(budget_line(budget))
    if not record["gated"]:
        lines.append((record["gate_note"], "yellow"))
    if record.get("partial"):
        lines.append((f"partial run ({record['partial_reason']}): bands not gated", "yellow"))
    if not record["gated"]:
        # Never a bare PASS or FAIL for a run that did not decide anything.
        why = "see the note above"
        if record.get("partial"):  # its reason: "interrupted", "stopped early: ..."
            why = record.get("partial_reason") or "partial run"
        text = f"llmbench verdict: not gated ({why}); the bands say {record['status'].upper()}"
        if not record["scenarios"]:  # nothing was measured: no band said anything
            text = "llmbench verdict: not gated (no sample selected)"
        lines.append((text, "yellow"))
        return lines
    verdict = f"llmbench verdict: {record['status'].upper()}"
    if record.get("verdict_note"):
        verdict += f" ({record['verdict_note']})"
    lines.append((verdict, COLOURS[record["status"]]))
    return lines


def comparison_status(m: Mapping[str, Any]) -> str:
    """A metric's comparison in words: "ok" only when the comparison could have flagged."""
    if m["status"] == "ok" and m.get("underpowered"):
        return "not flagged (underpowered)"
    return str(m["status"])
