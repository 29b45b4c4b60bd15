"""The GitHub workflows: valid by actionlint, secrets only from the repository's secrets,
minimal permissions, and the steps the issue asks for (smoke on PRs, sharded nightly, CI)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.loopback import closed_port
from support.records import run_on
from support.s3_server import S3Bucket
from support.webhook import WebhookReceiver

from pytest_llmbench.results import record as record_mod

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = ("benchmark-smoke.yml", "benchmark-nightly.yml", "ci.yml")
REQUIRE_ENV = "LLMBENCH_REQUIRE_ACTIONLINT"
SECRETS = {
    "LLM_URL",
    "OPENAI_API_KEY",
    "LLMBENCH_WEBHOOK_URL",
    "PUSHGATEWAY_URL",
    "GITHUB_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
# Each action pinned to the commit of a release tag (checked against the actions' own
# repositories: `git rev-parse v5.1.0^{commit}`), the release named in a trailing comment.
ACTIONS = {
    "actions/checkout@fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09": "v5.1.0",
    "actions/setup-python@ece7cb06caefa5fff74198d8649806c4678c61a1": "v6.3.0",
    "actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f": "v6.0.0",
    "actions/download-artifact@37930b1c2abaa49bbe596cd826c3c89aef350131": "v7.0.0",
}
USES_LINE = re.compile(r"^\s*(?:- )?uses:\s*(\S+)(.*)$")
KEY_LIKE = re.compile(
    r"sk-[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_|xox[abprs]-|AKIA[0-9A-Z]{16}"
    r"|Bearer\s+[A-Za-z0-9._-]{8,}|://[^\s/]*:[^\s/@]*@"
)
SECRET_REF = re.compile(r"^\$\{\{ secrets\.([A-Z_]+) \}\}$")


def text(name: str) -> str:
    return (WORKFLOWS / name).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    data: dict[Any, Any] = yaml.safe_load(text(name))
    # YAML 1.1 reads the key `on` as True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps") or [])


def step(job: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [s for s in steps(job) if s.get("name") == name]
    return found


def env_blocks(node: Any) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, dict):
                found.append(value)
            found.extend(env_blocks(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(env_blocks(value))
    return found


def heredoc(script: str, tag: str = "PY") -> str:
    """The body of the first `<<'TAG'` here-document in a run script."""
    match = re.search(rf"<<'{tag}'[^\n]*\n(.*?)\n{tag}\n", script, re.S)
    assert match is not None, f"no <<'{tag}' here-document"
    return match.group(1)


# -- actionlint ----------------------------------------------------------------------------


def actionlint() -> str:
    """The actionlint executable installed into this environment (the test extra's package
    puts it beside the interpreter), else one on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.exists() else shutil.which("actionlint")
    if found is None:
        message = "actionlint is not installed (pip install -e '.[test]')"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{message}, and {REQUIRE_ENV}=1 requires it")
        pytest.skip(message)
    return found


