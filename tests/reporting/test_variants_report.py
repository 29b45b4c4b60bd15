"""The variants side by side in the terminal section and the markdown report: one table
(variants as columns, metrics as rows), then the paired differences from the reference."""

from __future__ import annotations

from support.records import variants_record

from pytest_llmbench.reporting.markdown import render
from pytest_llmbench.reporting.terminal import section

RECORD = variants_record(
    [0.5, 0.55, 0.6],
    [0.9, 0.95, 0.9],
    run={"output_latency_s": {"digest": {"a": 1.25, "b": None}}},
)


def test_the_terminal_shows_the_variants_side_by_side_then_their_differences() -> None:
    assert section(RECORD)[1:10] == [
        ("  metric              bands                   a (reference)               b (gated)", ""),
        (
            "  accuracy            pass ≥ 0.8, warn ≥ 0.7  0.550 (0.426 – 0.674) fail  "
            "0.917 (0.845 – 0.988) pass",
            "",
        ),
        ("  verdict                                     fail                        pass", ""),
        ("  judge calls                                 3                           3", ""),
        ("  tokens in / out                             300 / 30                    300 / 30", ""),
        ("  output time (mean)                          1.2 s                       —", ""),
        ("  paired differences from a:", ""),
        ("    variant  metric         Δ  95% CI of Δ    n  status", ""),
        ("    b vs a   accuracy  +0.367  0.223 – 0.510  3  better", "green"),
    ]


def test_the_report_has_one_side_by_side_table_then_the_differences_and_no_times() -> None:
    report = render(RECORD)
    table = (
        "| metric | bands | a (reference) | b (gated) |\n"
        "| --- | --- | --- | --- |\n"
        "| accuracy | pass ≥ 0.8, warn ≥ 0.7 | 0.550 (0.426 – 0.674) fail | 0.917 (0.845 – 0.988) pass |\n"
        "| verdict |  | fail | pass |\n"
        "| judge calls |  | 3 | 3 |\n"
        "| tokens in / out |  | 300 / 30 | 300 / 30 |\n"
        "\n"
        "Paired differences from a (a winner only when the interval excludes 0):\n"
        "\n"
        "| variant | metric | Δ | 95% CI of Δ | n | status |\n"
        "| --- | --- | ---: | --- | ---: | --- |\n"
        "| b vs a | accuracy | +0.367 | 0.223 – 0.510 | 3 | better |\n"
    )
    assert table in report
    assert "| metric | value |" not in report and "output time" not in report
    assert "| `s-01` (a) | scored | **accuracy 0.50** |" in report


def test_variant_names_from_a_record_are_escaped_in_the_report() -> None:
    record = variants_record([0.5, 0.6], [0.9, 0.9])
    block = record["scenarios"]["digest"]["variants"]
    block["variants"]["b"]["status"] = "<img src=x>|@team"  # type: ignore[typeddict-item]
    assert "&lt;img src=x&gt;\\|@\u2060team" in render(record)
