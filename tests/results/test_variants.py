"""The variants' paired comparison (results/variants.py): hand-computed differences, no
winner when the interval includes zero, exact antisymmetry, the verdict over `gate:`."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.records import VARIANTS_SPEC, variants_record, variants_scenario

from pytest_llmbench.benchmark.rules import RegressionRules
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import validation
from pytest_llmbench.results.problems import regression_problems, sentence
from pytest_llmbench.results.rederive import rederive
from pytest_llmbench.results.regression import compare_scenario
from pytest_llmbench.results.schema import RunRecord
from pytest_llmbench.results.variants import Spec, difference

T_975_2 = 4.302652729911275  # Student t, 97.5%, two degrees of freedom


def by_id(*values: float) -> dict[str, float]:
    return {f"s{i}": v for i, v in enumerate(values)}


def test_three_pairs_give_the_hand_computed_mean_and_t_interval() -> None:
    found = difference("b", "a", "accuracy", "higher", by_id(0.9, 0.9, 1.0), by_id(0.7, 0.7, 0.7))
    diffs = [0.2, 0.2, 0.3]
    mean = math.fsum(diffs) / 3
    sd = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / 2)
    half = T_975_2 * sd / math.sqrt(3)
    assert found["mean_diff"] == pytest.approx(mean, abs=1e-12)
    assert found["ci95"] == pytest.approx([mean - half, mean + half], abs=1e-9)
    assert (found["n"], found["ci_method"], found["status"]) == (3, "t", "better")


def test_an_interval_that_includes_zero_names_no_winner() -> None:
    found = difference("b", "a", "accuracy", "higher", by_id(0.8, 0.9, 1.0), by_id(0.7, 0.7, 0.7))
    assert found["ci95"] is not None and found["ci95"][0] < 0 < found["ci95"][1]
    assert found["status"] == "no detectable difference"


def test_lower_is_better_turns_a_rise_into_worse() -> None:
    found = difference("b", "a", "latency", "lower", by_id(3.0, 3.1, 3.2), by_id(1.0, 1.0, 1.1))
    assert found["status"] == "worse"


def test_only_the_samples_both_scored_are_paired() -> None:
    found = difference("b", "a", "m", "higher", {"x": 1.0, "y": 0.5}, {"y": 0.25, "z": 0.0})
    assert (found["n"], found["mean_diff"], found["ci95"], found["ci_method"]) == (
        1,
        0.25,
        None,
        "none",
    )
    assert found["status"] == "no detectable difference"  # n < 2: no interval, no winner


def test_no_pairs_give_no_difference() -> None:
    found = difference("b", "a", "m", "higher", {"x": 1.0}, {"y": 0.0})
    assert (found["n"], found["mean_diff"], found["status"]) == (
        0,
        None,
        "no detectable difference",
    )


def test_equal_variants_have_no_winner() -> None:
    scores = by_id(0.1, 0.5, 0.9, 0.3, 0.7, 0.2)
    found = difference("b", "a", "m", "higher", scores, dict(scores))
    assert (found["mean_diff"], found["ci95"], found["status"]) == (
        0.0,
        [0.0, 0.0],
        "no detectable difference",
    )


SCORES = st.dictionaries(
    st.sampled_from([f"s{i}" for i in range(12)]),
    st.floats(0, 1, allow_nan=False).map(lambda x: round(x, 3)),
    max_size=12,
)
SWAPPED = {
    "better": "worse",
    "worse": "better",
    "no detectable difference": "no detectable difference",
}


@given(SCORES, SCORES, st.sampled_from(["higher", "lower"]))
def test_swapping_the_variants_negates_the_difference_and_swaps_better_and_worse(
    one: dict[str, float], other: dict[str, float], better: str
) -> None:
    forward = difference("b", "a", "m", better, one, other)
    backward = difference("a", "b", "m", better, other, one)
    assert forward["n"] == backward["n"]
    if forward["mean_diff"] is None:
        assert backward["mean_diff"] is None
    else:
        assert backward["mean_diff"] == (-forward["mean_diff"] or 0.0)
    if forward["ci95"] is None:
        assert backward["ci95"] is None
    else:
        assert backward["ci95"] == [-forward["ci95"][1] or 0.0, -forward["ci95"][0] or 0.0]
    assert backward["status"] == SWAPPED[forward["status"]]


def test_differences_that_are_their_own_negation_get_a_symmetric_interval() -> None:
    # Found by the property above: {-0.5, 0.5, -1, 1, 0} either way round; the bootstrap's
    # interval of them was [-1.2005, 1.0954] in both directions.
    one = {"s0": 0.0, "s1": 0.5, "s2": 0.0, "s3": 1.0, "s4": 1.0}
    other = {"s0": 0.5, "s1": 0.0, "s2": 1.0, "s3": 0.0, "s4": 1.0}
    forward = difference("b", "a", "m", "higher", one, other)
    backward = difference("a", "b", "m", "higher", other, one)
    assert forward["mean_diff"] == backward["mean_diff"] == 0.0
    assert forward["ci95"] == backward["ci95"]
    assert forward["ci95"] is not None and forward["ci95"][0] == -forward["ci95"][1] < 0
    assert forward["status"] == backward["status"] == "no detectable difference"


@given(SCORES, SCORES, st.sampled_from(["higher", "lower"]))
def test_a_winner_only_when_the_interval_excludes_zero(
    one: dict[str, float], other: dict[str, float], better: str
) -> None:
    found = difference("b", "a", "m", better, one, other)
    ci = found["ci95"]
    if ci is None or ci[0] <= 0 <= ci[1]:
        assert found["status"] == "no detectable difference"
    else:
        rose = ci[0] > 0
        assert found["status"] == ("better" if rose == (better == "higher") else "worse")


def test_the_verdict_is_the_worst_of_the_gate_variants_and_metrics_are_the_references() -> None:
    block = variants_scenario([0.5, 0.55, 0.6], [0.9, 0.95, 0.9])
    variants = block["variants"]
    assert {n: (v["status"], v["gated"]) for n, v in variants["variants"].items()} == {
        "a": ("fail", False),
        "b": ("pass", True),
    }
    assert (block["status"], block["problems"]) == ("pass", [])
    assert block["metrics"] == variants["variants"]["a"]["metrics"]
    assert block["counts"] == {"scored": 6, "unscored": 0, "error": 0}
    assert [(s["id"], s["variant"]) for s in block["samples"]] == [
        ("s-01", "a"),
        ("s-01", "b"),
        ("s-02", "a"),
        ("s-02", "b"),
        ("s-03", "a"),
        ("s-03", "b"),
    ]
    gated_a = variants_scenario(
        [0.5, 0.55, 0.6], [0.9, 0.95, 0.9], Spec(**{**VARIANTS_SPEC.__dict__, "gate": ("a", "b")})
    )
    assert gated_a["status"] == "fail"
    assert gated_a["problems"] == [
        "variant a: accuracy of digest is in its fail band: 0.550 (pass ≥ 0.8, warn ≥ 0.7)"
    ]


def good_record() -> dict[str, Any]:
    record: dict[str, Any] = json.loads(record_mod.dumps(variants_record([0.8, 0.9], [0.9, 0.9])))
    return record


def test_a_variants_record_reads_back_valid() -> None:
    validation.check_record(good_record())


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda v, s: v.update(reference="zz"),
            "scenarios.digest.variants.reference: text 'zz' is not one of the variants",
        ),
        (
            lambda v, s: v.update(gate=["b", "zz"]),
            "scenarios.digest.variants.gate[1]: text 'zz' is not one of the variants",
        ),
        (
            lambda v, s: v.update(order=["a", "a"]),
            "scenarios.digest.variants.order: expected each variant's name once",
        ),
        (
            lambda v, s: v["differences"][0].update(against="zz"),
            "scenarios.digest.variants.differences[0].against: text 'zz' is not one of the variants",
        ),
        (
            lambda v, s: s[1].pop("variant"),
            "scenarios.digest.samples[1].variant: missing (the scenario has variants)",
        ),
        (
            lambda v, s: s[1].update(variant="a"),
            "scenarios.digest.samples[1]: id text 's-01' appears twice for variant a",
        ),
        (
            lambda v, s: v["differences"][0].update(status="winner"),
            'scenarios.digest.variants.differences[0].status: expected one of "better", '
            '"worse", "no detectable difference", not text \'winner\'',
        ),
    ],
)
def test_a_damaged_variants_block_is_refused_naming_its_key(damage: Any, message: str) -> None:
    record = copy.deepcopy(good_record())
    block = record["scenarios"]["digest"]
    damage(block["variants"], block["samples"])
    with pytest.raises(validation.Invalid) as caught:
        validation.check_record(record)
    assert str(caught.value) == message


def test_a_record_re_derived_from_its_samples_keeps_its_variants_and_verdict() -> None:
    record = variants_record([0.5, 0.55, 0.6], [0.9, 0.95, 0.9])
    again = rederive(record)
    assert again["scenarios"]["digest"] == record["scenarios"]["digest"]
    assert again["status"] == record["status"] == "pass"


def with_params(record: RunRecord, variant: str, params: dict[str, Any]) -> RunRecord:
    changed = copy.deepcopy(record)
    summary = changed["scenarios"]["digest"]["variants"]["variants"][variant]
    summary["params"], summary["fingerprint"] = params, "9" * 64
    return changed


def test_each_variant_is_compared_with_itself_in_the_baseline() -> None:
    baseline = variants_record([0.9] * 6, [0.9] * 6)
    current = variants_record([0.9] * 6, [0.5] * 6)  # b, gated, dropped; a did not
    comparison = compare_scenario(
        current["scenarios"]["digest"], baseline["scenarios"]["digest"], RegressionRules()
    )
    variants = comparison["variants"]
    assert {n: (c["status"], c["gated"], c.get("regressed")) for n, c in variants.items()} == {
        "a": ("ok", False, []),
        "b": ("regression", True, ["accuracy"]),
    }
    assert comparison["status"] == "regression"
    assert comparison["metrics"] == variants["a"]["metrics"]  # the reference's, for old readers
    problems = [sentence(p) for p in regression_problems("digest", comparison)]
    assert problems == [
        "accuracy of digest (variant b) regressed (error): -0.400 vs baseline over 6 samples, "
        "95% CI -0.400 – -0.400, margin 0.02; underpowered: only a large drop is flagged"
    ]


def test_a_regression_of_a_variant_not_gated_does_not_regress_the_scenario() -> None:
    baseline = variants_record([0.9] * 6, [0.9] * 6)
    current = variants_record([0.5] * 6, [0.9] * 6)  # a (not gated) dropped
    comparison = compare_scenario(
        current["scenarios"]["digest"], baseline["scenarios"]["digest"], RegressionRules()
    )
    assert comparison["variants"]["a"]["status"] == "regression"
    assert comparison["status"] == "ok"
    assert regression_problems("digest", comparison) == []


def test_a_variant_whose_params_changed_is_not_comparable_naming_the_keys() -> None:
    baseline = variants_record([0.9] * 6, [0.9] * 6)
    current = with_params(baseline, "b", {"model": "m-3", "temperature": 0.2})
    comparison = compare_scenario(
        current["scenarios"]["digest"], baseline["scenarios"]["digest"], RegressionRules()
    )
    assert comparison["variants"]["b"] == {
        "status": "not comparable",
        "gated": True,
        "reasons": ["variant b: params changed (model, temperature); not comparable"],
    }
    assert comparison["variants"]["a"]["status"] == "ok"
    same_params = with_params(baseline, "b", {"model": "m-2"})
    reasons = compare_scenario(
        same_params["scenarios"]["digest"], baseline["scenarios"]["digest"], RegressionRules()
    )["variants"]["b"]["reasons"]
    assert reasons == ["variant b: output function or output_version changed; not comparable"]
