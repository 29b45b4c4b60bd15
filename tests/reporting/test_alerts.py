"""Alerts to Slack / Discord incoming webhooks: the message, when to send it, posting it to a
receiver on 127.0.0.1, the redacted URL, and (last section) whole runs with a webhook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from support.loopback import closed_port
from support.project import Project, config_yaml, make_samples
from support.records import run_record
from support.webhook import WebhookReceiver

from pytest_llmbench.benchmark.config import NotifyConfig
from pytest_llmbench.reporting.alerts import (
    AlertResult,
    build_message,
    post_alert,
    run_url,
    should_notify,
)
from pytest_llmbench.run.exporters import AlertPlugin

RUN_URL = "https://github.com/octo/bench/actions/runs/42"
HOOK_PATH = "/services/T000/B000/s3cretHOOKabcd"


class Receiver(WebhookReceiver):
    """The webhook receiver at HOOK_PATH, and its URL as the plugin shows it."""

    def __init__(self) -> None:
        super().__init__(path=HOOK_PATH)

    @property
    def shown(self) -> str:
        return f"{self.origin}/…abcd"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
def refused_url() -> str:
    return f"http://127.0.0.1:{closed_port()}{HOOK_PATH}"


# -- records, as the controller builds them (the keys alerts read) ------------------------

FAIL_LINE = "coverage of digest is in its fail band: 0.900 (pass ≥ 0.99, warn ≥ 0.95)"
WARN_LINE = "accuracy of digest is in its warn band: 0.900 (pass ≥ 0.95, warn ≥ 0.85)"
REGRESSION_LINE = (
    "accuracy of digest regressed (warn): -0.100 vs baseline over 4 samples, "
    "95% CI -0.100 – -0.100, margin 0.02"
)


# The value and band each metric status is given here; FAIL_LINE and WARN_LINE say them.
BANDS = {"fail": "pass ≥ 0.99, warn ≥ 0.95", "warn": "pass ≥ 0.95, warn ≥ 0.85"}
REGRESSION = {
    "status": "regression",
    "severity": "warn",
    "regressed": ["accuracy"],
    "metrics": {
        "accuracy": {
            "diff": -0.1,
            "ci95": [-0.1, -0.1],
            "compared": 4,
            "margin": 0.02,
            "underpowered": False,
        }
    },
}


def metric(status: str, value: float = 0.9, band: str | None = None) -> dict[str, Any]:
    return {"status": status, "value": value, "band": band or BANDS.get(status, "")}


def scenario(
    status: str, problems: list[str], samples: list[dict[str, Any]] | None = None, **metrics: Any
) -> dict[str, Any]:
    """A scenario block; a metric given as a status string gets that status's BANDS entry."""
    return {
        "status": status,
        "problems": problems,
        "samples": samples or [],
        "metrics": {n: metric(m) if isinstance(m, str) else m for n, m in metrics.items()},
    }


def fail_record() -> dict[str, Any]:
    return run_record(
        {
            "digest": scenario(
                "fail", [FAIL_LINE, WARN_LINE], coverage="fail", accuracy="warn", latency="pass"
            ),
            "news": scenario("pass", [], coverage="pass"),
        },
        "fail",
    )


def regression_record() -> dict[str, Any]:
    digest = scenario("warn", [REGRESSION_LINE], coverage="pass", accuracy="pass")
    digest["comparison"] = REGRESSION
    return run_record({"digest": digest}, "warn")


def warn_record() -> dict[str, Any]:
    return run_record(
        {"digest": scenario("warn", [WARN_LINE], coverage="pass", accuracy="warn")}, "warn"
    )


def pass_record() -> dict[str, Any]:
    return run_record({"digest": scenario("pass", [], coverage="pass")}, "pass")


# -- the message -------------------------------------------------------------------------


def test_fail_message_names_the_failing_scenario_its_fail_metrics_and_the_run() -> None:
    message = build_message(fail_record(), RUN_URL)
    text = (
        "llmbench: FAIL — digest\n"
        f"• {FAIL_LINE}\n"
        "run: https://github.com/octo/bench/actions/runs/42"
    )
    assert message == {"text": text, "content": text, "allowed_mentions": {"parse": []}}


def test_regression_message_lists_the_regressed_metric() -> None:
    message = build_message(regression_record(), None)
    assert message["text"] == f"llmbench: WARN — digest\n• {REGRESSION_LINE}"
    assert message["content"] == message["text"]


def test_warn_message_lists_the_warn_band_metrics_when_nothing_failed() -> None:
    assert build_message(warn_record(), RUN_URL)["text"] == (
        f"llmbench: WARN — digest\n• {WARN_LINE}\nrun: {RUN_URL}"
    )


