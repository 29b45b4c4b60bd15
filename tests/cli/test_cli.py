"""The `llmbench` command: every subcommand's output, exit status and error messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.project import SORTED_CONFIG, TWELVE, Project, make_samples, without_footer
from support.records import entry, make_record, with_fingerprint

from pytest_llmbench import __version__
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import RunRecord, SampleRecord


def write(path: Path, record: RunRecord) -> Path:
    record_mod.write(record, path)
    return path


PASSING = [entry(p, 0.9) for p in range(12)]
FAILING = [entry(p, 0.5) for p in range(12)]


# -- the command itself ----------------------------------------------------------------


def test_the_console_script_is_installed_and_reports_its_version() -> None:
    script = Path(sys.executable).with_name("llmbench")
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"llmbench {__version__}\n", "")


@pytest.mark.parametrize(
    "command",
    [["report"], ["compare"], ["merge"], ["baseline", "promote"], ["history"], ["metrics"]],
)
def test_every_subcommand_has_help_that_states_its_exit_statuses(
    llmbench: Any, command: list[str]
) -> None:
    code, out, err = llmbench(*command, "--help")
    assert (code, err) == (0, "")
    assert out.startswith(f"usage: llmbench {' '.join(command)} ")
    assert "exit status:\n  0  " in out
    assert "\n  2  usage error" in out


def test_a_missing_argument_is_a_usage_error(llmbench: Any) -> None:
    code, out, err = llmbench("report")
    assert (code, out) == (2, "")
    assert err.endswith("llmbench report: error: the following arguments are required: RUN.json\n")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (None, "{path}: cannot read the run record (No such file or directory)"),
        ("<html>", "{path}:1: not JSON (Expecting value); is this a run record?"),
        ('{"rows": []}', "{path}: not a pytest-llmbench run record (no schema 'llmbench-run/1')"),
        (
            '{"schema": "llmbench-run/0", "scenarios": {}}',
            "{path}: run record schema llmbench-run/0 is not llmbench-run/1; "
            "re-create it with this version of pytest-llmbench",
        ),
    ],
    ids=["missing", "not-json", "not-a-record", "old-schema"],
)
@pytest.mark.parametrize(
    "command",
    [
        ["report", "{path}"],
        ["compare", "{path}", "{good}"],
        ["compare", "{good}", "{path}"],
        ["merge", "{path}", "-o", "{out}"],
        ["baseline", "promote", "{path}", "--dir", "{out}"],
    ],
    ids=["report", "compare-current", "compare-baseline", "merge", "promote"],
)
def test_a_bad_file_is_one_line_on_stderr_and_exit_2(
    llmbench: Any, tmp_path: Path, text: str | None, message: str, command: list[str]
) -> None:
    path = tmp_path / "run.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    good = write(tmp_path / "good.json", make_record(PASSING))
    values = {"path": str(path), "good": str(good), "out": str(tmp_path / "out")}
    code, out, err = llmbench(*(part.format(**values) for part in command))
    assert (code, out, err) == (2, "", "llmbench: " + message.format(path=path) + "\n")
    assert not (tmp_path / "out").exists()


# -- report ----------------------------------------------------------------------------


def test_report_renders_the_plugins_report_from_the_record(project: Project, llmbench: Any) -> None:
    project.config(SORTED_CONFIG)
    assert (
        project.run("benchmarks", "--llmbench-json=run.json", "--llmbench-report=run.md").ret == 0
    )
    code, out, err = llmbench("report", str(project.root / "run.json"))
    assert (code, err) == (0, "")
    assert out == (project.root / "run.md").read_text(encoding="utf-8")


def test_report_as_json_is_the_record_and_output_goes_to_a_file(
    llmbench: Any, tmp_path: Path
) -> None:
    path = write(tmp_path / "run.json", make_record(PASSING))
    assert llmbench("report", str(path), "--format", "json") == (0, path.read_text(), "")
    assert llmbench("report", str(path), "-o", str(tmp_path / "r.md")) == (0, "", "")
    assert (tmp_path / "r.md").read_text(encoding="utf-8").startswith("<!-- llmbench-report -->\n")


def test_report_exits_1_on_a_failing_gated_run_and_0_on_an_ungated_one(
    llmbench: Any, tmp_path: Path
) -> None:
    failed = write(tmp_path / "failed.json", make_record(FAILING))
    code, out, _ = llmbench("report", str(failed))
    assert code == 1
    assert "**Verdict: FAIL** — accuracy of digest is in its fail band: 0.500" in out
    shard = write(tmp_path / "shard.json", make_record(FAILING, shard=(1, 2)))
    assert llmbench("report", str(shard))[0] == 0
    partial = write(tmp_path / "partial.json", make_record(FAILING, partial_reason="interrupted"))
    assert llmbench("report", str(partial))[0] == 0


def baseline_runs(project: Project) -> tuple[Path, Path]:
    """(baseline record, record of a later run whose accuracy dropped by 0.1), plus the
    plugin's own comparison of the two in compared.json / compared.md."""
    project.config(SORTED_CONFIG)
    project.dataset(make_samples(TWELVE))
    assert project.run("benchmarks", "--llmbench-json=base.json").ret == 0
    project.dataset(make_samples([(c, a - 0.1) for c, a in TWELVE]))
    compared = project.run(
        "benchmarks",
        "--llmbench-baseline=base.json",
        "--llmbench-json=compared.json",
        "--llmbench-report=compared.md",
    )
    assert compared.ret == 1
    assert project.run("benchmarks", "--llmbench-json=current.json").ret == 0
    return project.root / "base.json", project.root / "current.json"


