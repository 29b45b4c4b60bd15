"""The run of one pytest process, started once a llmbench config is found: the judge
service, the item side and (except on an xdist worker) the controller side, with the
hooks that connect them to pytest."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_llmbench.benchmark.config import LLMBenchConfig, load_config, with_repeats
from pytest_llmbench.errors import JudgeSetupError, UserError, os_reason
from pytest_llmbench.judging.budget import Budget
from pytest_llmbench.judging.judges import HelperAt
from pytest_llmbench.judging.service import JudgeService
from pytest_llmbench.options import parse_shard
from pytest_llmbench.reporting.terminal import section
from pytest_llmbench.results.baselines import load_baselines
from pytest_llmbench.run import selection as selection_mod
from pytest_llmbench.run.ahead_of_items import (
    AheadOfItems,
    from_worker_selection,
    serial_reason,
)
from pytest_llmbench.run.controller import ControllerSide, new_run_id
from pytest_llmbench.run.interrupts import SigtermAsInterrupt
from pytest_llmbench.run.item_side import ItemSide
from pytest_llmbench.run.upcoming_items import Upcoming

PLUGIN_NAME = "llmbench-run"


def start(config: pytest.Config, path: Path, judge: str) -> None:
    """Load the config at `path` and register this process's run with pytest."""
    rootdir = Path(config.rootpath)
    try:
        cfg = with_repeats(
            load_config(path, rootdir, os.environ), config.getoption("llmbench_repeats")
        )
    except UserError as error:
        raise pytest.UsageError(str(error)) from None
    shard = parse_shard(config.getoption("llmbench_shard"))
    baseline = None
    if not hasattr(config, "workerinput") and config.getoption("llmbench_baseline"):
        try:
            baseline = load_baselines(Path(config.getoption("llmbench_baseline")))
        except UserError as error:
            raise pytest.UsageError(f"--llmbench-baseline: {error}") from None
    run_id = (
        config.workerinput["llmbench_run_id"]
        if hasattr(config, "workerinput")
        else new_run_id(time.time())
    )
    budget, ledger_note = _budget(config, cfg, rootdir, run_id)
    service = JudgeService(
        cfg,
        judge,
        os.environ,
        cache_dir=_cache_dir(config, rootdir),
        budget=budget,
        # The helper reads its stdin with asyncio's Unix pipe support: Windows stays in process.
        judge_process=bool(config.getini("llmbench_judge_process")) and sys.platform != "win32",
        refresh_outputs=bool(config.getoption("llmbench_refresh_outputs")),
        # One helper per run: the xdist controller starts it for its workers.
        listen=_starts_workers(config),
        helper_at=_helper_at(config),
    )
    if judge == "live":
        # Asked for live explicitly: a judge that cannot be live is a usage error now, the
        # same in every xdist mode, rather than a collection error later.
        for scenario in cfg.scenarios.values():
            try:
                service.mode(scenario.judge)
            except UserError as error:
                raise pytest.UsageError(str(error)) from None
    if ledger_note:
        service.note(ledger_note)
    run = LLMBenchRun(config, cfg, service, run_id, shard)
    if run.controller is not None:
        run.controller.baseline = baseline
    config.pluginmanager.register(run, PLUGIN_NAME)
    if run.controller is not None:
        _register_controller_extras(config, cfg, run.controller)
    run.interrupts.install()


def _starts_workers(config: pytest.Config) -> bool:
    """This process is an xdist controller that will start workers (`-n N`, N > 0)."""
    if hasattr(config, "workerinput"):
        return False
    option = config.option
    return bool(getattr(option, "numprocesses", None)) and getattr(option, "dist", "no") != "no"


def _helper_at(config: pytest.Config) -> HelperAt | None:
    """On a worker: where the controller's helper serves (None: the worker starts its own)."""
    given = getattr(config, "workerinput", {}).get("llmbench_judge_helper")
    if (
        isinstance(given, list)
        and len(given) == 2
        and isinstance(given[0], str)
        and isinstance(given[1], int)
    ):
        return HelperAt(given[0], given[1])
    return None