def test_a_regressed_scenario_that_also_fails_shows_both_lines() -> None:
    rec = fail_record()
    rec["scenarios"]["digest"]["problems"].append(REGRESSION_LINE)
    rec["scenarios"]["digest"]["comparison"] = REGRESSION
    assert build_message(rec, None)["text"] == (
        f"llmbench: FAIL — digest\n• {FAIL_LINE}\n• {REGRESSION_LINE}"
    )


def test_a_spent_budget_is_a_serious_line() -> None:
    line = "budget exhausted: 3 samples of digest not judged"
    unjudged = [
        {
            "id": f"s-{i}",
            "status": "unscored",
            "reason": "budget …",
            "reason_code": "budget_exhausted",
        }
        for i in range(3)
    ]
    rec = run_record(
        {"digest": scenario("fail", [line, WARN_LINE], unjudged, accuracy="warn")}, "fail"
    )
    assert build_message(rec, None)["text"] == f"llmbench: FAIL — digest\n• {line}"


def test_a_long_message_stays_under_discords_limit_and_keeps_the_link() -> None:
    lines = [
        f"m{i:03d} of digest is in its fail band: 0.100 (pass ≥ 0.9, warn ≥ 0.8)" for i in range(80)
    ]
    metrics = {f"m{i:03d}": metric("fail", 0.1, "pass ≥ 0.9, warn ≥ 0.8") for i in range(80)}
    text = build_message(
        run_record({"digest": scenario("fail", lines, None, **metrics)}, "fail"), RUN_URL
    )["text"]
    assert len(text) <= 1_900
    kept = text.splitlines()
    assert kept[0] == "llmbench: FAIL — digest"
    assert kept[-1] == f"run: {RUN_URL}"
    assert kept[-2] == f"… and {80 - (len(kept) - 3)} more"
    assert kept[1] == f"• {lines[0]}"


def test_names_cannot_ping_a_slack_channel() -> None:
    rec = run_record(
        {"<!channel>": scenario("fail", ["x of <!channel> has no scored samples"], x="no data")},
        "fail",
    )
    text = build_message(rec, None)["text"]
    assert "<" not in text and ">" not in text
    assert text == "llmbench: FAIL — ‹!channel›\n• x of ‹!channel› has no scored samples"


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, None),
        ({"GITHUB_REPOSITORY": "octo/bench"}, None),
        ({"GITHUB_REPOSITORY": "octo/bench", "GITHUB_RUN_ID": "42"}, RUN_URL),
        (
            {
                "GITHUB_SERVER_URL": "https://ghe.example/",
                "GITHUB_REPOSITORY": "octo/bench",
                "GITHUB_RUN_ID": "42",
            },
            "https://ghe.example/octo/bench/actions/runs/42",
        ),
    ],
)
def test_run_url_from_the_actions_environment(env: dict[str, str], url: str | None) -> None:
    assert run_url(env) == url


# -- when to alert -------------------------------------------------------------------------

DEFAULT_ON = NotifyConfig().on  # ("fail", "regression")


@pytest.mark.parametrize(
    ("make", "on", "expected"),
    [
        (fail_record, DEFAULT_ON, True),
        (regression_record, DEFAULT_ON, True),
        (warn_record, DEFAULT_ON, False),
        (pass_record, DEFAULT_ON, False),
        (fail_record, ("regression",), False),
        (regression_record, ("fail",), False),
        (warn_record, ("warn",), True),
        (regression_record, ("warn",), True),
        (pass_record, ("pass",), True),
        (fail_record, ("warn", "pass"), False),
        (fail_record, (), False),
    ],
)
def test_should_notify(make: Any, on: tuple[str, ...], expected: bool) -> None:
    assert should_notify(make(), on) is expected


def test_a_run_that_is_not_gated_never_alerts() -> None:
    rec = fail_record()
    rec["gated"] = False
    assert should_notify(rec, ("fail", "warn", "pass", "regression")) is False


# -- posting -------------------------------------------------------------------------------

PAYLOAD = {"text": "llmbench: FAIL — digest", "content": "llmbench: FAIL — digest"}


def test_post_alert_sends_json_and_reports_success(receiver: Receiver) -> None:
    assert post_alert(receiver.url, PAYLOAD) == AlertResult(True, "HTTP 200")
    assert receiver.bodies == [
        {"path": HOOK_PATH, "content_type": "application/json", "json": PAYLOAD}
    ]


