"""The secret scan: a live run against a judge that echoes every request back (headers,
URL and body, in its error messages and in its replies), with an API key, a base_url with
user:password and a secret in its query; then every file the run left and every stream is
searched for each secret and every 6-character piece of it. Nothing may be found."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from support.cli import Run
from support.judge_server import Behaviour, JudgeServer
from support.project import Project, live_judge_yaml, marker
from support.secret_scan import basic_auth, hits
from support.webhook import WebhookReceiver

KEY = "sk-scan-Q7fZk2LmX9vB4nR8tY1wC6hJ"
USER, PASSWORD = "scanuser", "Pw-Zq8Xk3Vt7Lm"
QUERY = "Qs-Tq8Lm2Vx7Nc4Kp9R"
SECRETS = (KEY, PASSWORD, QUERY, basic_auth(USER, PASSWORD), f"{USER}:{PASSWORD}")
MODES = {"no-xdist": ["-p", "no:xdist"], "n2": ["-n", "2"]}

JUDGE = (
    live_judge_yaml(timeout_s=5, retries="{attempts: 2, max_wait_s: 2, base_s: 0.01}")
    + "    structured_output: none\n"
)  # a 400 is then no format rejection to retry
# Two judges, as userinfo and a key together are refused: one sends the key, one basic auth.
JUDGES = (
    JUDGE.replace("${TEST_LLM_URL}", "${SCAN_KEYED_URL}")
    + "    api_key_env: SCAN_KEY\n"
    + JUDGE.replace("judges:\n", "")
    .replace("default:", "basic:")
    .replace("${TEST_LLM_URL}", "${SCAN_BASIC_URL}")
)
SCENARIO = """\
  {name}:
    dataset: data/digest.jsonl
    prompt: digest_judge@v1
    judge: {judge}
    metrics:
      coverage: {{pass: 0.8, warn: 0.7}}
      accuracy: {{pass: 0.8, warn: 0.7}}
"""
CONFIG = (
    "version: 1\n"
    + JUDGES
    + "scenarios:\n"
    + SCENARIO.format(name="keyed", judge="default")
    + SCENARIO.format(name="basic", judge="basic")
)
TESTS = """\
import pytest


@pytest.mark.llmbench("keyed")
def test_keyed(sample, judge):
    judge(sample.output)


@pytest.mark.llmbench("basic")
def test_basic(sample, judge):
    judge(sample.output)
"""
# The echo of a request starts "you sent <path> authorization: Bearer <key>" after the
# scripted message: this many characters put the 160-character cut inside the key.
PATH = f"/v1/chat/completions?token={QUERY}"
CUT_IN_KEY = 160 - 3 - 12 - len(f" you sent {PATH} authorization: Bearer ")


@pytest.fixture
def echoing(project: Project, monkeypatch: pytest.MonkeyPatch) -> Iterator[JudgeServer]:
    with JudgeServer(echo=True) as srv:
        where = f"127.0.0.1:{srv.port}/v1?token={QUERY}"
        monkeypatch.setenv("SCAN_KEYED_URL", f"http://{where}")
        monkeypatch.setenv("SCAN_BASIC_URL", f"http://{USER}:{PASSWORD}@{where}")
        monkeypatch.setenv("SCAN_KEY", KEY)
        project.config(CONFIG)
        project.write("benchmarks/test_digest.py", TESTS)
        yield srv


@pytest.mark.parametrize("mode", list(MODES), ids=list(MODES))
def test_no_secret_in_any_file_or_stream_of_a_run_against_an_echoing_judge(
    project: Project, echoing: JudgeServer, mode: str, llmbench: Callable[..., Run]
) -> None:
    # Per scenario: sample 1 an error whose echo is cut inside the credential, 2 a 401,
    # 3 a 500 twice (retried, then given up), 4 a scored reply that quotes the request.
    scripts: dict[int, list[Behaviour]] = {
        1: [("error", 400, "x" * n) for n in (CUT_IN_KEY, CUT_IN_KEY + 1)],
        2: [("status", 401)] * 2,
        3: [("status", 500)] * 4,
    }
    for number, script in scripts.items():
        echoing.script_for(marker(number), script)
    with WebhookReceiver() as hook:
        result = project.run(
            *MODES[mode],
            "-rA",
            "--llmbench-report=report.md",
            "--llmbench-json=out/record.json",
            "--llmbench-prom-file=out/metrics.prom",
            f"--llmbench-webhook={hook.url}",
        )
        posted = json.dumps(hook.bodies)
    assert result.ret == 1  # three of four samples unscored: both scenarios fail
    # The server did get every credential, so there was something to leak.
    sent = {h.get("authorization") for h in echoing.headers}
    assert sent == {f"Bearer {KEY}", f"Basic {basic_auth(USER, PASSWORD)}"}
    record = json.loads((project.root / "out" / "record.json").read_text(encoding="utf-8"))
    reasons = {
        s["id"]: s.get("reason", "")
        for scenario in record["scenarios"].values()
        for s in scenario["samples"]
    }
    assert reasons["s-02"].startswith("judge rejected the request: HTTP 401 Unauthorized")
    assert reasons["s-01"].startswith("judge rejected the request: HTTP 400 Bad Request: xxx")
    for name in ("report.md", "out/metrics.prom", ".llmbench/runs"):
        assert (project.root / name).exists(), name
    assert hook.bodies, "the failing run posted its alert"
    streams = {"stdout": result.stdout.str(), "stderr": result.stderr.str(), "webhook": posted}
    # The record read again by the commands a CI job runs on it.
    recorded = str(project.root / "out" / "record.json")
    for command in (["report", recorded], ["report", recorded, "--format", "json"]):
        status, out, err = llmbench(*command)
        assert status == 1, err  # the run failed, and so does its report
        streams[" ".join(command)] = out + err
    assert hits(project.root, streams, SECRETS) == []