def _register_controller_extras(
    config: pytest.Config, cfg: LLMBenchConfig, controller: ControllerSide | None = None
) -> None:
    """Alerts and metrics exporters: controller only, imported only when asked for
    (prometheus-client itself only when an option asks)."""
    from pytest_llmbench.reporting.alerts import webhook_problem
    from pytest_llmbench.run.exporters import AlertPlugin, PromPlugin, pushgateway_group

    webhook = config.getoption("llmbench_webhook")
    if webhook and (problem := webhook_problem(webhook)):
        raise pytest.UsageError(f"--llmbench-webhook: {problem}")
    config.pluginmanager.register(AlertPlugin(cfg.notify), "llmbench-alerts")
    grouping = pushgateway_group(config, cfg)
    if controller is not None:  # in the record, for `llmbench metrics` to push it there again
        controller.pushgateway_group = grouping
    prom = PromPlugin.from_config(config, grouping)
    if prom is not None:
        config.pluginmanager.register(prom, PromPlugin.name)


def _cache_dir(config: pytest.Config, rootdir: Path) -> Path | None:
    if config.getoption("llmbench_no_cache"):
        return None
    chosen = config.getoption("llmbench_cache") or config.getini("llmbench_cache_dir")
    return rootdir / (chosen or ".llmbench/cache")


def _budget(
    config: pytest.Config, cfg: LLMBenchConfig, rootdir: Path, run_id: str
) -> tuple[Budget | None, str | None]:
    """The run's budget, and a note when its ledger could not go beside the run record."""
    limit = config.getoption("llmbench_budget")
    if limit is None:
        limit = cfg.budget_usd
    if limit is None:
        return None, None
    if limit <= 0:
        raise pytest.UsageError(f"--llmbench-budget={limit:g}: give a positive amount in USD")
    unpriced = sorted(
        s.judge
        for s in cfg.scenarios.values()
        if cfg.judges[s.judge].kind == "openai" and cfg.judges[s.judge].price is None
    )
    if unpriced:
        raise pytest.UsageError(
            f"a budget of ${limit:g} needs the judge's price to count spend: add "
            f"price: {{input_per_mtok: ..., output_per_mtok: ...}} to judge {unpriced[0]!r} "
            f"in {cfg.path.name}"
        )
    import sqlite3

    ledger = rootdir / ".llmbench" / "runs" / f"{run_id}.spend.sqlite3"
    try:
        return Budget(limit, ledger), None
    except (OSError, sqlite3.Error) as error:
        problem = os_reason(error, ledger, rootdir)
    # A read-only or full .llmbench/: the ledger goes to the temporary directory, where
    # every xdist worker (each opens it by the same run id) still shares it.
    fallback = Path(tempfile.gettempdir()) / f"llmbench-{run_id}.spend.sqlite3"
    try:
        budget = Budget(limit, fallback)
    except (OSError, sqlite3.Error) as error:
        raise pytest.UsageError(
            f"a budget of ${limit:g} needs a ledger to count spend: cannot open "
            f"{ledger} ({problem}) nor {fallback} ({os_reason(error, fallback)})"
        ) from None
    shown = ledger.relative_to(rootdir)
    return budget, f"budget ledger {shown} not writable ({problem}): kept in {fallback}"