def test_discords_204_is_success(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 204, ""
    assert post_alert(receiver.url, PAYLOAD) == AlertResult(True, "HTTP 204")


@pytest.mark.parametrize(
    ("status", "reply", "detail"),
    [
        (500, "", "HTTP 500"),
        (404, "no_service", "HTTP 404: no_service"),
        (
            400,
            '{"message": "Cannot send an empty message", "code": 50006}',
            "HTTP 400: Cannot send an empty message",
        ),
        (403, f"forbidden for {HOOK_PATH}", "HTTP 403"),  # an echo of the path is not shown
    ],
)
def test_post_alert_reports_an_error_status(
    receiver: Receiver, status: int, reply: str, detail: str
) -> None:
    receiver.status, receiver.reply = status, reply
    assert post_alert(receiver.url, PAYLOAD) == AlertResult(False, detail)
    assert len(receiver.bodies) == 1


def test_post_alert_never_raises_on_a_refused_connection(refused_url: str) -> None:
    assert post_alert(refused_url, PAYLOAD) == AlertResult(False, "connection refused")


def test_post_alert_never_raises_on_a_timeout(receiver: Receiver) -> None:
    receiver.delay_s = 2.0
    assert post_alert(receiver.url, PAYLOAD, timeout=0.2) == AlertResult(
        False, "timed out after 0.2 s"
    )


@pytest.mark.parametrize(
    "url", ["", "hooks.slack.com/services/x", "ftp://hooks.example/x", "https://[hooks/x"]
)
def test_post_alert_refuses_a_url_that_is_not_http(url: str) -> None:
    assert post_alert(url, PAYLOAD) == AlertResult(False, "not an http(s) URL")


def test_post_alert_turns_any_exception_into_a_result() -> None:
    import httpx

    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError(f"boom at {request.url}")

    result = post_alert("https://hooks.example/x", PAYLOAD, transport=httpx.MockTransport(broken))
    assert result == AlertResult(False, "failed (RuntimeError)")


# -- the hook, with a stand-in config (no wiring needed) -------------------------------------


class _Terminal:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, bool]]] = []

    def write_line(self, text: str, **markup: bool) -> None:
        self.lines.append((text, markup))


class _Config:
    def __init__(self, webhook: str | None) -> None:
        self.webhook = webhook
        self.terminal = _Terminal()
        self.pluginmanager = self

    def getoption(self, name: str, default: Any = None) -> Any:
        return self.webhook if name == "llmbench_webhook" else default

    def get_plugin(self, name: str) -> Any:
        return self.terminal if name == "terminalreporter" else None


def test_hook_posts_on_fail_and_prints_the_redacted_url(receiver: Receiver) -> None:
    config = _Config(receiver.url)
    plugin = AlertPlugin(
        NotifyConfig(), environ={"GITHUB_REPOSITORY": "octo/bench", "GITHUB_RUN_ID": "42"}
    )
    plugin.pytest_llmbench_verdict(fail_record(), config)  # type: ignore[arg-type]
    plugin.pytest_terminal_summary(config.terminal)
    assert config.terminal.lines == [
        (f"llmbench: alert posted to {receiver.shown}", {"green": True})
    ]
    assert receiver.bodies[0]["json"]["content"].endswith(f"\nrun: {RUN_URL}")
    assert plugin.result == AlertResult(True, "HTTP 200")


def test_hook_reports_a_failed_post_and_leaves_the_verdict(receiver: Receiver) -> None:
    receiver.status, receiver.reply = 500, ""
    config = _Config(None)
    plugin = AlertPlugin(NotifyConfig(webhook_env="MY_HOOK"), environ={"MY_HOOK": receiver.url})
    rec = fail_record()
    plugin.pytest_llmbench_verdict(rec, config)  # type: ignore[arg-type]
    plugin.pytest_terminal_summary(config.terminal)
    assert config.terminal.lines == [
        (
            f"llmbench: alert NOT posted (HTTP 500 from {receiver.shown}); the verdict is unchanged",
            {"yellow": True},
        )
    ]
    assert rec["status"] == "fail"
    assert receiver.url not in str(config.terminal.lines)


def test_hook_does_nothing_without_a_webhook_or_an_outcome_to_alert_on(receiver: Receiver) -> None:
    for webhook, make in ((None, fail_record), (receiver.url, pass_record)):
        config = _Config(webhook)
        plugin = AlertPlugin(NotifyConfig(), environ={})
        plugin.pytest_llmbench_verdict(make(), config)  # type: ignore[arg-type]
        plugin.pytest_terminal_summary(config.terminal)
        assert config.terminal.lines == []
        assert plugin.result is None
    assert receiver.bodies == []


def test_the_option_wins_over_the_environment(receiver: Receiver, refused_url: str) -> None:
    config = _Config(receiver.url)
    plugin = AlertPlugin(NotifyConfig(), environ={"LLMBENCH_WEBHOOK_URL": refused_url})
    plugin.pytest_llmbench_verdict(fail_record(), config)  # type: ignore[arg-type]
    assert len(receiver.bodies) == 1


# =====================================================================================
# Whole runs with a webhook. These need plugin.py to add --llmbench-webhook and register
# AlertPlugin(cfg.notify) on the controller; they fail until that wiring is in.
# =====================================================================================


