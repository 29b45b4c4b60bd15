"""`llmbench compare RUN.json --variants a,b`: two variants of one record, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.records import run_on, variants_run

from pytest_llmbench.reporting.text_format import interval
from pytest_llmbench.results import record as record_mod

SMALL = [0.5, 0.25, 0.5, 0.75, 0.25, 0.5]


def _write(tmp_path: Path, record: Any) -> str:
    path = tmp_path / "run.json"
    record_mod.write(record, path)
    return str(path)


def test_a_variant_higher_on_every_sample_is_better_by_exactly_that_much(
    llmbench: Any, tmp_path: Path
) -> None:
    large = [s + 0.25 for s in SMALL]  # every difference exactly 0.25
    path = _write(tmp_path, variants_run({"small": SMALL, "large": large}))
    assert llmbench("compare", path, "--variants", "small,large") == (
        0,
        "digest: large against small\n"
        "  metric    small  large    diff  95% CI of diff  paired  status\n"
        "  accuracy  0.458  0.708  +0.250  0.250 – 0.250        6  better\n",
        "",
    )


def test_the_order_of_the_pair_turns_better_into_worse(llmbench: Any, tmp_path: Path) -> None:
    large = [s + 0.25 for s in SMALL]
    path = _write(tmp_path, variants_run({"small": SMALL, "large": large}))
    code, out, _ = llmbench("compare", path, "--variants", "large,small")
    assert code == 0
    assert out.splitlines()[0] == "digest: small against large"
    assert out.splitlines()[2].split()[-2:] == ["6", "worse"]


def test_an_interval_that_includes_zero_names_no_winner_as_the_record_says(
    llmbench: Any, tmp_path: Path
) -> None:
    other = [0.75, 0.0, 0.75, 0.5, 0.25, 0.5]  # differences +0.25 -0.25 +0.25 -0.25 0 0
    record = variants_run({"a": SMALL, "b": other})
    (stored,) = record["scenarios"]["digest"]["variants"]["differences"]
    assert stored["mean_diff"] == 0.0 and stored["ci95"] is not None
    assert stored["ci95"][0] < 0 < stored["ci95"][1]
    code, out, _ = llmbench("compare", _write(tmp_path, record), "--variants", "a,b")
    assert code == 0
    assert out.splitlines()[2] == (
        f"  accuracy  0.458  0.458  +0.000  {interval(stored['ci95'])}       6  "
        "no detectable difference"
    )


def test_only_samples_both_variants_scored_are_paired(llmbench: Any, tmp_path: Path) -> None:
    # b has no score on the second sample and no third sample at all: 1 pair, no interval
    path = _write(tmp_path, variants_run({"a": [0.5, 0.25, 0.5], "b": [1.0, None]}))
    code, out, _ = llmbench("compare", path, "--variants", "a,b")
    assert code == 0
    assert out.splitlines()[2].split() == [
        "accuracy",
        "0.500",
        "1.000",
        "+0.500",
        "—",
        "1",
        "no",
        "detectable",
        "difference",
    ]


def test_an_unknown_variant_is_one_line_listing_the_known_ones(
    llmbench: Any, tmp_path: Path
) -> None:
    path = _write(tmp_path, variants_run({"small": SMALL, "large": SMALL}))
    code, out, err = llmbench("compare", path, "--variants", "small,huge")
    assert (code, out) == (2, "")
    assert err == (
        f"llmbench: {path}: scenario 'digest' has no variant 'huge'; its variants: small, large\n"
    )


def test_bad_variant_arguments_are_usage_errors(llmbench: Any, tmp_path: Path) -> None:
    path = _write(tmp_path, variants_run({"small": SMALL, "large": SMALL}))
    plain = tmp_path / "plain.json"
    record_mod.write(run_on(9, 0.9), plain)
    cases = {
        ("--variants", "small"): "expected two different variant names, A,B",
        ("--variants", "small,small"): "expected two different variant names, A,B",
        ("--variants", "small,large", "--scenario", "faq"): "has no such scenario",
        (str(plain), "--variants", "small,large"): "give no B.json",
    }
    for extra, words in cases.items():
        code, out, err = llmbench("compare", path, *extra)
        assert (code, out, err.count("\n")) == (2, "", 1), extra
        assert words in err, extra
    code, _, err = llmbench("compare", str(plain), "--variants", "a,b")
    assert code == 2
    assert err == (
        f"llmbench: {plain}: no scenario has variants (no `variants:` key in any scenario)\n"
    )
    code, _, err = llmbench("compare", str(plain))
    assert code == 2 and "give B.json" in err


def test_a_record_without_a_variants_block_knows_its_variants_from_its_samples(
    llmbench: Any, tmp_path: Path
) -> None:
    record = variants_run({"small": SMALL, "large": SMALL})
    del record["scenarios"]["digest"]["variants"]
    path = _write(tmp_path, record)
    code, out, _ = llmbench("compare", path, "--variants", "large,small")
    assert code == 0 and out.splitlines()[0] == "digest: small against large"
