"""History: run records over time as a table and as one self-contained HTML page."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from support.records import entry, make_record, nightly_run, run_on, variants_record

from pytest_llmbench.cli import main as cli
from pytest_llmbench.reporting import history
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord

WHERE = (
    "local runs are in .llmbench/runs/{here}: llmbench history .llmbench/runs; CI keeps its "
    "run records as workflow artifacts (and the nightly's on the llmbench-history branch): "
    "download or check them out, then llmbench history FOLDER"
)


def folder(tmp_path: Path, *records: RunRecord) -> Path:
    runs = tmp_path / "benchmarks"
    runs.mkdir(parents=True, exist_ok=True)
    for index, r in enumerate(records):
        # File names in another order than the runs' dates: the table sorts by start time.
        record_mod.write(r, runs / f"{len(records) - index:02d}.json")
    return runs


def test_runs_are_read_oldest_first_and_non_records_and_shards_are_skipped(tmp_path: Path) -> None:
    runs = folder(tmp_path, run_on(10, 0.9), run_on(11, 0.75), run_on(12, 0.9, shard=(1, 2)))
    (runs / "notes.json").write_text('{"hello": 1}', encoding="utf-8")
    (runs / "run.partial.jsonl").write_text("{}\n", encoding="utf-8")
    loaded, skipped = history.load_runs(runs)
    assert [history.run_id(r) for r in loaded] == [
        "20251110T030000Z-000010",
        "20251111T030000Z-000011",
    ]
    assert skipped == [
        f"{runs / '01.json'}: shard 1/2 of a run; join the shards with `llmbench merge` and "
        "keep the merged record instead",
        f"{runs / 'notes.json'}: not a pytest-llmbench run record (no schema 'llmbench-run/1')",
    ]


def test_the_history_command_prints_a_row_per_run_and_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = folder(
        tmp_path,
        run_on(10, 0.9, cost=0.0125),
        run_on(11, 0.75, partial_reason="interrupted"),
        run_on(12, 0.5, branch="feature/x"),
    )
    assert cli.main(["history", str(runs)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        "date              run                      commit      branch     scenario  status  accuracy     cost\n"
        "2025-11-10 03:00  20251110T030000Z-000010  aaaaaaaaaa  main       digest    pass       0.900  $0.0125\n"
        "2025-11-11 03:00  20251111T030000Z-000011  bbbbbbbbbb  main       digest    warn*      0.750        —\n"
        "2025-11-12 03:00  20251112T030000Z-000012  cccccccccc  feature/x  digest    fail       0.500        —\n"
        "* not gated (a partial run or a node-id selection)\n"
    )


def test_a_variants_scenario_has_a_row_per_variant_beside_a_plain_scenarios_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Variant a (the reference) passes, b fails; a later run without variants stays one row.
    runs = folder(
        tmp_path,
        variants_record([1.0, 0.75], [0.5, 0.625], run=nightly_run(10)),
        run_on(11, 0.9),
    )
    assert cli.main(["history", str(runs)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out == (
        "date              run                      commit      branch  scenario   status  accuracy  cost\n"
        "2025-11-10 03:00  20251110T030000Z-000010  aaaaaaaaaa  main    digest[a]  pass       0.875     —\n"
        "2025-11-10 03:00  20251110T030000Z-000010  aaaaaaaaaa  main    digest[b]  fail       0.562     —\n"
        "2025-11-11 03:00  20251111T030000Z-000011  bbbbbbbbbb  main    digest     pass       0.900     —\n"
    )


def test_variant_rows_follow_the_yamls_order_and_show_control_characters_escaped() -> None:
    scenario = {
        "variants": {
            "order": ["z", "a\x1b"],
            "variants": {"a\x1b": {"status": "pass"}, "z": {"status": "fail"}},
        }
    }
    parts = history.table_parts("digest", scenario)
    assert parts == [("digest[z]", {"status": "fail"}), ("digest[a\\x1b]", {"status": "pass"})]


def test_history_defaults_to_data_eval_benchmarks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["history"]) == 2
    assert capsys.readouterr() == (
        "",
        "llmbench: data/eval/benchmarks: no such history folder; "
        + WHERE.format(here="")
        + " (give one: llmbench history DIR)\n",
    )
    (tmp_path / "data/eval/benchmarks").mkdir(parents=True)
    assert cli.main(["history"]) == 0
    assert capsys.readouterr() == (
        "no run records in data/eval/benchmarks\n" + WHERE.format(here="") + "\n",
        "",
    )


def test_an_empty_default_folder_points_at_the_local_runs_and_counts_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/eval/benchmarks").mkdir(parents=True)
    local = tmp_path / ".llmbench" / "runs"
    local.mkdir(parents=True)
    record_mod.write(run_on(10, 0.9), local / "a.json")
    record_mod.write(run_on(11, 0.9), local / "b.json")
    assert cli.main(["history"]) == 0
    assert capsys.readouterr() == (
        "no run records in data/eval/benchmarks\n" + WHERE.format(here=" (2 here)") + "\n",
        "",
    )
    # ... and following the hint shows them
    assert cli.main(["history", ".llmbench/runs"]) == 0
    assert capsys.readouterr().out.count("20251110T030000Z-000010") == 1


def test_an_empty_folder_given_by_name_says_only_that(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert cli.main(["history", str(tmp_path / "empty")]) == 0
    assert capsys.readouterr() == (f"no run records in {tmp_path / 'empty'}\n", "")


def test_history_mentions_skipped_files_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = folder(tmp_path, run_on(10, 0.9))
    (runs / "broken.json").write_text("{", encoding="utf-8")
    assert cli.main(["history", str(runs)]) == 0
    assert capsys.readouterr().err == (
        f"llmbench: skipped {runs / 'broken.json'}:1: not JSON (Expecting property name "
        "enclosed in double quotes); is this a run record?\n"
    )


def test_records_are_kept_as_summaries_without_their_samples(tmp_path: Path) -> None:
    record = make_record(
        [entry(p, 0.9) for p in range(6)],
        run=nightly_run(10, judge_latency_s={"digest": [0.25] * 6}),
    )
    (loaded,), _ = history.load_runs(folder(tmp_path, record))
    assert loaded["scenarios"]["digest"]["sample_count"] == 6
    assert "samples" not in loaded["scenarios"]["digest"]
    assert "judge_latency_s" not in loaded["run"]
    assert loaded["scenarios"]["digest"]["metrics"] == record["scenarios"]["digest"]["metrics"]


def test_the_table_and_page_of_summaries_are_those_of_the_whole_records(tmp_path: Path) -> None:
    runs = folder(tmp_path, *RUNS)
    summaries, skipped = history.load_runs(runs)
    whole = sorted(
        (record_mod.load(path) for path in runs.glob("*.json")),
        key=lambda r: (history.started_at(r), history.run_id(r)),
    )
    assert history.text_table(summaries) == history.text_table(whole)
    assert history.render_html(summaries, skipped=skipped) == history.render_html(whole)


def test_a_record_with_a_damaged_sample_is_still_skipped_as_damaged(tmp_path: Path) -> None:
    broken: Any = run_on(11, 0.9)
    broken["scenarios"]["digest"]["samples"][3]["status"] = "bogus"
    runs = folder(tmp_path, run_on(10, 0.9), broken)
    loaded, skipped = history.load_runs(runs)
    assert [history.run_id(r) for r in loaded] == ["20251110T030000Z-000010"]
    assert len(skipped) == 1
    assert skipped[0].startswith(f"{runs / '01.json'}: ")
    assert "scenarios.digest.samples[3].status" in skipped[0]


# -- the page --------------------------------------------------------------------------


def page_of(tmp_path: Path, *records: RunRecord) -> str:
    out = tmp_path / "site" / "history.html"
    assert cli.main(["history", str(folder(tmp_path, *records)), "--html", str(out)]) == 0
    return out.read_text(encoding="utf-8")


RUNS = (run_on(10, 0.9, cost=0.0125), run_on(11, 0.75), run_on(12, 0.5, gated=False))


def test_the_page_has_a_chart_per_metric_with_both_bands_per_run_and_coloured_points(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = page_of(tmp_path, *RUNS)
    assert capsys.readouterr().err == f"wrote {tmp_path / 'site' / 'history.html'} (3 runs)\n"
    assert page.count("<svg ") == 1
    assert page.count('<rect class="band-pass"') == 3
    assert page.count('<rect class="band-warn"') == 3
    points = re.findall(
        r'<circle class="point point-(\w+)"[^>]* fill="(#\w+)" stroke="(#\w+)"', page
    )
    assert points == [
        ("pass", "#1a7f37", "#1a7f37"),
        ("warn", "#b35900", "#b35900"),
        ("fail", "#ffffff", "#cf222e"),  # hollow: that run was not gated
    ]
    assert (
        "<title>2025-11-11 03:00 · run 20251111T030000Z-000011 · bbbbbbbbbb · accuracy 0.750 (warn)</title>"
        in page
    )
    assert "<td><code>cccccccccccc</code></td>" in page
    assert '<td class="num">$0.0125</td>' in page


def test_the_page_is_self_contained(tmp_path: Path) -> None:
    page = page_of(tmp_path, *RUNS)
    assert "://" not in page
    for fetching in (" src=", "url(", "@import", "@font-face", "fetch(", "XMLHttpRequest"):
        assert fetching not in page
    assert '<link rel="icon" href="data:,">' in page  # no favicon request either
    # One data block and one inline script, the only script the CSP allows (by its hash).
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert '<script type="application/json" id="llmbench-scores">' in page
    script = page.split("<script>", 1)[1].split("</script>", 1)[0]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert (
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        f"style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{digest}'\">"
    ) in page


def test_the_page_escapes_what_the_records_hold(tmp_path: Path) -> None:
    page = page_of(tmp_path, run_on(10, 0.9, branch="<script>alert(1)</script>"))
    assert "<script>alert" not in page
    assert "<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>" in page


def test_no_sample_id_can_end_the_embedded_scores(tmp_path: Path) -> None:
    hostile = "</script><script>alert(1)</script><!--\u2028&amp;"
    record = run_on(10, 0.9)
    record["scenarios"]["digest"]["samples"][0]["id"] = hostile
    page = page_of(tmp_path, record)
    assert page.count("<script") == 2 and page.count("</script>") == 2
    assert "<!--" not in page and "\u2028" not in page
    block = page.split('id="llmbench-scores">', 1)[1].split("</script>", 1)[0]
    options = json.loads(block)["scenarios"][0]["options"]
    assert options[0]["ids"][0] == hostile  # the script reads back the id as it was


def test_the_page_is_the_same_for_the_same_runs_whatever_the_file_names(tmp_path: Path) -> None:
    first = page_of(tmp_path / "a", *RUNS)
    second = page_of(tmp_path / "b", *reversed(RUNS))
    assert first == second


def test_an_empty_history_makes_a_page_that_says_so(tmp_path: Path) -> None:
    page = history.render_html([])
    assert '<p class="empty">No run records yet.</p>' in page
    assert "<svg" not in page


# -- chart geometry --------------------------------------------------------------------


def point(value: float, better: str = "higher", **kw: Any) -> dict[str, Any]:
    return {
        "run": "r",
        "date": "2025-11-10 03:00",
        "commit": "c",
        "value": value,
        "ci95": None,
        "status": "pass",
        "pass": kw.get("pass_", 0.8),
        "warn": kw.get("warn", 0.7),
        "better": better,
        "hollow": False,
    }


def band_spans(chart: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {b["kind"]: (float(b["y"]), float(b["y"]) + float(b["h"])) for b in chart["bands"]}


def test_higher_is_better_draws_the_pass_band_above_the_warn_band() -> None:
    chart = history.chart("accuracy", [point(0.9)])
    spans = band_spans(chart)
    assert spans["pass"][0] == history.TOP  # up to the top of the plot
    assert spans["pass"][1] == pytest.approx(spans["warn"][0])  # they meet at pass
    assert spans["warn"][1] < history.TOP + chart["plot"]["h"]  # fail below, unshaded


def test_lower_is_better_draws_the_pass_band_below_the_warn_band() -> None:
    chart = history.chart("latency", [point(190.0, "lower", pass_=210.0, warn=240.0)])
    spans = band_spans(chart)
    assert spans["pass"][1] == pytest.approx(history.TOP + chart["plot"]["h"])
    assert spans["warn"][1] == pytest.approx(spans["pass"][0])


def test_bands_follow_each_run_s_thresholds() -> None:
    chart = history.chart("accuracy", [point(0.9), point(0.9, pass_=0.85)])
    passes = [b for b in chart["bands"] if b["kind"] == "pass"]
    assert passes[0]["x"] == str(float(history.LEFT))
    assert float(passes[0]["x"]) + float(passes[0]["w"]) == pytest.approx(float(passes[1]["x"]))
    assert float(passes[1]["h"]) < float(passes[0]["h"])  # pass moved up to 0.85


def test_a_value_missing_from_a_run_breaks_the_line() -> None:
    chart = history.chart(
        "accuracy", [point(0.9), point(0.8), {**point(0.8), "value": None}, point(0.85), point(0.9)]
    )
    assert len(chart["lines"]) == 2
    assert len(chart["marks"]) == 4


@pytest.mark.parametrize(
    ("step", "value", "label"),
    [(0.05, 0.85, "0.85"), (0.1, 0.9, "0.9"), (25.0, 175.0, "175"), (2.5, 7.5, "7.5")],
)
def test_axis_labels_have_the_digits_their_step_needs(
    step: float, value: float, label: str
) -> None:
    assert history.tick_label(value, step) == label


# -- the headline: the latest gated, complete run -------------------------------------------


def rerun_of_one_sample(day: int, accuracy: float) -> RunRecord:
    """What `pytest "...::test_digest[s-3]"` records: one sample of six, not gated."""
    record = run_on(day, accuracy, gated=False)
    record["scenarios"]["digest"]["selection"] = {"kind": "subset", "selected": 1, "of": 6}
    return record


def test_the_headline_comes_from_the_latest_gated_complete_run() -> None:
    runs = [
        run_on(10, 0.9),
        rerun_of_one_sample(11, 0.5),
        run_on(12, 0.5, partial_reason="interrupted"),
    ]
    assert [r["scenarios"]["digest"]["status"] for r in runs] == ["pass", "fail", "fail"]
    (view,) = history.scenario_views(runs)
    assert view["status"] == "pass"
    assert view["headline"] == (
        "3 runs; the latest status is pass, from run 20251110T030000Z-000010 of "
        "2025-11-10 03:00; the 2 later runs did not gate (partial or a subset of the samples)."
    )


def test_a_smoke_run_gates_and_a_subset_never_does_whatever_the_run_says() -> None:
    smoke = run_on(10, 0.5)
    smoke["scenarios"]["digest"]["selection"] = {"kind": "smoke", "selected": 5, "of": 6}
    subset = run_on(11, 0.9)  # gated at the run level, but its scenario was a -k subset
    subset["scenarios"]["digest"]["selection"] = {"kind": "subset", "selected": 2, "of": 6}
    assert history.gates(smoke, "digest") and not history.gates(subset, "digest")
    (view,) = history.scenario_views([smoke, subset])
    assert view["status"] == "fail"
    assert view["headline"].startswith("2 runs; the latest status is fail, from run ")
    assert view["headline"].endswith(
        "; the 1 later run did not gate (partial or a subset of the samples)."
    )


def test_without_a_gated_run_there_is_no_latest_status() -> None:
    (view,) = history.scenario_views([rerun_of_one_sample(11, 0.5)])
    assert view["status"] == "no data"
    assert view["headline"] == (
        "1 run; no latest status: none gated the whole scenario (a node-id selection, a -k "
        "subset, a shard or an interrupted run reports its scores and does not gate)."
    )


def test_the_page_headline_and_badge_ignore_a_later_one_sample_rerun(tmp_path: Path) -> None:
    page = page_of(tmp_path, run_on(10, 0.9), rerun_of_one_sample(11, 0.5))
    assert '<span class="badge" style="background:#1a7f37">pass</span></h2>' in page
    assert (
        '<p class="sub headline">2 runs; the latest status is pass, from run '
        "20251110T030000Z-000010 of 2025-11-10 03:00; the 1 later run did not gate (partial "
        "or a subset of the samples).</p>"
    ) in page
    assert "latest 0.500 (fail, not gated)" in page