@pytest.fixture
def ci_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("LLMBENCH_WEBHOOK_URL", "MY_HOOK", "GITHUB_SERVER_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "octo/bench")
    monkeypatch.setenv("GITHUB_RUN_ID", "42")
    return monkeypatch


WHOLE_FAIL_LINE = "• coverage of digest is in its fail band: 0.900 (pass ≥ 0.99, warn ≥ 0.95)"


def test_run_failing_a_band_posts_one_alert(
    project: Project, receiver: Receiver, ci_env: pytest.MonkeyPatch, xdist_args: list[str]
) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run(f"--llmbench-webhook={receiver.url}", *xdist_args)
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"llmbench: alert posted to {receiver.shown}"])
    text = f"llmbench: FAIL — digest\n{WHOLE_FAIL_LINE}\nrun: {RUN_URL}"
    assert [b["json"] for b in receiver.bodies] == [
        {"text": text, "content": text, "allowed_mentions": {"parse": []}}
    ]
    assert receiver.url not in result.stdout.str() + result.stderr.str()


def test_run_webhook_from_the_environment_variable_named_in_notify(
    project: Project, receiver: Receiver, ci_env: pytest.MonkeyPatch
) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)) + "notify:\n  webhook_env: MY_HOOK\n")
    ci_env.setenv("LLMBENCH_WEBHOOK_URL", "http://127.0.0.1:9/not-this-one-at-all")
    ci_env.setenv("MY_HOOK", receiver.url)
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines([f"llmbench: alert posted to {receiver.shown}"])
    assert len(receiver.bodies) == 1


def test_run_a_failing_webhook_changes_neither_verdict_nor_exit_status(
    project: Project, receiver: Receiver, ci_env: pytest.MonkeyPatch
) -> None:
    receiver.status, receiver.reply = 500, ""
    project.config(config_yaml(accuracy=(0.95, 0.85)) + 'notify:\n  "on": [warn]\n')
    result = project.run(f"--llmbench-webhook={receiver.url}")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "llmbench verdict: WARN",
            f"llmbench: alert NOT posted (HTTP 500 from {receiver.shown}); the verdict is unchanged",
        ]
    )
    (record,) = project.records()
    assert record["status"] == "warn"


def test_run_an_unreachable_webhook_keeps_the_failing_exit_status(
    project: Project, refused_url: str, ci_env: pytest.MonkeyPatch
) -> None:
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.run(f"--llmbench-webhook={refused_url}")
    assert result.ret == 1
    port = refused_url.split(":")[2].split("/")[0]
    result.stdout.fnmatch_lines(
        [
            f"llmbench: alert NOT posted (connection refused from http://127.0.0.1:{port}/…abcd); "
            "the verdict is unchanged"
        ]
    )


def test_run_passing_or_outside_notify_on_posts_nothing(
    project: Project, receiver: Receiver, ci_env: pytest.MonkeyPatch
) -> None:
    assert project.run(f"--llmbench-webhook={receiver.url}").ret == 0
    project.config(config_yaml(coverage=(0.99, 0.95)) + 'notify:\n  "on": [warn]\n')
    assert project.run(f"--llmbench-webhook={receiver.url}").ret == 1
    assert receiver.bodies == []


def test_run_with_a_regression_alerts_by_default(
    project: Project, receiver: Receiver, ci_env: pytest.MonkeyPatch
) -> None:
    project.config(
        config_yaml() + "    regression: {margin: 0.02, severity: warn, min_samples: 3}\n"
    )
    baseline = project.root / "baseline.json"
    assert project.run(f"--llmbench-json={baseline}").ret == 0
    project.dataset(make_samples([(0.9, 0.8), (0.85, 0.85), (0.95, 0.75), (0.9, 0.8)]))
    result = project.run(f"--llmbench-baseline={baseline}", f"--llmbench-webhook={receiver.url}")
    assert result.ret == 0
    (body,) = receiver.bodies
    assert body["json"]["text"] == (
        "llmbench: WARN — digest\n"
        "• accuracy of digest regressed (warn): -0.100 vs baseline over 4 samples, "
        "95% CI -0.100 – -0.100, margin 0.02\n"
        f"run: {RUN_URL}"
    )


def test_run_record_never_holds_the_webhook_url(
    project: Project, receiver: Receiver, ci_env: pytest.MonkeyPatch
) -> None:
    # In a subprocess, so that sys.argv (stored in the record's run block) is the real one.
    # Needs the controller to store redaction.redact_argv(sys.argv[1:]).
    project.config(config_yaml(coverage=(0.99, 0.95)))
    result = project.pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", f"--llmbench-webhook={receiver.url}"
    )
    assert result.ret == 1
    (record,) = project.records()
    assert receiver.url not in json.dumps(record, ensure_ascii=False)
    assert f"--llmbench-webhook={receiver.shown}" in record["run"]["argv"]
