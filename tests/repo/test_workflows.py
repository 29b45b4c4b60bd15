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
from support.webhook import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = ("benchmark-smoke.yml", "benchmark-nightly.yml", "ci.yml")
REQUIRE_ENV = "LLMBENCH_REQUIRE_ACTIONLINT"
SECRETS = {"LLM_URL", "OPENAI_API_KEY", "LLMBENCH_WEBHOOK_URL", "PUSHGATEWAY_URL", "GITHUB_TOKEN"}
ACTIONS = {
    "actions/checkout@v5",
    "actions/setup-python@v6",
    "actions/upload-artifact@v6",
    "actions/download-artifact@v7",
}
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
    assert used <= ACTIONS, used - ACTIONS
    for job_id, job in workflow["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", job_id
        assert job["timeout-minutes"] <= 180, job_id


# -- benchmark-smoke.yml -------------------------------------------------------------------


def test_smoke_runs_the_smoke_marker_with_report_baseline_and_artifact() -> None:
    workflow = load("benchmark-smoke.yml")
    assert set(workflow["on"]) == {"pull_request"}
    job = workflow["jobs"]["smoke"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    baseline = step(job, "Baseline from main")["run"]
    assert 'git show "origin/main:${BASELINE_PATH}"' in baseline
    assert workflow["env"]["BASELINE_PATH"] == "data/eval/baselines/channel_digest_ru.json"
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
    assert upload["if"] == "always()"
    assert upload["with"]["path"].split() == [".llmbench/run.json", ".llmbench/report.md"]


def test_smoke_comments_even_when_pytest_failed_then_fails_with_its_status() -> None:
    job = load("benchmark-smoke.yml")["jobs"]["smoke"]
    names = [s.get("name") for s in steps(job)]
    comment = step(job, "Post or update the PR comment")
    assert comment["if"].startswith("always() && ")
    assert comment["env"]["GITHUB_TOKEN"] == "${{ secrets.GITHUB_TOKEN }}"
    assert (
        'llmbench comment --repo "$REPO" --pr "$PR_NUMBER" --body-file .llmbench/report.md'
        in comment["run"]
    )
    last = steps(job)[-1]
    assert names.index("Post or update the PR comment") < len(names) - 1
    assert last["if"] == "always() && steps.bench.outcome == 'success'"
    assert last["env"] == {"PYTEST_EXIT": "${{ steps.bench.outputs.exit }}"}
    assert 'exit "$PYTEST_EXIT"' in last["run"]


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
    assert "--baseline" in step(merge, "Verdict against the baseline")["run"]
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