def test_report_with_a_baseline_gives_the_plugins_comparison_and_verdict(
    project: Project, llmbench: Any
) -> None:
    base, current = baseline_runs(project)
    code, out, err = llmbench("report", str(current), "--baseline", str(base))
    assert (code, err) == (1, "")
    assert without_footer(out) == without_footer(
        (project.root / "compared.md").read_text(encoding="utf-8")
    )
    code, out, _ = llmbench("report", str(current), "--baseline", str(base), "--format", "json")
    assert code == 1
    assert record_mod.dumps(record_mod.deterministic_view(json.loads(out))) == record_mod.dumps(
        record_mod.deterministic_view(record_mod.load(project.root / "compared.json"))
    )


def test_report_regression_flags_change_the_rules(project: Project, llmbench: Any) -> None:
    base, current = baseline_runs(project)  # accuracy 0.733: in its warn band on its own

    def verdict(*flags: str) -> tuple[int, str, str]:
        code, out, _ = llmbench(
            "report", str(current), "--baseline", str(base), "--format", "json", *flags
        )
        record = json.loads(out)
        return code, record["status"], record["scenarios"]["digest"]["comparison"]["status"]

    assert verdict() == (1, "fail", "regression")
    assert verdict("--severity", "warn") == (0, "warn", "regression")
    assert verdict("--margin", "accuracy=0.2") == (0, "warn", "ok")
    assert verdict("--margin", "0.2") == (0, "warn", "ok")


def test_a_bad_margin_is_a_usage_error(llmbench: Any, tmp_path: Path) -> None:
    path = write(tmp_path / "run.json", make_record(PASSING))
    assert llmbench("report", str(path), "--baseline", str(path), "--margin", "lots") == (
        2,
        "",
        "llmbench: --margin lots: expected a number or METRIC=NUMBER\n",
    )


# -- compare ---------------------------------------------------------------------------


def test_compare_prints_a_table_per_scenario_and_exits_1_on_an_error_regression(
    llmbench: Any, tmp_path: Path
) -> None:
    base = write(tmp_path / "base.json", make_record(PASSING))
    dropped = [entry(p, 0.8 + (p % 3) * 0.01) for p in range(12)]
    current = write(tmp_path / "current.json", make_record(dropped))
    assert llmbench("compare", str(current), str(base)) == (
        1,
        "digest: REGRESSION\n"
        "  metric    value  baseline    diff  95% CI of diff   paired  status\n"
        "  accuracy  0.810     0.900  -0.090  -0.095 – -0.084      12  regression\n"
        "  regressed (error): accuracy\n"
        "regression at error level: accuracy of digest\n",
        "",
    )
    code, out, _ = llmbench("compare", str(current), str(base), "--severity", "warn")
    assert (code, out.splitlines()[-2:]) == (
        0,
        ["  regressed (warn): accuracy", "no regression at error level"],
    )


def test_compare_says_why_runs_are_not_comparable(llmbench: Any, tmp_path: Path) -> None:
    base = write(tmp_path / "base.json", make_record(PASSING))
    other = make_record(PASSING, fingerprints=with_fingerprint("prompt", ref="digest_judge@v2"))
    current = write(tmp_path / "current.json", other)
    assert llmbench("compare", str(current), str(base)) == (
        0,
        "digest: NOT COMPARABLE\n"
        "  not comparable: prompt differs (digest_judge@v2 vs digest_judge@v1)\n"
        "no regression at error level\n",
        "",
    )


def test_compare_of_a_run_with_itself_is_ok(llmbench: Any, tmp_path: Path) -> None:
    base = write(tmp_path / "base.json", make_record(PASSING))
    code, out, _ = llmbench("compare", str(base), str(base))
    assert (code, out.splitlines()[0], out.splitlines()[-1]) == (
        0,
        "digest: OK",
        "no regression at error level",
    )


# -- merge -----------------------------------------------------------------------------


