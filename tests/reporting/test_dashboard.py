"""The shipped Grafana dashboard: it parses, every panel queries something, and every
metric its queries name is one the plugin exports (taken from a registry built from a run
record, not from a hand-kept list)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("prometheus_client", reason="prometheus-client is not installed")
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from support.records import LATENCIES, record_fixture

from pytest_llmbench.reporting import prometheus as prom

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "llmbench.json"
METRIC_NAME = re.compile(r"\bbenchmark_[a-z0-9_]*[a-z0-9]\b")
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from all_panels(panel.get("panels") or [])  # a collapsed row holds its panels


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    found = [
        (f"panel {panel['title']!r} target {target['refId']}", target["expr"])
        for panel in all_panels(dashboard["panels"])
        for target in panel.get("targets") or []
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            found.append((f"variable {variable['name']!r}", text))
    return found


def exported() -> dict[str, tuple[str, str]]:
    """Series name -> (family, type) as Prometheus ingests them: parsed back from the
    exposition text of a registry built from a sample record, so a histogram contributes
    its _bucket, _sum and _count series and never its bare family name."""
    registry = prom.build_registry(record_fixture(), LATENCIES)
    text = generate_latest(registry).decode("utf-8")
    names = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.name.endswith("_created"):  # prometheus-client's own bookkeeping
                names[sample.name] = (family.name, family.type)
    return names


def test_dashboard_is_an_importable_grafana_export(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["uid"] == "pytest-llmbench"
    assert dashboard["title"] == "pytest-llmbench"
    (source,) = dashboard["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "DS_PROMETHEUS",
        "datasource",
        "prometheus",
    )
    ids = [panel["id"] for panel in all_panels(dashboard["panels"])]
    assert len(ids) == len(set(ids)), "panel ids are unique"


def test_every_panel_queries_the_prometheus_input(dashboard: dict[str, Any]) -> None:
    panels = [p for p in all_panels(dashboard["panels"]) if p["type"] != "row"]
    assert len(panels) >= 8
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        targets = panel.get("targets") or []
        assert targets, f"panel {panel['title']!r} has no targets"
        assert len({t["refId"] for t in targets}) == len(targets), panel["title"]
        for target in targets:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), f"panel {panel['title']!r} has an empty query"
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])


def test_every_metric_a_query_names_is_exported(dashboard: dict[str, Any]) -> None:
    names = exported()
    unknown = [
        (where, name)
        for where, expr in queries(dashboard)
        for name in METRIC_NAME.findall(expr)
        if name not in names
    ]
    assert unknown == [], f"queries name series the plugin does not export: {unknown}"


def test_every_exported_metric_is_charted(dashboard: dict[str, Any]) -> None:
    names = exported()
    charted = {
        names[name][0]
        for _, expr in queries(dashboard)
        for name in METRIC_NAME.findall(expr)
        if name in names
    }
    assert charted == {family for family, _ in names.values()}


def test_histogram_is_read_through_its_buckets(dashboard: dict[str, Any]) -> None:
    names = exported()
    histograms = {family for family, kind in names.values() if kind == "histogram"}
    assert histograms == {"benchmark_judge_latency_seconds"}
    exprs = [expr for _, expr in queries(dashboard)]
    for quantile in ("0.5", "0.95", "0.99"):
        assert any(
            f"histogram_quantile({quantile}, sum by (le, suite, scenario) "
            "(benchmark_judge_latency_seconds_bucket{" in expr
            for expr in exprs
        ), quantile
    # Each push holds one run: rate() over a per-run histogram or a per-run count is wrong.
    assert not [e for e in exprs if "rate(" in e or "increase(" in e]


def test_metric_trends_draw_the_pass_and_warn_bands(dashboard: dict[str, Any]) -> None:
    (trend,) = [
        p
        for p in all_panels(dashboard["panels"])
        if p.get("repeat") == "metric" and p["type"] != "row"
    ]
    by_legend = {t["legendFormat"]: t["expr"] for t in trend["targets"]}
    assert set(by_legend) == {"value", "pass threshold", "warn threshold"}
    assert by_legend["value"].startswith("benchmark_metric_value{")
    assert by_legend["pass threshold"].startswith("benchmark_metric_pass_threshold{")
    assert by_legend["warn threshold"].startswith("benchmark_metric_warn_threshold{")
    overrides = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in trend["fieldConfig"]["overrides"]
    }
    assert overrides["warn threshold"]["custom.fillBelowTo"] == "pass threshold"  # the warn band


def test_the_warn_band_is_shaded_in_the_warn_colour(dashboard: dict[str, Any]) -> None:
    # Grafana fills between two series in the colour of the series that carries
    # fillBelowTo: that series must wear the verdict panel's WARN colour, not the PASS one.
    (stat,) = [p for p in all_panels(dashboard["panels"]) if p["type"] == "stat"]
    (mapping,) = stat["fieldConfig"]["defaults"]["mappings"]
    colours = {v["text"]: v["color"] for v in mapping["options"].values()}
    (trend,) = [
        p
        for p in all_panels(dashboard["panels"])
        if p.get("repeat") == "metric" and p["type"] != "row"
    ]
    overrides = {
        o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
        for o in trend["fieldConfig"]["overrides"]
    }
    filling = [name for name, props in overrides.items() if "custom.fillBelowTo" in props]
    assert filling == ["warn threshold"]
    band = overrides["warn threshold"]
    assert band["custom.fillBelowTo"] == "pass threshold"
    assert band["color"] == {"mode": "fixed", "fixedColor": colours["WARN"]}
    assert colours["WARN"] != colours["PASS"]
    assert overrides["pass threshold"]["color"] == {"mode": "fixed", "fixedColor": colours["PASS"]}
    assert band["custom.fillOpacity"] > 0


def test_every_query_is_filtered_by_suite(dashboard: dict[str, Any]) -> None:
    # Pushes from two suites share a Pushgateway, each in its own group (suite=...).
    assert "suite" in {v["name"] for v in dashboard["templating"]["list"]}
    unfiltered = [
        where for where, expr in queries(dashboard) if "benchmark_" in expr and "$suite" not in expr
    ]
    assert unfiltered == ["variable 'job'", "variable 'suite'"]  # the two above it


def test_verdict_panel_maps_every_status(dashboard: dict[str, Any]) -> None:
    (stat,) = [p for p in all_panels(dashboard["panels"]) if p["type"] == "stat"]
    (mapping,) = stat["fieldConfig"]["defaults"]["mappings"]
    assert {k: v["text"] for k, v in mapping["options"].items()} == {
        "0": "PASS",
        "1": "WARN",
        "2": "FAIL",
    }
    assert set(prom.STATUSES) == {"pass", "warn", "fail"}


def test_every_variable_a_query_uses_is_defined(dashboard: dict[str, Any]) -> None:
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    used = {a or b for _, expr in queries(dashboard) for a, b in VARIABLE.findall(expr)}
    assert used <= defined, used - defined
    repeats = {p["repeat"] for p in all_panels(dashboard["panels"]) if p.get("repeat")}
    assert repeats <= defined