def test_actionlint_passes_the_workflows() -> None:
    done = subprocess.run(
        [actionlint(), "-no-color", "-oneline", *(f".github/workflows/{f}" for f in FILES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_actionlint_really_checks(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ secrets.LLM_URL }\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [actionlint(), "-no-color", "-oneline", str(bad)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "bad.yml:6:" in done.stdout


# -- every workflow ------------------------------------------------------------------------


@pytest.mark.parametrize("name", FILES)
def test_secrets_come_only_from_the_repositorys_secrets(name: str) -> None:
    body = text(name)
    assert "://" not in body, "no URL literals: URLs come from secrets"
    assert KEY_LIKE.search(body) is None, "no key, token or credential literals"
    referenced = set(re.findall(r"secrets\.([A-Za-z_]+)", body))
    assert referenced <= SECRETS, referenced - SECRETS
    assert len(re.findall(r"secrets\.", body)) == len(
        re.findall(r"\$\{\{ secrets\.[A-Z_]+ \}\}", body)
    ), "every secret is read as ${{ secrets.NAME }}"
    for block in env_blocks(load(name)):
        for key, value in block.items():
            if re.search(r"KEY|TOKEN|SECRET|PASSWORD|WEBHOOK", key):
                assert SECRET_REF.match(str(value)), f"{key}: {value!r}"
            if key.endswith("_URL"):
                assert str(value).startswith("${{ "), f"{key}: {value!r}"


@pytest.mark.parametrize("name", FILES)
def test_permissions_are_minimal(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    writes = {
        (job_id, scope)
        for job_id, job in workflow["jobs"].items()
        for scope, level in (job.get("permissions") or {}).items()
        if level != "read"
    }
    expected = {
        "benchmark-smoke.yml": {("smoke", "pull-requests")},
        "benchmark-nightly.yml": {("history", "contents")},
        "ci.yml": set(),
    }
    assert writes == expected[name]


@pytest.mark.parametrize("name", FILES)
def test_concurrency_and_pinned_actions(name: str) -> None:
    workflow = load(name)
    assert "${{ github." in workflow["concurrency"]["group"]
    used = {s["uses"] for job in workflow["jobs"].values() for s in steps(job) if "uses" in s}
    assert used <= set(ACTIONS), used - set(ACTIONS)
    for job_id, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", job_id
        assert job["timeout-minutes"] <= 180, job_id


@pytest.mark.parametrize("name", FILES)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_release(name: str) -> None:
    lines = [m for line in text(name).splitlines() if (m := USES_LINE.match(line))]
    assert lines, "the workflow uses actions"
    for match in lines:
        action, comment = match.group(1), match.group(2).strip()
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), action
        assert comment == f"# {ACTIONS[action]}", (action, comment)


# -- benchmark-smoke.yml -------------------------------------------------------------------


def test_smoke_runs_the_smoke_marker_with_report_baselines_and_artifact() -> None:
    workflow = load("benchmark-smoke.yml")
    assert set(workflow["on"]) == {"pull_request"}
    job = workflow["jobs"]["smoke"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    baseline = step(job, "Baselines from the base branch")
    assert baseline["env"] == {"BASE_REF": "${{ github.base_ref }}"}
    assert "main" not in baseline["run"]
    assert workflow["env"]["BASELINES_DIR"] == "data/eval/baselines"
    bench = step(job, "Smoke benchmark")
    assert bench["env"] == {
        "LLM_URL": "${{ secrets.LLM_URL }}",
        "OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}",
        "BASELINE": "${{ steps.baseline.outputs.path }}",
    }
    script = bench["run"]
    for part in (
        "args=(benchmarks -m smoke",
        "--llmbench-report=.llmbench/report.md",
        "--llmbench-json=.llmbench/run.json",
        '"--llmbench-baseline=$BASELINE"',
        'pytest "${args[@]}"',
        'echo "exit=$status" >> "$GITHUB_OUTPUT"',
    ):
        assert part in script, part
    upload = step(job, "Upload the run record")
    assert upload["if"] == "${{ !cancelled() }}"
    assert upload["with"]["path"].split() == [".llmbench/run.json", ".llmbench/report.md"]


def test_smoke_comments_unless_cancelled_then_fails_with_pytests_status() -> None:
    job = load("benchmark-smoke.yml")["jobs"]["smoke"]
    names = [s.get("name") for s in steps(job)]
    comment = step(job, "Post or update the PR comment")
    assert comment["if"] == (
        "${{ !cancelled() && github.event.pull_request.head.repo.full_name == github.repository }}"
    )
    assert comment["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert (
        'llmbench comment --repo "$REPO" --pr "$PR_NUMBER" --body-file .llmbench/report.md'
        in comment["run"]
    )
    last = steps(job)[-1]
    assert names.index("Post or update the PR comment") < len(names) - 1
    assert last["if"] == "${{ !cancelled() && steps.bench.outcome == 'success' }}"
    assert last["env"] == {"PYTEST_EXIT": "${{ steps.bench.outputs.exit }}"}
    assert 'exit "$PYTEST_EXIT"' in last["run"]
    assert "always()" not in text("benchmark-smoke.yml")


# -- the smoke job's scripts, run with stand-ins for pytest, llmbench and the base branch --


def stand_in(bin_dir: Path, name: str, script: str) -> None:
    """An executable `name` on PATH that runs the shell `script`."""
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/usr/bin/env bash\n{script}\n", encoding="utf-8")
    path.chmod(0o755)


def run_step(
    name: str, cwd: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run a smoke step's script as Actions does (bash -eo pipefail), with the stand-ins in
    cwd/bin first on PATH: (the process, what it wrote to GITHUB_OUTPUT)."""
    script = step(load("benchmark-smoke.yml")["jobs"]["smoke"], name)["run"]
    output = cwd / "github_output"
    output.write_text("", encoding="utf-8")
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={
            **os.environ,
            "PATH": f"{cwd / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "GITHUB_OUTPUT": str(output),
            "BASELINES_DIR": "data/eval/baselines",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    pairs = [line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines()]
    return done, dict(pairs)


@pytest.mark.parametrize(
    ("exit_status", "writes_report", "recorded"),
    [
        (0, True, "0"),
        (1, True, "1"),
        (5, True, "0"),  # no smoke sample selected: reported, not failed
        (5, False, "5"),  # nothing collected and no report: still a failure
        (2, False, "2"),
    ],
)
def test_smoke_step_reads_exit_5_with_a_report_as_nothing_to_fail(
    tmp_path: Path, exit_status: int, writes_report: bool, recorded: str
) -> None:
    write = "mkdir -p .llmbench && echo report > .llmbench/report.md" if writes_report else ":"
    stand_in(tmp_path / "bin", "pytest", f"{write}\nexit {exit_status}")
    done, outputs = run_step("Smoke benchmark", tmp_path, {"BASELINE": ""})
    assert done.returncode == 0, done.stderr
    assert outputs == {"exit": recorded}


@pytest.mark.parametrize(
    ("exit_status", "step_status", "warned"),
    [(0, 0, False), (3, 0, True), (2, 2, False)],
)
def test_comment_step_warns_when_github_is_unavailable_and_fails_on_a_refusal(
    tmp_path: Path, exit_status: int, step_status: int, warned: bool
) -> None:
    (tmp_path / ".llmbench").mkdir()
    (tmp_path / ".llmbench" / "report.md").write_text("r", encoding="utf-8")
    stand_in(tmp_path / "bin", "llmbench", f"exit {exit_status}")
    done, _ = run_step("Post or update the PR comment", tmp_path, {"REPO": "o/r", "PR_NUMBER": "7"})
    assert done.returncode == step_status
    assert ("::warning::GitHub is unavailable" in done.stdout) is warned


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def test_baselines_come_from_the_pr_base_branch_every_scenario(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "develop")
    git(origin, "config", "user.email", "t@example.invalid")
    git(origin, "config", "user.name", "t")
    baselines = origin / "data" / "eval" / "baselines"
    baselines.mkdir(parents=True)
    for scenario in ("digest", "summary"):
        (baselines / f"{scenario}.json").write_text(f'{{"s": "{scenario}"}}', encoding="utf-8")
    (baselines / "README.md").write_text("not a baseline", encoding="utf-8")
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "baselines")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(work))
    done, outputs = run_step("Baselines from the base branch", work, {"BASE_REF": "develop"})
    assert done.returncode == 0, done.stderr
    assert outputs == {"path": ".llmbench/baselines"}
    got = sorted(p.name for p in (work / ".llmbench" / "baselines").iterdir())
    assert got == ["digest.json", "summary.json"]
    summary = (work / ".llmbench" / "baselines" / "summary.json").read_text(encoding="utf-8")
    assert summary == '{"s": "summary"}'


def test_a_base_branch_without_baselines_runs_uncompared(tmp_path: Path) -> None:
    origin = tmp_path / "origin"
    origin.mkdir()
    git(origin, "init", "-q", "-b", "release")
    git(origin, "config", "user.email", "t@example.invalid")
    git(origin, "config", "user.name", "t")
    (origin / "README.md").write_text("x", encoding="utf-8")
    git(origin, "add", ".")
    git(origin, "commit", "-q", "-m", "first")
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", "--no-checkout", str(origin), str(work))
    done, outputs = run_step("Baselines from the base branch", work, {"BASE_REF": "release"})
    assert done.returncode == 0, done.stderr
    assert outputs == {}
    assert "::notice::release has no data/eval/baselines/*.json yet" in done.stdout


# -- benchmark-nightly.yml -----------------------------------------------------------------


def test_nightly_runs_two_shards_on_a_schedule_and_by_hand() -> None:
    workflow = load("benchmark-nightly.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    assert workflow["on"]["schedule"][0]["cron"]
    shard = workflow["jobs"]["shard"]
    assert shard["strategy"]["matrix"]["shard"] == [1, 2]
    assert shard["strategy"]["fail-fast"] is False
    script = step(shard, "Benchmark shard ${{ matrix.shard }}/2")["run"]
    assert "pytest -n auto benchmarks" in script
    assert '--llmbench-shard="${SHARD}/2"' in script
    assert "-m smoke" not in script  # every sample


def test_nightly_merges_keeps_history_pushes_and_alerts_on_main_only() -> None:
    jobs = load("benchmark-nightly.yml")["jobs"]
    merge = jobs["merge"]
    assert merge["needs"] == "shard"
    assert (
        "llmbench merge shards/shard-*.json -o .llmbench/merged.json"
        in step(merge, "Merge the shards")["run"]
    )
    download = step(merge, "Download the shard records")
    assert download["with"] == {
        "pattern": "llmbench-shard-*",
        "path": "shards",
        "merge-multiple": True,
    }
    verdict = step(merge, "Verdict against the baseline")["run"]
    assert '--baseline "$BASELINES_DIR"' in verdict  # every scenario's baseline
    assert step(merge, "Upload the run record")["with"]["retention-days"] == 90
    metrics = step(merge, "Push metrics")
    assert metrics["if"].startswith("github.ref == 'refs/heads/main'")
    assert metrics["env"] == {"PUSHGATEWAY_URL": "${{ secrets.PUSHGATEWAY_URL }}"}
    assert "llmbench metrics .llmbench/nightly.json --pushgateway" in metrics["run"]

    history = jobs["history"]
    assert history["permissions"] == {"contents": "write"}
    assert "github.ref == 'refs/heads/main'" in history["if"]
    commit = step(history, "Commit the record to the history branch")["run"]
    assert 'cp nightly/nightly.json "${HISTORY_DIR}/${RUN_ID}.json"' in commit
    assert 'git push origin "HEAD:refs/heads/${HISTORY_BRANCH}"' in commit

    alert = jobs["alert"]
    assert alert["needs"] == ["shard", "merge"]
    for part in (
        "always()",
        "github.ref == 'refs/heads/main'",
        "contains(needs.*.result, 'failure')",
        "needs.merge.outputs.notify == 'true'",
    ):
        assert part in alert["if"], part
    post = step(alert, "Post the alert to the webhook")
    assert post["env"]["WEBHOOK_URL"] == "${{ secrets.LLMBENCH_WEBHOOK_URL }}"


def test_nightly_verdict_script_reads_status_regression_and_run_id(tmp_path: Path) -> None:
    merge = load("benchmark-nightly.yml")["jobs"]["merge"]
    code = heredoc(step(merge, "Verdict against the baseline")["run"])
    record = {
        "status": "fail",
        "run": {"id": "20251109T021700Z-abc123"},
        "scenarios": {
            "a": {"comparison": {"status": "ok"}},
            "b": {"comparison": {"status": "regression"}},
            "c": {},
        },
    }
    (tmp_path / ".llmbench").mkdir()
    (tmp_path / ".llmbench" / "nightly.json").write_text(json.dumps(record), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    # No stored notify rules: the defaults (fail, regression) alert on this failing run.
    assert done.stdout == (
        "status=fail\nregression=true\nnotify=true\nrun_id=20251109T021700Z-abc123\n"
    )


def test_nightly_pushes_its_record_to_s3_unless_cancelled_and_only_on_main() -> None:
    push = step(load("benchmark-nightly.yml")["jobs"]["merge"], "Push the run record to S3")
    assert push["if"] == (
        "${{ !cancelled() && github.ref == 'refs/heads/main' && "
        "steps.verdict.outputs.run_id != '' }}"
    )
    assert push["env"] == {
        "HISTORY_S3": "${{ vars.LLMBENCH_HISTORY_S3 }}",
        "S3_ENDPOINT_URL": "${{ vars.AWS_ENDPOINT_URL }}",
        "AWS_ACCESS_KEY_ID": "${{ secrets.AWS_ACCESS_KEY_ID }}",
        "AWS_SECRET_ACCESS_KEY": "${{ secrets.AWS_SECRET_ACCESS_KEY }}",
    }


def run_push_step(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The nightly's S3 push script, run by bash in a folder holding its run record, with
    this environment's `llmbench` first on PATH."""
    script = step(load("benchmark-nightly.yml")["jobs"]["merge"], "Push the run record to S3")
    record_mod.write(run_on(10, 0.9), tmp_path / ".llmbench" / "nightly.json")
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-e", "-c", script["run"]],
        cwd=tmp_path,
        env={**env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_nightly_s3_push_step_puts_the_record_under_the_prefix(
    tmp_path: Path, s3: S3Bucket
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    done = run_push_step(
        tmp_path, {**env, "HISTORY_S3": s3.url("nightly/"), "S3_ENDPOINT_URL": s3.endpoint}
    )
    assert (done.returncode, done.stderr) == (0, "")
    key = "nightly/20251110T030000Z-000010.json"
    assert done.stdout == f"pushed run 20251110T030000Z-000010 to {s3.url(key)}\n"
    assert s3.get(key) == (tmp_path / ".llmbench" / "nightly.json").read_bytes()


def test_the_nightly_s3_push_step_is_a_notice_without_the_variable(tmp_path: Path) -> None:
    done = run_push_step(tmp_path, {"HISTORY_S3": "", "S3_ENDPOINT_URL": ""})
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "::notice::the LLMBENCH_HISTORY_S3 variable is not set: the run record is not "
        "pushed to S3\n"
    )


def test_a_failed_s3_push_is_a_warning_that_keeps_the_verdict(tmp_path: Path, s3: S3Bucket) -> None:
    done = run_push_step(
        tmp_path,
        {
            **os.environ,
            "HISTORY_S3": "s3://no-such-bucket-here/nightly/",
            "S3_ENDPOINT_URL": s3.endpoint,
        },
    )
    assert done.returncode == 0
    assert done.stdout == "::warning::the run record was not pushed to S3\n"
    assert done.stderr == (
        f"llmbench: s3://no-such-bucket-here: no such bucket at {s3.endpoint}; create it or "
        "check the name (and --endpoint-url / AWS_ENDPOINT_URL)\n"
    )


@pytest.mark.parametrize(
    ("status", "on", "notify"),
    [("warn", ["warn"], "true"), ("fail", ["warn"], "false"), ("pass", ["fail"], "false")],
)
def test_nightly_alerts_by_the_notify_rules_the_record_keeps(
    tmp_path: Path, status: str, on: list[str], notify: str
) -> None:
    merge = load("benchmark-nightly.yml")["jobs"]["merge"]
    code = heredoc(step(merge, "Verdict against the baseline")["run"])
    record = {
        "status": status,
        "gated": True,
        "rules": {"notify": {"on": on}},
        "run": {"id": "r"},
        "scenarios": {"a": {}},
    }
    (tmp_path / ".llmbench").mkdir()
    (tmp_path / ".llmbench" / "nightly.json").write_text(json.dumps(record), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert f"notify={notify}\n" in done.stdout


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A webhook receiver on 127.0.0.1: (its URL, the JSON bodies it received)."""
    with WebhookReceiver(status=204, reply="") as hook:
        yield hook.url, hook.json_bodies


def run_alert_script(
    cwd: Path, url: str, shard: str = "success", merge: str = "success"
) -> subprocess.CompletedProcess[str]:
    post = step(load("benchmark-nightly.yml")["jobs"]["alert"], "Post the alert to the webhook")
    env = {
        **os.environ,
        "WEBHOOK_URL": url,
        "SHARD_RESULT": shard,
        "MERGE_RESULT": merge,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "o/r",
        "GITHUB_RUN_ID": "7",
    }
    return subprocess.run(
        [sys.executable, "-c", heredoc(post["run"])],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_nightly_alert_posts_the_plugins_message_for_the_record(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    record = {
        "status": "fail",
        "gated": True,
        "problems": ["coverage of digest is in its fail band: 0.700 (pass ≥ 0.8, warn ≥ 0.75)"],
        "scenarios": {"digest": {"status": "fail", "problems": [], "metrics": {}}},
    }
    (tmp_path / "nightly").mkdir()
    (tmp_path / "nightly" / "nightly.json").write_text(json.dumps(record), encoding="utf-8")
    done = run_alert_script(tmp_path, url, merge="failure")
    assert (done.returncode, done.stdout, done.stderr) == (0, "alert sent: HTTP 204\n", "")
    (body,) = received
    assert body["text"] == body["content"]
    assert body["text"].startswith("llmbench: FAIL — digest")
    assert body["text"].endswith("run: https://github.example/o/r/actions/runs/7")
    assert body["allowed_mentions"] == {"parse": []}


def test_nightly_alert_without_a_record_says_the_run_did_not_finish(
    tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook
    done = run_alert_script(tmp_path, url, shard="failure", merge="skipped")
    assert done.returncode == 0, done.stderr
    assert received == [
        {
            "text": "llmbench: the nightly run did not finish (shards failure, merge skipped)\n"
            "run: https://github.example/o/r/actions/runs/7",
            "content": "llmbench: the nightly run did not finish (shards failure, merge skipped)\n"
            "run: https://github.example/o/r/actions/runs/7",
            "allowed_mentions": {"parse": []},
        }
    ]
    assert url not in done.stdout + done.stderr


def test_nightly_alert_that_cannot_be_delivered_fails_the_alert_job(tmp_path: Path) -> None:
    port = closed_port()
    done = run_alert_script(tmp_path, f"http://127.0.0.1:{port}/hook")
    assert done.returncode == 1
    assert done.stdout.startswith("alert not sent: ")
    assert str(port) not in done.stdout


# -- ci.yml --------------------------------------------------------------------------------


def test_ci_runs_the_tests_on_python_3_10_to_3_13_with_lint_and_types() -> None:
    workflow = load("ci.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    jobs = workflow["jobs"]
    test = jobs["test"]
    assert test["strategy"]["matrix"]["python-version"] == ["3.10", "3.11", "3.12", "3.13"]
    runs = "\n".join(s.get("run", "") for s in steps(test))
    assert "apt-get install -y --no-install-recommends prometheus-pushgateway" in runs
    assert 'python -m pip install -e ".[test]"' in runs
    assert step(test, "Tests")["env"] == {"LLMBENCH_REQUIRE_PUSHGATEWAY": "1"}
    assert step(jobs["lint"], "ruff")["run"] == "ruff check pytest_llmbench tests"
    assert step(jobs["types"], "mypy --strict")["run"] == "mypy"