class LLMBenchRun:
    """The per-process run: an item side wherever items run, a controller side where
    results are gathered (never on an xdist worker)."""

    def __init__(
        self,
        config: pytest.Config,
        cfg: LLMBenchConfig,
        service: JudgeService,
        run_id: str,
        shard: tuple[int, int] | None = None,
    ) -> None:
        self.config = config
        self.service = service
        self.upcoming: Upcoming | None = None
        self.dry_upcoming: Upcoming | None = None
        self.items: ItemSide | None = ItemSide(cfg, self.service, shard)
        self.controller: ControllerSide | None = (
            None
            if hasattr(config, "workerinput")
            else ControllerSide(
                cfg,
                self.service,
                config,
                run_id,
                shard,
                dataset_of=self.items.dataset,
                manifest_of=self.items.manifest,
            )
        )
        self.run_id = run_id
        self.helper_at: HelperAt | None = None  # the run's helper, for the workers
        self.ahead: AheadOfItems | None = None  # judging ahead over the selection
        self._begun_early: list[str] = []  # under xdist, items begun before it was built
        self.current_item: pytest.Item | None = None  # the item whose protocol is running
        self.interrupts = SigtermAsInterrupt()
        # The workers' notes (disk and cache) and cache entries dropped, on the controller.
        self.worker_notes: list[str] = []
        self.worker_dropped = 0

    def parametrize(self, metafunc: pytest.Metafunc, scenario: str) -> None:
        assert self.items is not None
        try:
            self.items.parametrize(metafunc, scenario)
            chosen = self.items.scenario(scenario)
            self.service.mode(chosen.judge)
            self.service.build_judge(chosen)
            self.service.output_source(chosen)
        except UserError as error:
            raise pytest.Collector.CollectError(str(error)) from None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # The controller decides the run id once and hands it to every worker.
        node.workerinput["llmbench_run_id"] = self.run_id
        if self.helper_at is not None:  # and where the run's one judge helper serves
            node.workerinput["llmbench_judge_helper"] = [self.helper_at.path, self.helper_at.pid]

    def pytest_report_header(self, config: pytest.Config) -> list[str]:
        cfg = self.service_cfg
        path = Path(cfg.path)
        shown = path.relative_to(config.rootpath) if path.is_relative_to(config.rootpath) else path
        lines = [f"llmbench: {shown}"]
        for name, scenario in sorted(cfg.scenarios.items()):
            judge = cfg.judges[scenario.judge]
            try:
                resolved = self.service.mode(scenario.judge)
            except JudgeSetupError as error:
                lines.append(f"  {name}: judge {judge.name}: cannot run: {error}")
                continue
            parts = [f"judge {judge.name}: {resolved.mode} ({resolved.reason})"]
            if resolved.key_note:
                parts.append(resolved.key_note)
            if resolved.mode == "live":
                if judge.model:
                    parts.append(f"model {judge.model}")
                shared = self.service.shares_calls and not judge.custom
                scope = "for the run" if shared else "per process"
                parts.append(f"concurrency {judge.concurrency} {scope}")
                serial = serial_reason(self.service, scenario)
                if serial is not None and scenario.judged_metrics:
                    parts.append(f"one call at a time per process ({serial})")
            parts.append(f"prompt {scenario.prompt or 'none'}")
            lines.append(f"  {name}: " + ", ".join(parts))
        lines.append("  " + self.service.describe_cache_and_budget())
        return lines

    @property
    def service_cfg(self) -> Any:
        assert self.items is not None
        return self.items.cfg

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if self.items is None:
            return report
        if call.when == "call" or (call.when == "setup" and report.failed):
            data = self.items.payload(item, report)
            if data is not None:
                self.config.hook.pytest_llmbench_sample_payload(payload=data, item=item)
                report.llmbench = data  # type: ignore[attr-defined]
        return report

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        self.current_item = item
        if self.items is None:
            return
        if self.items.scores_dry_runs_ahead:
            self.items.score_dry_ahead(item, lambda: self._dry_upcoming(item))
        if not self.items.prefetchable:
            return
        if self.upcoming is None:
            self.upcoming = Upcoming(item.session)
        self.items.prefetch_ahead(self.upcoming.starting_at(item))

    def _dry_upcoming(self, item: pytest.Item) -> Iterator[pytest.Item]:
        """The items to score ahead in a dry run: this one, then those not handed out yet
        (an Upcoming of its own: judging ahead examines every item its Upcoming gives)."""
        if self.dry_upcoming is None:
            self.dry_upcoming = Upcoming(item.session)
        return self.dry_upcoming.starting_at(item)

    @pytest.hookimpl(tryfirst=True)  # before xdist's, which starts the workers
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.config.getoption("collectonly"):
            return
        if _starts_workers(self.config):
            # The workers connect to the run's helper: it must serve before they start.
            self.helper_at = self.service.start_shared_helper()
        else:
            self.service.warm_up()  # the judge's helper process boots while pytest collects

    @pytest.hookimpl(trylast=True)  # after every plugin that deselects
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.items is None or self.config.getoption("collectonly"):
            return
        selection = self.items.selection(session.items)
        workerinput = getattr(self.config, "workerinput", None)
        if workerinput is not None:
            # The controller collects nothing under xdist: tell it what was selected, in a
            # file, so a crash of this worker cannot lose it.
            path = ControllerSide.runs_dir_of(self.config) / (
                f"{self.run_id}.selection-{workerinput.get('workerid', os.getpid())}.json"
            )
            # A read-only or full .llmbench/: the controller, whose journal fails there too,
            # says so, and knows the selection from the payloads that arrive.
            with contextlib.suppress(OSError):
                selection_mod.write(path, selection)
        elif self.controller is not None and not self.config.pluginmanager.has_plugin("dsession"):
            self.controller.selection = selection
            scenarios = self.service_cfg.scenarios.values()
            if not any(AheadOfItems.eligible(self.service, s) for s in scenarios):
                return  # nothing to judge ahead (a dry run): no second walk of the items
            chosen = []
            for item in session.items:
                state = self.items.state(item)
                if state is not None:
                    chosen.append((state.scenario, state.sample, item.nodeid))
            self._start_ahead(AheadOfItems.build(self.service, chosen, local=True))

    def _start_ahead(self, ahead: AheadOfItems | None) -> None:
        if ahead is not None and self.ahead is None:
            self.ahead = ahead
            ahead.start()
            for nodeid in self._begun_early:  # items that began while it was being built
                ahead.begin(nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The xdist controller: the first worker's collection is the selection (every
        worker collects the same); judge its stored outputs ahead."""
        if self.controller is None or self.ahead is not None or self._ahead_asked:
            return
        self._ahead_asked = True
        if not any(
            AheadOfItems.eligible(self.service, s) for s in self.service_cfg.scenarios.values()
        ):
            return
        workerid = node.workerinput.get("workerid", "")
        path = ControllerSide.runs_dir_of(self.config) / (
            f"{self.run_id}.selection-{workerid}.json"
        )
        assert self.items is not None
        loop = self.service.loop

        async def build() -> None:
            assert self.items is not None
            made = await loop.offload(
                from_worker_selection,
                self.service,
                path,
                ids,
                self.service_cfg.scenarios,
                self.items.dataset,
            )
            self._built = made  # handed over in pytest's main thread (logstart)

        loop.submit(build())

    _ahead_asked = False
    _built: AheadOfItems | None = None

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        if self.ahead is None and self._built is not None:
            self._start_ahead(self._built)
        if self.ahead is not None:
            self.ahead.begin(nodeid)
        elif self._ahead_asked:
            self._begun_early.append(nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.controller is not None:
            self.controller.report(report)
        data = getattr(report, "llmbench", None)
        if self.ahead is not None and isinstance(data, dict):
            self.ahead.reported(data)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        workeroutput = getattr(node, "workeroutput", {})
        if self.controller is not None:  # a worker's count of what the judge answered
            self.controller.add_tally(workeroutput.get("llmbench_usage"))
        # A worker's notes (a cache not used, read-only or full, a file moved aside) and
        # its cache entries dropped reach the controller's terminal, once each.
        report = workeroutput.get("llmbench_notes")
        if isinstance(report, dict):
            notes = report.get("notes")
            if isinstance(notes, list):
                self.worker_notes += [n for n in notes if isinstance(n, str)]
            dropped = report.get("dropped")
            if isinstance(dropped, int) and not isinstance(dropped, bool):
                self.worker_dropped += dropped

    def pytest_unconfigure(self) -> None:
        self.interrupts.uninstall()

    # First, before xdist tears its workers down: that waits (about ten seconds for a worker
    # still in a test after the controller alone was signalled), and a CI runner's grace
    # between SIGTERM and SIGKILL can be shorter. All payloads have arrived by now.
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        # The run is ending anyway: a SIGTERM from here on would cost the record.
        self.interrupts.finishing()
        if self.ahead is not None:
            self.ahead.finish()
        self.service.close()
        if self.ahead is not None and self.controller is not None:
            self.controller.ahead_unused = self.ahead.unused()
            self.controller.ahead_stopped = dict(self.ahead.stopped)
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["llmbench_usage"] = self.service.tally.as_dict()
            workeroutput["llmbench_notes"] = self.service.worker_report()
        if self.controller is None:
            return
        if self.config.getoption("collectonly"):
            self.controller.discard()
            return
        self.controller.finish(session, exitstatus)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.controller is None:
            return
        record = self.controller.record
        notes = list(
            dict.fromkeys(
                [
                    *self.service.run_notes(more=self.worker_notes, dropped=self.worker_dropped),
                    *self.controller.notes,
                ]
            )
        )
        if record is None and not notes:
            return
        terminalreporter.write_sep("=", "llmbench")
        for text, colour in section(record) if record is not None else []:
            terminalreporter.write_line(text, **({colour: True} if colour else {}))
        for note in notes:  # after the verdict: what was not written, and where
            terminalreporter.write_line(f"llmbench: {note}", yellow=True)
