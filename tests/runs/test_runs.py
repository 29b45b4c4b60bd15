"""Whole benchmark runs, as users run them: verdicts, exit codes, warnings, outputs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from support.project import Project, config_yaml, make_samples, without_footer

from pytest_llmbench.results.record import deterministic_view


def test_passing_run_exits_0_and_prints_the_section(
    project: Project, xdist_args: list[str]
) -> None:
    result = project.run(*xdist_args)
    assert result.ret == 0
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*= llmbench =*",
            "digest: PASS  (4 samples: 4 scored, 0 unscored, 0 errors · judge dry-run · prompt digest_judge@v1)",
            "  metric             value  95% CI             n  bands                   status",
            "  coverage           0.900  0.835 – 0.965      4  pass ≥ 0.8, warn ≥ 0.7  pass",
            "  accuracy           0.900  0.835 – 0.965      4  pass ≥ 0.8, warn ≥ 0.7  pass",
            "  latency_seconds  102.500  100.446 – 104.554  4  pass ≤ 200, warn ≤ 300  pass",
            "  judge calls 0 · cached 0 · retries 0 · tokens 0 in / 0 out",
            "llmbench verdict: PASS",
        ]
    )
    assert "LLMBenchWarning" not in result.stdout.str()


def test_warn_band_warns_and_exits_0(project: Project, xdist_args: list[str]) -> None:
    project.config(config_yaml(accuracy=(0.95, 0.85)))
    result = project.run(*xdist_args)
    assert result.ret == 0
    result.assert_outcomes(passed=4, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*LLMBenchWarning: llmbench: accuracy of digest is in its warn band: 0.900 (pass ≥ 0.95, warn ≥ 0.85)",
            "digest: WARN *",
            "  accuracy of digest is in its warn band: 0.900 (pass ≥ 0.95, warn ≥ 0.85)",
            "llmbench verdict: WARN",
        ]
    )


def test_warn_under_W_error_ends_in_a_readable_failing_verdict(
    project: Project, xdist_args: list[str]
) -> None:
    project.config(config_yaml(accuracy=(0.95, 0.85)))
    result = project.run("-W", "error", *xdist_args)
    assert result.ret == 1
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stdout.str()
    result.stdout.fnmatch_lines(
        ["llmbench verdict: FAIL (the warning was turned into an error by -W / filterwarnings)"]
    )


def test_fail_on_warn_option_fails_a_warn(project: Project) -> None:
    project.config(config_yaml(accuracy=(0.95, 0.85)))
    result = project.run("--llmbench-fail-on-warn")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["digest: FAIL *", "llmbench verdict: FAIL"])


def test_fail_band_exits_1_and_names_metric_scenario_value_and_band(
    project: Project, xdist_args: list[str]
) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run(*xdist_args)
    assert result.ret == 1
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "digest: FAIL *",
            "  coverage of digest is in its fail band: 0.900 (pass ≥ 0.99, warn ≥ 0.95)",
            "llmbench verdict: FAIL",
        ]
    )


def test_report_and_record_are_identical_across_xdist_modes(project: Project) -> None:
    project.config(config_yaml(accuracy=(0.95, 0.85)))
    reports, records = [], []
    for index, args in enumerate((["-p", "no:xdist"], ["-n", "0"], ["-n", "2"])):
        report = project.root / f"report-{index}.md"
        record = project.root / f"record-{index}.json"
        result = project.run(*args, f"--llmbench-report={report}", f"--llmbench-json={record}")
        assert result.ret == 0
        reports.append(without_footer(report.read_text(encoding="utf-8")))
        records.append(
            json.dumps(deterministic_view(json.loads(record.read_text(encoding="utf-8"))))
        )
    assert reports[0] == reports[1] == reports[2]
    assert records[0] == records[1] == records[2]
    assert len(project.records()) == 3  # one run record each under .llmbench/runs


def test_node_id_selection_reports_but_does_not_gate(project: Project) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run("benchmarks/test_digest.py::test_digest[s-02]")
    assert result.ret == 0
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "digest: not gated (bands: fail)  (1 samples: *",
            "Selected 1 of 4 samples of digest (not the whole scenario or its smoke set): "
            "scores are reported, bands are not gated.",
            "llmbench verdict: not gated (see the note above); the bands say FAIL",
        ]
    )
    assert "llmbench verdict: FAIL" not in result.stdout.str()
    (record,) = project.records()
    assert record["gated"] is False
    assert [s["id"] for s in record["scenarios"]["digest"]["samples"]] == ["s-02"]


def test_a_keyword_selection_of_part_of_a_scenario_is_not_gated(project: Project) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run("-k", "s-02 or s-03")
    assert result.ret == 0
    result.assert_outcomes(passed=2, deselected=2)
    result.stdout.fnmatch_lines(["Selected 2 of 4 samples of digest *"])


@pytest.mark.parametrize(
    "selection",
    [
        ["benchmarks/test_digest.py::test_digest"],  # a node id naming the whole function
        ["benchmarks/test_digest.py"],
        ["-k", "digest"],
        ["-m", "smoke"],  # the smoke set, whole
        ["-k", "s-01 or s-02"],  # the same two samples as the smoke set
    ],
)
def test_a_run_covering_the_scenario_or_its_smoke_set_is_gated_however_selected(
    project: Project, xdist_args: list[str], selection: list[str]
) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run(*selection, *xdist_args)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["llmbench verdict: FAIL"])
    (record,) = project.records()
    assert record["gated"] is True


def test_smoke_marker_selects_the_first_samples(project: Project, xdist_args: list[str]) -> None:
    result = project.run("-m", "smoke", *xdist_args)
    assert result.ret == 0
    # xdist's controller does not count deselected items, so only what ran is compared.
    assert result.parseoutcomes()["passed"] == 2
    (record,) = project.records()
    assert [s["id"] for s in record["scenarios"]["digest"]["samples"]] == ["s-01", "s-02"]


def test_smoke_run_with_no_smoke_set_still_writes_its_report(project: Project) -> None:
    project.config(config_yaml(smoke="0"))
    result = project.run("-m", "smoke", "--llmbench-report=out/report.md")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED  # the workflow reads 5 as such
    note = (
        "No sample of any scenario (digest) was selected: nothing was measured or gated. "
        "With -m smoke, give a scenario a smoke set (smoke: N, or a list of ids)."
    )
    result.stdout.fnmatch_lines([note, "llmbench verdict: not gated (no sample selected)"])
    report = (project.root / "out" / "report.md").read_text(encoding="utf-8")
    assert without_footer(report) == (
        "<!-- llmbench-report -->\n## llmbench: no sample selected\n\n"
        f"> {note}\n\n**Not gated** (no sample selected)\n\n"
    )
    (record,) = project.records()
    assert (record["gated"], record["scenarios"], record["run"]["exitstatus"]) == (False, {}, 5)


def test_a_run_selecting_nothing_without_asking_for_a_report_writes_nothing(
    project: Project,
) -> None:
    project.config(config_yaml(smoke="0"))
    result = project.run("-m", "smoke")
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    assert project.records() == []


def test_smoke_list_of_ids_and_smoke_field(project: Project) -> None:
    samples = make_samples([(0.9, 0.9)] * 4)
    samples[3]["smoke"] = True
    project.dataset(samples)
    project.config(config_yaml(smoke="[s-02]"))
    result = project.run("-m", "smoke", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "benchmarks/test_digest.py::test_digest[[]s-02[]]",
            "benchmarks/test_digest.py::test_digest[[]s-04[]]",
        ]
    )


def test_collect_only_never_gates_or_writes(project: Project) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run("--collect-only")
    assert result.ret == 0
    assert "llmbench verdict" not in result.stdout.str()
    assert project.records() == []


def test_item_ids_are_sample_ids(project: Project) -> None:
    samples = make_samples([(0.9, 0.9)] * 2)
    samples[0]["id"] = "тг/0042 [утро]"
    project.dataset(samples)
    result = project.run("--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "benchmarks/test_digest.py::test_digest[[]tg-0042-utro[]]",
            "benchmarks/test_digest.py::test_digest[[]s-02[]]",
        ]
    )


def test_unscored_sample_fails_its_item_with_the_reason(
    project: Project, xdist_args: list[str]
) -> None:
    samples = make_samples([(0.9, 0.9)] * 3)
    del samples[1]["ground_truth"]["accuracy"]
    project.dataset(samples)
    result = project.run(*xdist_args)
    assert result.ret == 1
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ['*sample \'s-02\' unscored: no ground_truth for "accuracy" in sample "s-02"*']
    )
    (record,) = project.records()
    sample = record["scenarios"]["digest"]["samples"][1]
    assert sample["status"] == "unscored"
    assert sample["scores"] == {"latency_seconds": 102.0}
    assert record["scenarios"]["digest"]["metrics"]["accuracy"]["n"] == 2


def test_failing_test_body_records_an_error_sample(project: Project) -> None:
    project.write(
        "benchmarks/test_digest.py",
        "import pytest\n\n@pytest.mark.llmbench('digest')\n"
        "def test_digest(sample, judge):\n"
        "    if sample.id == 's-03':\n"
        "        raise RuntimeError('the app crashed')\n"
        "    judge(sample.output)\n",
    )
    result = project.run()
    assert result.ret == 1
    (record,) = project.records()
    sample = record["scenarios"]["digest"]["samples"][2]
    assert sample["status"] == "error"
    assert sample["reason"] == "RuntimeError: the app crashed"


def test_interrupted_run_writes_a_partial_record_and_does_not_gate(project: Project) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    project.write(
        "benchmarks/test_digest.py",
        "import pytest\n\n@pytest.mark.llmbench('digest')\n"
        "def test_digest(sample, judge):\n"
        "    if sample.id == 's-03':\n"
        "        raise KeyboardInterrupt\n"
        "    judge(sample.output)\n",
    )
    result = project.run(no_reraise_ctrlc=True)
    assert result.ret == 2
    result.stdout.fnmatch_lines(["llmbench verdict: not gated (interrupted); the bands say FAIL"])
    (record,) = project.records()
    assert record["partial"] is True
    assert record["partial_reason"] == "interrupted"
    assert record["gated"] is False
    # Every selected sample is in the record: the two that never ran say so.
    assert [
        (s["id"], s["status"], s.get("reason_code"))
        for s in record["scenarios"]["digest"]["samples"]
    ] == [
        ("s-01", "scored", None),
        ("s-02", "scored", None),
        ("s-03", "error", "not_run"),
        ("s-04", "error", "not_run"),
    ]
    assert not list((project.root / ".llmbench" / "runs").glob("*.partial.jsonl"))


def test_project_without_llmbench_is_unchanged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert True\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == 0
    # Only pytest's own plugin list (and the tmp path) may name it: no header, no section.
    lines = [
        line
        for line in result.stdout.lines
        if "llmbench" in line and not line.startswith(("plugins:", "rootdir:"))
    ]
    assert lines == []
    assert not (pytester.path / ".llmbench").exists()


def test_plugin_can_be_disabled(project: Project) -> None:
    project.write("benchmarks/test_plain.py", "def test_plain():\n    assert True\n")
    result = project.run("-p", "no:llmbench", "benchmarks/test_plain.py")
    assert result.ret == 0
    assert "llmbench" not in result.stdout.str()


def test_header_says_which_judge_runs_and_why(project: Project) -> None:
    result = project.run("--collect-only")
    result.stdout.fnmatch_lines(
        [
            "llmbench: benchmarks/llmbench.yaml",
            "  digest: judge default: dry-run (auto: $TEST_LLM_URL is not set), prompt digest_judge@v1",
        ]
    )


KILLED_AT_S04 = (
    "import os, signal\nimport pytest\n\n@pytest.mark.llmbench('digest')\n"
    "def test_digest(sample, judge):\n"
    "    if sample.id == 's-04':\n"
    "        os.kill(os.getpid(), signal.SIGKILL)\n"
    "    judge(sample.output)\n"
)


def killed_run_journal(project: Project, flush_lines: int, flush_s: float) -> list[Any]:
    """(sample id, status) of each journal line of a run killed in its fourth sample, with
    the journal's batch set to `flush_lines` lines and `flush_s` seconds."""
    project.write("benchmarks/test_digest.py", KILLED_AT_S04)
    project.write(
        "conftest.py",
        "from pytest_llmbench.run import controller\n"
        f"controller.JOURNAL_FLUSH_LINES = {flush_lines}\n"
        f"controller.JOURNAL_FLUSH_S = {flush_s}\n",
    )
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == -9
    assert project.records() == []  # no record: the process never reached session finish
    (journal,) = (project.root / ".llmbench" / "runs").glob("*.partial.jsonl")
    lines = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    return [(p["sample_id"], p["status"]) for p in lines]