def test_merge_writes_the_merged_record_and_says_what_it_did(llmbench: Any, tmp_path: Path) -> None:
    one = write(tmp_path / "1.json", make_record(PASSING[:5], shard=(1, 2)))
    two = write(tmp_path / "2.json", make_record(PASSING[5:], shard=(2, 2)))
    out = tmp_path / "merged" / "run.json"
    code, stdout, err = llmbench("merge", str(one), str(two), "-o", str(out))
    assert (code, err) == (0, "")
    assert stdout == f"merged 2 shard records (12 samples) into {out}: verdict pass\n"
    merged = record_mod.load(out)
    assert (merged["shard"], merged["gated"], merged["run"]["argv"]) == (
        None,
        True,
        ["llmbench", "merge", str(one), str(two), "-o", str(out)],
    )


def test_merge_refusals_are_exit_2_with_the_reason(llmbench: Any, tmp_path: Path) -> None:
    one = write(tmp_path / "1.json", make_record(PASSING[:5], shard=(1, 3)))
    out = tmp_path / "run.json"
    assert llmbench("merge", str(one), "-o", str(out)) == (
        2,
        "",
        "llmbench: merge refused: shard 2/3, 3/3 missing (given: 1/3); pass every shard's "
        "record, or --allow-partial to merge what there is (the run is then partial and not "
        "gated)\n",
    )
    assert not out.exists()
    code, stdout, err = llmbench("merge", str(one), "-o", str(out), "--allow-partial")
    assert (code, err) == (
        0,
        "llmbench: note: shard 2/3, 3/3 missing: the merged run is partial and not gated\n",
    )
    assert stdout == f"merged 1 shard records (5 samples) into {out}: verdict pass (not gated)\n"


# -- baseline promote ------------------------------------------------------------------


def two_scenarios(samples: list[SampleRecord], **kwargs: Any) -> RunRecord:
    record = make_record(samples, **kwargs)
    other = make_record(PASSING[:3], scenario="other")
    record["scenarios"]["other"] = other["scenarios"]["other"]
    return record


def test_promote_writes_one_baseline_per_scenario_under_the_default_folder(
    llmbench: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = write(tmp_path / "run.json", two_scenarios(PASSING))
    code, out, err = llmbench("baseline", "promote", str(run))
    assert (code, err) == (0, "")
    assert out == (
        "promoted digest (pass) of run 20251109T030000Z-aaaaaa to data/eval/baselines/digest.json\n"
        "promoted other (pass) of run 20251109T030000Z-aaaaaa to data/eval/baselines/other.json\n"
    )
    digest = record_mod.load(tmp_path / "data/eval/baselines/digest.json")
    assert list(digest["scenarios"]) == ["digest"]
    assert digest["scenarios"]["digest"] == record_mod.load(run)["scenarios"]["digest"]
    assert (digest["status"], digest["run"]["id"]) == ("pass", "20251109T030000Z-aaaaaa")


def test_promote_can_pick_a_scenario_and_a_folder(llmbench: Any, tmp_path: Path) -> None:
    run = write(tmp_path / "run.json", two_scenarios(PASSING))
    code, _, _ = llmbench(
        "baseline", "promote", str(run), "--dir", str(tmp_path / "b"), "--scenario", "other"
    )
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["other.json"]
    assert llmbench("baseline", "promote", str(run), "--scenario", "nope") == (
        2,
        "",
        f"llmbench: {run} has no scenario 'nope'; it has: digest, other\n",
    )


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        (
            {"samples": FAILING},
            "failed: accuracy of digest is in its fail band: 0.500 (pass ≥ 0.8, warn ≥ 0.7)",
        ),
        ({"partial_reason": "interrupted"}, "is a partial run (interrupted)"),
        (
            {"shard": (1, 2)},
            "is shard 1/2: merge the shards with `llmbench merge` and promote the merged run",
        ),
        ({"gated": False}, "was not gated (no reason recorded)"),
    ],
    ids=["failed", "partial", "shard", "ungated"],
)
def test_promote_refuses_runs_unfit_for_a_baseline_unless_forced(
    llmbench: Any, tmp_path: Path, kwargs: dict[str, Any], reason: str
) -> None:
    samples = kwargs.pop("samples", PASSING)
    run = write(tmp_path / "run.json", make_record(samples, **kwargs))
    folder = tmp_path / "baselines"
    assert llmbench("baseline", "promote", str(run), "--dir", str(folder)) == (
        1,
        "",
        f"llmbench: refused: {run} {reason}\nllmbench: pass --force to promote it anyway\n",
    )
    assert not folder.exists()
    code, _, _ = llmbench("baseline", "promote", str(run), "--dir", str(folder), "--force")
    assert code == 0
    assert (folder / "digest.json").is_file()
