"""The rules that decided a verdict, as the record stores them: written from the YAML's
scenario at the run, read back by every later reader (merge, ``llmbench report``, the
nightly), so the same record gives the same verdict everywhere. A record older than the
stored rules reads as the defaults."""

from __future__ import annotations

from pytest_llmbench.benchmark.config import ScenarioConfig
from pytest_llmbench.benchmark.rules import RegressionRules, UnscoredRules
from pytest_llmbench.results.schema import ScenarioRecord, ScenarioRules


def rules_of(scenario: ScenarioConfig, fail_on_warn: bool) -> ScenarioRules:
    """The scenario's rules as the record stores them (``--llmbench-fail-on-warn`` included)."""
    regression = scenario.regression
    return {
        "fail_on_warn": fail_on_warn or scenario.fail_on_warn,
        "regression": {
            "margins": dict(sorted(regression.margins.items())),
            "default_margin": regression.default_margin,
            "severity": regression.severity,
            "min_samples": regression.min_samples,
        },
        "unscored": {"warn": scenario.unscored.warn, "fail": scenario.unscored.fail},
    }


def stored_rules(block: ScenarioRecord) -> ScenarioRules:
    """The rules a scenario block was decided by; the defaults for a record older than the
    stored rules (its fail_on_warn, which it did store, kept)."""
    if isinstance(block.get("rules"), dict):
        return block["rules"]
    return default_rules(bool(block.get("fail_on_warn", False)))


def default_rules(fail_on_warn: bool = False) -> ScenarioRules:
    """The rules of a scenario that states none."""
    defaults = RegressionRules()
    return {
        "fail_on_warn": fail_on_warn,
        "regression": {
            "margins": {},
            "default_margin": defaults.default_margin,
            "severity": defaults.severity,
            "min_samples": defaults.min_samples,
        },
        "unscored": {"warn": UnscoredRules.warn, "fail": UnscoredRules.fail},
    }


def regression_rules(rules: ScenarioRules) -> RegressionRules:
    stored = rules["regression"]
    return RegressionRules(
        margins=dict(stored["margins"]),
        default_margin=float(stored["default_margin"]),
        severity=stored["severity"],
        min_samples=int(stored["min_samples"]),
    )


def unscored_rules(rules: ScenarioRules) -> UnscoredRules:
    stored = rules["unscored"]
    return UnscoredRules(warn=float(stored["warn"]), fail=float(stored["fail"]))
