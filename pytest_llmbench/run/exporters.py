"""The controller's plugins that send a finished run out: the webhook alert and the
Prometheus metrics. Registered by ``run/start.py`` on the controller (or the single
process); what they send is built in ``reporting/alerts.py`` and ``reporting/prometheus.py``.
Either one failing is reported on the terminal and never changes the verdict."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmbench.benchmark.config import LLMBenchConfig, NotifyConfig
from pytest_llmbench.benchmark.grouping_key import default_grouping, parse_grouping
from pytest_llmbench.redaction import webhook_hint
from pytest_llmbench.reporting.alerts import (
    TIMEOUT_S,
    AlertResult,
    build_message,
    post_alert,
    run_url,
    should_notify,
)
from pytest_llmbench.reporting.prometheus import (
    DEFAULT_JOB,
    INSTALL_HINT,
    ExportResult,
    MetricsUnavailable,
    check_gateway_url,
    export,
    http_latency,
    load_client,
)

if TYPE_CHECKING:
    import httpx


class AlertPlugin:
    """Registered on the controller (or the single process) when a llmbench config exists:
    after the verdict, post an alert when ``notify: on:`` says so and a webhook is set
    (``--llmbench-webhook`` or the variable named by ``notify: webhook_env``)."""

    def __init__(
        self,
        notify: NotifyConfig,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = TIMEOUT_S,
    ) -> None:
        self.notify = notify
        self.environ = environ
        self.transport = transport
        self.timeout = timeout
        self.result: AlertResult | None = None  # what happened, for tests and other plugins
        self.line: tuple[str, str] | None = None  # (text, colour) for the terminal summary

    def webhook(self, config: pytest.Config) -> str | None:
        option = config.getoption("llmbench_webhook", None)
        environ = os.environ if self.environ is None else self.environ
        url = option or environ.get(self.notify.webhook_env) or ""
        return url.strip() or None

    def pytest_llmbench_verdict(self, record: dict[str, Any], config: pytest.Config) -> None:
        url = self.webhook(config)
        if url is None or not should_notify(record, self.notify.on):
            return
        environ = os.environ if self.environ is None else self.environ
        payload = build_message(record, run_url(environ))
        self.result = post_alert(url, payload, timeout=self.timeout, transport=self.transport)
        shown = webhook_hint(url)
        if self.result.ok:
            self.line = (f"llmbench: alert posted to {shown}", "green")
        else:
            self.line = (
                f"llmbench: alert NOT posted ({self.result.detail} from {shown}); "
                "the verdict is unchanged",
                "yellow",
            )
        if config.pluginmanager.get_plugin("terminalreporter") is None:
            print(self.line[0], file=sys.stderr)

    @pytest.hookimpl(trylast=True)  # after the llmbench section and its verdict
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.line is not None:
            text, colour = self.line
            terminalreporter.write_line(text, **{colour: True})


def pushgateway_group(config: pytest.Config, cfg: LLMBenchConfig) -> dict[str, str]:
    """The grouping key of the run's push: ``--llmbench-pushgateway-group``, else the ini
    key ``llmbench_pushgateway_group``, else the YAML's ``pushgateway: group:``, else
    ``suite=<the rootdir's name>``. Raises pytest.UsageError for a bad option or ini value
    (the YAML's is checked when the config is read)."""
    for where, text in (
        ("--llmbench-pushgateway-group", config.getoption("llmbench_pushgateway_group", None)),
        ("ini llmbench_pushgateway_group", config.getini("llmbench_pushgateway_group")),
    ):
        if not text or not str(text).strip():
            continue
        try:
            return parse_grouping(str(text))
        except ValueError as error:
            raise pytest.UsageError(
                f"{where}: {error}; write LABEL=VALUE[,...], e.g. suite=nightly"
            ) from None
    if cfg.pushgateway_group is not None:
        return dict(cfg.pushgateway_group)
    return default_grouping(config.rootpath)


class PromPlugin:
    """Registered on the controller when ``--llmbench-pushgateway`` or
    ``--llmbench-prom-file`` is given: collects the judge latencies as payloads arrive,
    exports once the verdict is final, and prints one line per export. An export that
    fails is reported and never changes the verdict or the exit status."""

    name = "llmbench-prom"

    def __init__(
        self,
        pushgateway: str | None,
        prom_file: Path | None,
        job: str = DEFAULT_JOB,
        grouping: Mapping[str, str] | None = None,
    ) -> None:
        self.pushgateway = pushgateway
        self.prom_file = prom_file
        self.job = job
        self.grouping = dict(grouping or {})
        self.latencies: dict[str, list[float]] = {}
        self.results: list[ExportResult] = []

    @classmethod
    def from_config(
        cls, config: pytest.Config, grouping: Mapping[str, str] | None = None
    ) -> PromPlugin | None:
        """The plugin the options ask for (pushing to ``grouping``, see
        pushgateway_group), or None when neither is given. Raises pytest.UsageError for a
        bad URL or without prometheus-client."""
        url = config.getoption("llmbench_pushgateway", None)
        path = config.getoption("llmbench_prom_file", None)
        if not url and not path:
            return None
        option = "--llmbench-pushgateway" if url else "--llmbench-prom-file"
        try:
            load_client()
        except MetricsUnavailable:
            raise pytest.UsageError(
                f"{option} needs prometheus-client, which is not installed: {INSTALL_HINT}"
            ) from None
        if url:
            problem = check_gateway_url(url)
            if problem is not None:
                raise pytest.UsageError(f"--llmbench-pushgateway={url}: {problem}")
        return cls(url or None, Path(path) if path else None, grouping=grouping)

    def pytest_llmbench_sample_result(self, payload: dict[str, Any], config: pytest.Config) -> None:
        seconds = http_latency(payload.get("judge") or {})
        if seconds is not None:  # None: a cache hit or the dry-run judge, no HTTP call to time
            self.latencies.setdefault(str(payload.get("scenario")), []).append(seconds)

    def pytest_llmbench_verdict(self, record: dict[str, Any], config: pytest.Config) -> None:
        self.results = export(
            record,
            self.latencies,
            pushgateway=self.pushgateway,
            prom_file=self.prom_file,
            job=self.job,
            grouping=self.grouping,
        )

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for result in self.results:
            terminalreporter.write_line(
                f"llmbench: {result.message}", **({} if result.ok else {"yellow": True})
            )