def test_a_killed_run_loses_only_the_samples_of_its_last_journal_batch(project: Project) -> None:
    # The first line is written at once; then batches of 3: s-02 and s-03 wait for s-04.
    assert killed_run_journal(project, flush_lines=3, flush_s=3600) == [("s-01", "scored")]


def test_a_killed_run_keeps_the_samples_of_a_batch_whose_time_is_up(project: Project) -> None:
    # With no time to wait, each sample is handed to the OS as it finishes.
    assert killed_run_journal(project, flush_lines=10_000, flush_s=0) == [
        ("s-01", "scored"),
        ("s-02", "scored"),
        ("s-03", "scored"),
    ]


def test_the_journal_is_written_in_batches_of_256_samples_or_one_second() -> None:
    from pytest_llmbench.run import controller

    assert (controller.JOURNAL_FLUSH_LINES, controller.JOURNAL_FLUSH_S) == (256, 1.0)


def test_the_plugin_imports_nothing_heavy_until_a_config_exists() -> None:
    # Loaded in every pytest run where it is installed: YAML, Jinja2, httpx, sqlite3 and
    # asyncio load only once a llmbench config is found.
    import subprocess
    import sys

    code = (
        "import json, sys, pytest, pytest_llmbench.plugin\n"
        "heavy = ['yaml', 'jinja2', 'httpx', 'sqlite3', 'asyncio', 'pytest_llmbench.run.start']\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(done.stdout) == []
