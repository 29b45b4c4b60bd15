"""Run records over time: the history table and the HTML page of charts.

``load_runs`` reads a folder; everything else is a pure function of the loaded records,
rendered deterministically (sorted runs, fixed float formatting, no clock), so the same
folder always makes the same page.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

from pytest_llmbench.errors import RecordError
from pytest_llmbench.reporting import history_compare
from pytest_llmbench.reporting.text_format import columns, money, number, printable, seconds
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord

Record = Mapping[str, Any]
COLOURS = {"pass": "#1a7f37", "warn": "#b35900", "fail": "#cf222e", "no data": "#6e7781"}
# Chart geometry (SVG user units).
WIDTH, HEIGHT = 520, 210
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 34
MAX_X_LABELS = 8


def load_runs(directory: Path) -> tuple[list[Record], list[str]]:
    """The run records in ``directory`` (``*.json``), oldest first, as summaries (see
    `summary`), and one line per file skipped (not a run record, or a shard record that
    needs merging first). One record is read and checked at a time (record.load, the
    whole schema), then only its summary is kept: the memory is one record's plus the
    summaries, whose per-sample scores (for the page's comparison) stay within
    history_compare.MAX_PAGE_SCORES however many records the folder holds."""
    return collect_runs(
        (str(path), functools.partial(record_mod.load, path))
        for path in sorted(directory.glob("*.json"))
    )


def collect_runs(
    sources: Iterable[tuple[str, Callable[[], RunRecord]]],
) -> tuple[list[Record], list[str]]:
    """`load_runs` over any place records are kept: (where, read) pairs, ``read`` giving the
    checked record or raising RecordError; one record in memory at a time."""
    runs: list[Record] = []
    skipped: list[str] = []
    for where, read in sources:
        try:
            run = read()
        except RecordError as error:
            skipped.append(str(error))
            continue
        shard = run.get("shard")
        if shard:
            skipped.append(
                f"{where}: shard {shard['index']}/{shard['count']} of a run; join the shards "
                "with `llmbench merge` and keep the merged record instead"
            )
            continue
        runs.append(summary(run))
        del run  # before the next file is read
        history_compare.keep_within_budget(runs, time_order)
    runs.sort(key=time_order)
    return runs, skipped


def time_order(run: Record) -> tuple[str, str]:
    return started_at(run), run_id(run)


def summary(run: RunRecord) -> dict[str, Any]:
    """What the table and the page read of a checked record: everything but the per-sample
    parts (each scenario's ``samples``, kept as their count in ``sample_count`` and as the
    bounded scores the page's comparison pairs, and the run block's ``judge_latency_s``),
    which are most of a large record."""
    kept: dict[str, Any] = {k: v for k, v in run.items() if k not in ("scenarios", "run")}
    kept["run"] = {k: v for k, v in run.get("run", {}).items() if k != "judge_latency_s"}
    kept["scenarios"] = {
        name: {
            **{k: v for k, v in scenario.items() if k != "samples"},
            "sample_count": len(scenario["samples"]),
            history_compare.SCORES: history_compare.paired_scores(scenario),
        }
        for name, scenario in run["scenarios"].items()
    }
    return kept


def sample_count(scenario: Record) -> int:
    """How many samples a scenario recorded, of a summary or of a whole record."""
    if "sample_count" in scenario:
        return int(scenario["sample_count"])
    return len(scenario.get("samples") or [])


# -- what a row shows --------------------------------------------------------------------


def run_block(run: Record) -> Mapping[str, Any]:
    return run.get("run") or {}


def started_at(run: Record) -> str:
    return str(run_block(run).get("started_at") or "")


def run_id(run: Record) -> str:
    return str(run_block(run).get("id") or "—")


def git(run: Record) -> Mapping[str, Any]:
    return run_block(run).get("git") or {}


def commit(run: Record, length: int = 10) -> str:
    value = git(run).get("commit")
    return str(value)[:length] if value else "—"


def branch(run: Record) -> str:
    return str(git(run).get("branch") or "—")


def date(run: Record) -> str:
    """ "2025-11-09 14:02" from an ISO start time."""
    text = started_at(run)
    return text[:16].replace("T", " ") if text else "—"


def cost(scenarios: Sequence[Record]) -> float | None:
    costs = [s["usage"]["cost_usd"] for s in scenarios if s.get("usage", {}).get("cost_usd")]
    known = [s for s in scenarios if s.get("usage", {}).get("cost_usd") is not None]
    return round(math.fsum(costs), 6) if known else None


def qualifier(run: Record) -> str:
    """ "" for a gated complete run, else why its verdict did not gate."""
    if run.get("partial"):
        return f"partial: {run.get('partial_reason')}"
    if not run.get("gated"):
        return str(run.get("gate_note") or "not gated")
    return ""


def metric_names(runs: Sequence[Record]) -> list[str]:
    """Every metric of every scenario, in order of first appearance."""
    names: dict[str, None] = {}
    for run in runs:
        for scenario in run["scenarios"].values():
            names.update(dict.fromkeys(scenario["metrics"]))
    return list(names)


def table_parts(name: str, scenario: Record) -> list[tuple[str, Record]]:
    """What the table shows of a scenario, one row each: the scenario itself, or for a
    scenario with ``variants:`` each variant in the YAML's order as ``name[variant]``, with
    its own status, metrics and cost (the scenario's block holds the reference's only)."""
    block = scenario.get("variants") or {}
    summaries = block.get("variants") or {}
    if not summaries:
        return [(name, scenario)]
    order = [v for v in block.get("order") or [] if v in summaries]
    order += [v for v in summaries if v not in order]
    return [(f"{name}[{printable(variant)}]", summaries[variant]) for variant in order]


def text_table(runs: Sequence[Record]) -> list[str]:
    """One line per run and scenario (per run, scenario and variant for a scenario with
    ``variants:``): date, run id, commit, branch, scenario, status, each metric's value,
    cost."""
    metrics = metric_names(runs)
    rows = [["date", "run", "commit", "branch", "scenario", "status", *metrics, "cost"]]
    for run in runs:
        for name, scenario in (
            part for item in run["scenarios"].items() for part in table_parts(*item)
        ):
            status = scenario["status"] + ("" if run.get("gated") else "*")
            values = [
                number(scenario["metrics"][m]["value"]) if m in scenario["metrics"] else ""
                for m in metrics
            ]
            rows.append(
                [
                    *(date(run), run_id(run), commit(run), branch(run), name, status),
                    *values,
                    money(cost([scenario])),
                ]
            )
    right = {6 + i for i in range(len(metrics))} | {len(rows[0]) - 1}
    lines = columns(rows, right)
    if any(not run.get("gated") for run in runs):
        lines.append("* not gated (a partial run or a node-id selection)")
    return lines


# -- charts ------------------------------------------------------------------------------


def _f(value: float) -> str:
    """SVG coordinates with one decimal: deterministic and small."""
    return number(value, 1)


def nice_step(span: float, count: int = 4) -> float:
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def y_domain(numbers: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(numbers), max(numbers)
    if hi - lo < 1e-9:
        pad = abs(hi) * 0.05 or 0.05
        lo, hi = lo - pad, hi + pad
    pad = (hi - lo) * 0.08
    return lo - pad, hi + pad


def tick_label(value: float, step: float) -> str:
    digits = next((d for d in range(7) if abs(round(step, d) - step) < 1e-9), 6)
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def chart(name: str, points: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One metric over time: SVG geometry for the template. ``points`` are in time order,
    each {run, date, commit, value, ci95, status, pass, warn, better, hollow}."""
    numbers = [p["pass"] for p in points] + [p["warn"] for p in points]
    for p in points:
        if p["value"] is not None:
            numbers.append(p["value"])
        if p["ci95"]:
            numbers.extend(p["ci95"])
    lo, hi = y_domain(numbers)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + (hi - min(max(value, lo), hi)) / (hi - lo) * plot_h

    count = len(points)
    xs = [LEFT + plot_w * ((i + 0.5) / count) for i in range(count)]
    bands = []
    for i, p in enumerate(points):
        x0 = LEFT if i == 0 else (xs[i - 1] + xs[i]) / 2
        x1 = LEFT + plot_w if i == count - 1 else (xs[i] + xs[i + 1]) / 2
        if p["better"] == "lower":
            pass_span, warn_span = (lo, p["pass"]), (p["pass"], p["warn"])
        else:
            pass_span, warn_span = (p["pass"], hi), (p["warn"], p["pass"])
        for kind, (a, b) in (("pass", pass_span), ("warn", warn_span)):
            top, bottom = y(max(a, b)), y(min(a, b))
            if bottom - top > 0.05:
                bands.append(
                    {
                        "kind": kind,
                        "x": _f(x0),
                        "y": _f(top),
                        "w": _f(x1 - x0),
                        "h": _f(bottom - top),
                    }
                )
    step = nice_step(hi - lo)
    first = math.ceil(lo / step)
    yticks = []
    for k in range(first, first + 12):
        value = k * step
        if value > hi + 1e-12:
            break
        yticks.append({"y": _f(y(value)), "label": tick_label(value, step)})
    every = max(1, math.ceil(count / MAX_X_LABELS))
    xticks = [
        {"x": _f(xs[i]), "label": points[i]["date"][5:10] or "—"}
        for i in range(count)
        if i % every == 0 or i == count - 1
    ]
    if len(xticks) > 1 and xticks[-1]["x"] == xticks[-2]["x"]:
        xticks.pop()
    segments: list[list[str]] = [[]]
    marks = []
    for i, p in enumerate(points):
        if p["value"] is None:
            segments.append([])
            continue
        segments[-1].append(f"{_f(xs[i])},{_f(y(p['value']))}")
        ci = p["ci95"]
        marks.append(
            {
                "x": _f(xs[i]),
                "y": _f(y(p["value"])),
                "colour": COLOURS.get(p["status"], COLOURS["no data"]),
                "status": p["status"],
                "hollow": p["hollow"],
                "ci": {"y1": _f(y(ci[0])), "y2": _f(y(ci[1]))} if ci else None,
                "title": (
                    f"{p['date']} · run {p['run']} · {p['commit']} · {name} "
                    f"{number(p['value'])} ({p['status']})"
                ),
            }
        )
    latest = points[-1]
    op = "≤" if latest["better"] == "lower" else "≥"
    return {
        "metric": name,
        "width": WIDTH,
        "height": HEIGHT,
        "plot": {"x": LEFT, "y": TOP, "w": plot_w, "h": plot_h, "x2": LEFT + plot_w},
        "bands": bands,
        "yticks": yticks,
        "xticks": xticks,
        "lines": [" ".join(s) for s in segments if len(s) > 1],
        "marks": marks,
        "latest": number(latest["value"]),
        "latest_status": latest["status"] + (", not gated" if latest["hollow"] else ""),
        "band_text": f"pass {op} {latest['pass']:g}, warn {op} {latest['warn']:g}",
        "x_label_y": HEIGHT - BOTTOM + 18,
    }


def scenario_views(runs: Sequence[Record]) -> list[dict[str, Any]]:
    """Per scenario (sorted by name): its charts, one per metric, over the runs that have it."""
    names = sorted({name for run in runs for name in run["scenarios"]})
    views = []
    for name in names:
        having = [run for run in runs if name in run["scenarios"]]
        metrics: dict[str, list[dict[str, Any]]] = {}
        for run in having:
            scenario = run["scenarios"][name]
            for metric, m in scenario["metrics"].items():
                metrics.setdefault(metric, []).append(
                    {
                        "run": run_id(run),
                        "date": date(run),
                        "commit": commit(run),
                        "value": m["value"],
                        "ci95": m["ci95"],
                        "status": m["status"],
                        "pass": float(m["pass"]),
                        "warn": float(m["warn"]),
                        "better": m["better"],
                        "hollow": not run.get("gated"),
                    }
                )
        gating = [run for run in having if gates(run, name)]
        latest = gating[-1] if gating else None
        views.append(
            {
                "name": name,
                # The headline: the latest run that gated this scenario whole, never a
                # one-sample rerun, a -k subset, a shard or an interrupted run after it.
                "status": latest["scenarios"][name]["status"] if latest else "no data",
                "headline": headline(name, having, latest),
                "runs": len(having),
                "charts": [chart(metric, points) for metric, points in metrics.items()],
            }
        )
    return views


def gates(run: Record, name: str) -> bool:
    """Whether ``run`` gated scenario ``name`` on its whole selection: a gated, complete
    run that selected all of the scenario's samples or its smoke set (records without a
    ``selection`` predate it and go by the run's ``gated``)."""
    if run.get("partial") or not run.get("gated") or run.get("shard"):
        return False
    selection = run["scenarios"][name].get("selection") or {}
    return selection.get("kind", "all") in ("all", "smoke")


def headline(name: str, having: Sequence[Record], latest: Record | None) -> str:
    """The sentence under a scenario's name: its latest status, from which run, and how
    many runs after it did not count."""
    runs = f"{len(having)} run{'' if len(having) == 1 else 's'}"
    if latest is None:
        return (
            f"{runs}; no latest status: none gated the whole scenario (a node-id selection, "
            "a -k subset, a shard or an interrupted run reports its scores and does not gate)."
        )
    status = latest["scenarios"][name]["status"]
    later = len(having) - 1 - list(having).index(latest)
    after = (
        f"; the {later} later run{'' if later == 1 else 's'} did not gate (partial or a "
        "subset of the samples)"
        if later
        else ""
    )
    return (
        f"{runs}; the latest status is {status}, from run {run_id(latest)} of "
        f"{date(latest)}{after}."
    )


def run_rows(runs: Sequence[Record]) -> list[dict[str, Any]]:
    """The page's table of runs, newest first."""
    rows = []
    for run in reversed(runs):
        scenarios = run["scenarios"]
        rows.append(
            {
                "date": date(run),
                "id": run_id(run),
                "commit": commit(run, 12),
                "branch": branch(run),
                "status": run["status"],
                "note": qualifier(run),
                "scenarios": [(name, s["status"]) for name, s in sorted(scenarios.items())],
                "samples": sum(sample_count(s) for s in scenarios.values()),
                "cost": money(cost(list(scenarios.values()))),
                "duration": seconds(run_block(run).get("duration_s")),
            }
        )
    return rows


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pytest_llmbench.reporting", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(runs: Sequence[Record], *, skipped: Sequence[str] = ()) -> str:
    """One self-contained HTML page: nothing to fetch (no fonts, images, links or external
    scripts); one inline script, allowed by its hash in the page's CSP, pairs the embedded
    scores of two picked runs (reporting/history_compare)."""
    template = _environment().get_template("history.html.j2")
    views = scenario_views(runs)
    data = history_compare.page_data([v["name"] for v in views], runs, option_label)
    return template.render(
        runs=run_rows(runs),
        count=len(runs),
        first=date(runs[0]) if runs else "",
        last=date(runs[-1]) if runs else "",
        scenarios=views,
        skipped=list(skipped),
        colours=COLOURS,
        compare_json=markupsafe.Markup(history_compare.script_json(data)),
        compare_script=markupsafe.Markup(history_compare.script()),
        script_hash=markupsafe.Markup(history_compare.script_hash()),
        compare_notes=history_compare.left_out_notes(runs),
    )


def option_label(run: Record) -> str:
    """How a run is named in the page's pickers: "2025-11-09 03:00 · run 20251109T..."."""
    return f"{date(run)} · {run_id(run)}"
