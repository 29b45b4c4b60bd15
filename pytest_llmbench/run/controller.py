"""The controller's part (xdist controller or single process): collect payloads, decide the
verdict once at session finish, write the record and report, warn or fail."""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from pytest_llmbench.benchmark.config import (
    LIBRARY_SOURCES,
    SIMILARITY_SOURCE,
    LLMBenchConfig,
    MetricConfig,
    ScenarioConfig,
)
from pytest_llmbench.benchmark.dataset import Dataset, Sample, load_dataset
from pytest_llmbench.datasets import frozen
from pytest_llmbench.errors import os_reason
from pytest_llmbench.judging import tally
from pytest_llmbench.judging.service import JudgeService
from pytest_llmbench.redaction import public_url, redact_argv
from pytest_llmbench.reporting import markdown as report_mod
from pytest_llmbench.reporting.text_format import seconds
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import rederive as rerecord
from pytest_llmbench.results import variants as variants_mod
from pytest_llmbench.results.schema import (
    CallTally,
    DatasetFingerprint,
    Fingerprints,
    ManifestFingerprint,
    MetricRule,
    RunRecord,
    SampleRecord,
    ScenarioRecord,
)
from pytest_llmbench.run import payload as payload_mod
from pytest_llmbench.run import selection as selection_mod
from pytest_llmbench.run.ahead_of_items import serial_reason
from pytest_llmbench.run.item_side import in_shard, smoke_ids
from pytest_llmbench.run.payload_store import Collector
from pytest_llmbench.run.selection import Coverage, Selection, item_key, split_key
from pytest_llmbench.warning import LLMBenchWarning

# The journal is handed to the OS every this many samples, or at the first sample this many
# seconds after the last flush (see ControllerSide._journal_line): what a killed run loses.
JOURNAL_FLUSH_LINES = 256
JOURNAL_FLUSH_S = 1.0
# A journal line is json.dumps(payload, ensure_ascii=False), with one encoder for them all.
_JOURNAL_JSON = json.JSONEncoder(ensure_ascii=False)
# inputs_sha256's rows: json.dumps(row, ensure_ascii=False, sort_keys=True, separators=...).
_INPUTS_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def new_run_id(now: float) -> str:
    stamp = _dt.datetime.fromtimestamp(now, _dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(3)}"


class ControllerSide:
    def __init__(
        self,
        cfg: LLMBenchConfig,
        service: JudgeService,
        config: pytest.Config,
        run_id: str,
        shard: tuple[int, int] | None = None,
        dataset_of: Callable[[ScenarioConfig], Dataset] | None = None,
        manifest_of: Callable[[ScenarioConfig], ManifestFingerprint | None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.shard = shard
        # The item side's loaded datasets when this process ran the items: not read twice.
        self.dataset_of = dataset_of or (
            lambda s: load_dataset(s.dataset, s.dataset_display, s.fields)
        )
        # And the frozen manifests they were verified against (ItemSide.manifest).
        self.manifest_of = manifest_of or (
            lambda s: frozen.checked(self.dataset_of(s), cfg.rootdir)
        )
        self.baseline: RunRecord | None = None
        self.service = service
        self.config = config
        self.run_id = run_id
        self.started = time.time()
        self.collector = Collector()
        self.runs_dir = self.runs_dir_of(config)
        self.journal_path = self.runs_dir / f"{run_id}.partial.jsonl"
        self._journal: IO[str] | None = None
        self._journal_failed = False
        self._unwritten: list[Any] = []  # journal lines not yet written (payloads)
        self._flushed_at = 0.0  # time.monotonic() of the last write
        self.record: RunRecord | None = None
        # The Pushgateway grouping key this run pushes (or would push) to: in the run block.
        self.pushgateway_group: dict[str, str] = {}
        # Files that could not be written (a read-only or full disk): the run goes on, and
        # each is one line at the end of the terminal section.
        self.notes: list[str] = []
        # What was selected (set after collection without xdist; read from the workers'
        # files at finish under xdist), and what happened to items that sent no payload.
        self.selection: Selection | None = None
        self.skipped: set[str] = set()
        self.failures: dict[str, str] = {}  # node id -> why it failed without a payload
        self.tallies: dict[str, CallTally] = {}  # what the judge answered, all processes
        # Judging ahead over the selection (run/ahead_of_items): per scenario, the calls
        # made ahead that no item took, and the sample whose body judged other text.
        self.ahead_unused: dict[str, int] = {}
        self.ahead_stopped: dict[str, str] = {}

    @staticmethod
    def runs_dir_of(config: pytest.Config) -> Path:
        return Path(config.rootpath) / ".llmbench" / "runs"

    # -- while the run goes ------------------------------------------------------------

    def report(self, report: pytest.TestReport) -> None:
        """Every test report: a sample's payload, or the mark of an item that sent none (a
        skip, or a worker that crashed in it: xdist reports that with no payload)."""
        data = getattr(report, "llmbench", None)
        if data is not None:
            self.add(data)
        elif report.skipped:
            self.skipped.add(report.nodeid)
        elif report.failed and report.nodeid not in self.failures:
            text = str(report.longrepr or "").strip()
            self.failures[report.nodeid] = (text.splitlines() or ["failed"])[-1][:300]

    def add(self, data: Any) -> None:
        if not payload_mod.is_payload(data):
            return
        self.collector.add(data)
        self._journal_line(data)
        self.config.hook.pytest_llmbench_sample_result(payload=data, config=self.config)

    def _journal_line(self, data: Any) -> None:
        """A journal line per sample, written in batches: kept, and encoded and handed to
        the OS (no fsync) at the first line (so that a journal that cannot be written is
        found at once), then every JOURNAL_FLUSH_LINES lines, at the first sample
        JOURNAL_FLUSH_S seconds after the last write, and when the journal closes (not
        when it is removed: the record was written). A killed run leaves every sample but
        those of its last unwritten batch: at most JOURNAL_FLUSH_LINES - 1 samples, finished
        within the last JOURNAL_FLUSH_S seconds or so. A journal that cannot be written is
        given up (noted once); the run and its record do not need it."""
        if self._journal_failed:
            return
        self._unwritten.append(data)
        if (
            self._journal is None
            or len(self._unwritten) >= JOURNAL_FLUSH_LINES
            or time.monotonic() - self._flushed_at >= JOURNAL_FLUSH_S
        ):
            self._write_journal()

    def _write_journal(self) -> None:
        """The unwritten lines, at once (opening the journal at the first)."""
        lines, self._unwritten = self._unwritten, []
        try:
            if self._journal is None:
                self.runs_dir.mkdir(parents=True, exist_ok=True)
                self._journal = self.journal_path.open("a", encoding="utf-8")
            encode = _JOURNAL_JSON.encode
            self._journal.write("".join([f"{encode(line)}\n" for line in lines]))
            self._journal.flush()
            self._flushed_at = time.monotonic()
        except OSError as error:
            self._journal_failed = True
            reason = os_reason(error, self.journal_path, self.root)
            self.notes.append(
                f"journal {self._shown(self.journal_path)} not kept: {reason} "
                "(a killed run would leave no samples)"
            )
            with contextlib.suppress(OSError):
                self._close_journal(remove=False)

    # -- at session finish -------------------------------------------------------------

    def fingerprints(self, scenario: ScenarioConfig) -> Fingerprints:
        dataset = self.dataset_of(scenario)
        judge = self.cfg.judges[scenario.judge]
        resolved = self.service.mode(scenario.judge)
        prompt = self.service.prompt(scenario)
        fingerprint: DatasetFingerprint = {
            "path": scenario.dataset_display,
            "sha256": dataset.sha256,
            "inputs_sha256": inputs_sha256(dataset.samples),
            "samples": len(dataset.samples),
        }
        manifest = self.manifest_of(scenario)
        if manifest is not None:
            fingerprint["manifest"] = manifest
        return {
            "dataset": fingerprint,
            "judge": {
                "name": judge.name,
                "kind": judge.kind,
                "mode": resolved.mode,
                "mode_reason": resolved.reason,
                "model": judge.model if resolved.mode == "live" else "",
                "base_url": public_url(judge.base_url) if resolved.mode == "live" else "",
            },
            "prompt": {
                "ref": prompt.ref if prompt else "",
                "sha256": prompt.sha256 if prompt else "",
            },
            # JSON objects are written with sorted keys; this keeps the YAML order.
            "metric_order": [m.name for m in scenario.metrics],
            "metrics": {m.name: metric_rule(m) for m in scenario.metrics},
        }

    def gate(
        self,
        session: pytest.Session,
        exitstatus: int,
        covered: dict[str, tuple[Coverage, int, int]],
    ) -> tuple[bool, str, str | None]:
        """(gated, note, partial reason) for this run. ``covered``: per scenario, whether the
        selection was all its samples, its smoke set or a strict subset, and how many of
        how many: a subset reports and is not gated, however it was selected."""
        partial = None
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            partial = "interrupted"
        elif session.shouldstop or session.shouldfail:
            partial = f"stopped early: {session.shouldstop or session.shouldfail}"
        if self.shard is not None:
            index, count = self.shard
            return (
                False,
                f"Shard {index}/{count}: bands are gated once the shards are joined with "
                "`llmbench merge`.",
                partial,
            )
        parts = [
            f"{selected} of {total} samples of {name}"
            for name, (kind, selected, total) in sorted(covered.items())
            if kind == "subset"
        ]
        if parts:
            note = (
                f"Selected {', '.join(parts)} (not the whole scenario or its smoke set): "
                "scores are reported, bands are not gated."
            )
            return False, note, partial
        return True, "", partial

    def coverage(self, name: str, selected: set[str]) -> tuple[Coverage, int, int]:
        """(all | smoke | subset, selected, of how many) for a scenario's selected ids, within
        this run's shard when there is one."""
        scenario = self.cfg.scenarios[name]
        dataset = self.dataset_of(scenario)
        ids = {s.id for s in dataset.samples}
        if self.shard is not None:
            ids = {i for i in ids if in_shard(i, *self.shard)}
        smoke = smoke_ids(scenario, dataset) & ids
        if scenario.variants:  # every variant of every sample: (sample, variant) items
            names = [v.name for v in scenario.variants]
            ids = {item_key(i, v) for i in ids for v in names}
            smoke = {item_key(i, v) for i in smoke for v in names}
        return selection_mod.coverage(selected, ids, smoke), len(selected), len(ids)

    def entries(self, name: str, selected: dict[str, str]) -> list[SampleRecord]:
        """The scenario's sample entries: every payload, and for every selected item that
        sent none (its worker crashed, or the run stopped before it) an error entry, so
        every selected sample is in the record exactly once."""
        scenario = self.cfg.scenarios[name]
        variants = {v.name for v in scenario.variants}
        entries = [payload_mod.to_entry(d) for d in self.collector.samples(name)]
        have = {item_key(e["id"], e.get("variant", "")) for e in entries}
        by_id = {s.id: s for s in self.dataset_of(scenario).samples}
        for nodeid, key in sorted(selected.items()):
            sample_id, variant = split_key(key, bool(variants))
            if key in have or nodeid in self.skipped or sample_id not in by_id:
                continue
            if variants and variant not in variants:
                continue
            have.add(key)
            sample = by_id[sample_id]
            crash = self.failures.get(nodeid)
            entry: SampleRecord = {
                "id": sample.id,
                "item_id": f"{sample.item_id}-{variant}" if variant else sample.item_id,
                "position": sample.position,
                "nodeid": nodeid,
                "status": "error",
                "reason": crash or "not run: the run ended before this item",
                "reason_code": "crashed" if crash else "not_run",
                "outcome": "failed" if crash else "not run",
                "scores": {},
                "prompt_sha256": None,
                "judge": {},
            }
            if variant:
                entry["variant"] = variant
            entries.append(entry)
        return entries

    def discard(self) -> None:
        """Leave nothing behind (a collect-only run)."""
        self._close_journal(remove=True)
        self._remove_leftovers()

    def finish(self, session: pytest.Session, exitstatus: int) -> None:
        try:
            self._finish(session, exitstatus)
        finally:
            self._close_journal(remove=False)
            self._remove_leftovers()

    def add_tally(self, more: object) -> None:
        """A process's count of what the judge answered (an xdist worker's, as it ended)."""
        self.tallies = tally.combine(self.tallies, more)

    def _finish(self, session: pytest.Session, exitstatus: int) -> None:
        # This process's own calls (none on an xdist controller, which runs no items).
        tallies = tally.combine(self.tallies, self.service.tally.as_dict())
        selection = self.selection
        if selection is None:  # under xdist: what the workers wrote after collecting
            selection = selection_mod.read_all(self.runs_dir.glob(f"{self.run_id}.selection-*"))
        names = sorted(
            {*self.collector.scenarios(), *(n for n in selection if n in self.cfg.scenarios)}
        )
        if not names:
            if self.config.getoption("llmbench_report") or self.config.getoption("llmbench_json"):
                self._nothing_selected(session)  # asked for a report: say why there is none
            else:
                self._close_journal(remove=True)
            return
        fail_on_warn = bool(self.config.getoption("llmbench_fail_on_warn"))
        scenarios: dict[str, ScenarioRecord] = {}
        covered: dict[str, tuple[Coverage, int, int]] = {}
        for name in names:
            scenario = self.cfg.scenarios[name]
            judge = self.cfg.judges[scenario.judge]
            entries = self.entries(name, selection.get(name, {}))
            live = self.service.mode(scenario.judge).mode == "live"
            build = variants_mod.build_scenario if scenario.variants else record_mod.build_scenario
            scenarios[name] = build(
                scenario,
                entries,
                self.fingerprints(scenario),
                judge.price if live else None,
                fail_on_warn,
                tallies.get(name, tally.empty()) if live else None,
            )
            ran = {item_key(e["id"], e.get("variant", "")) for e in entries}
            ran |= {i for n, i in selection.get(name, {}).items() if n in self.skipped}
            covered[name] = self.coverage(name, ran)
            kind, selected, total = covered[name]
            scenarios[name]["selection"] = {"kind": kind, "selected": selected, "of": total}
            calls = scenarios[name]["usage"]["judge_calls"]
            serial = serial_reason(self.service, scenario) if live else None
            if serial is not None and scenario.judged_metrics and calls > 1:
                self.notes.append(
                    f"scenario {name!r}: judged one call at a time per process ({serial}): "
                    f"{calls} calls, each waiting for its reply; declare output: (or remove "
                    "the reason) to judge ahead"
                )
            if self.ahead_unused.get(name):
                scenarios[name]["usage"]["ahead_unused"] = self.ahead_unused[name]
            if name in self.ahead_stopped:
                self.notes.append(
                    f"scenario {name!r}: judging ahead stopped at sample "
                    f"{self.ahead_stopped[name]!r}, whose test judged other text than the "
                    f"stored output; {self.ahead_unused.get(name, 0)} calls made ahead were "
                    "not used (kept in the cache), and the rest was judged one call at a "
                    "time per process"
                )
        gated, note, partial = self.gate(session, exitstatus, covered)
        if self.baseline is not None:
            for name, block in scenarios.items():
                rules = self.cfg.scenarios[name].regression
                rerecord.add_comparison(block, self.baseline["scenarios"].get(name), rules, name)
        record = rerecord.top_level(
            scenarios,
            gated=gated,
            gate_note=note,
            partial_reason=partial,
            shard={"index": self.shard[0], "count": self.shard[1]} if self.shard else None,
            baseline=self.baseline,
        )
        record["rules"] = {"notify": {"on": list(self.cfg.notify.on)}}
        if record["gated"]:
            self._enforce(session, record)
        # As pytest will exit: the verdict may just have turned a 0 into a 1.
        record["run"] = self.run_block(int(session.exitstatus))
        self.config.hook.pytest_llmbench_run_record(record=record, config=self.config)
        self.record = record
        self.write(record)
        self.config.hook.pytest_llmbench_verdict(record=record, config=self.config)

    def _nothing_selected(self, session: pytest.Session) -> None:
        """The record and report of a run that selected no sample (pytest exits 5): not
        gated, saying so, so that a CI job still has a report to show and comment."""
        names = sorted(self.cfg.scenarios)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        note = (
            f"No sample of any scenario ({shown}) was selected: nothing was measured or gated. "
            "With -m smoke, give a scenario a smoke set (smoke: N, or a list of ids)."
        )
        record = rerecord.top_level(
            {},
            gated=False,
            gate_note=note,
            partial_reason=None,
            shard={"index": self.shard[0], "count": self.shard[1]} if self.shard else None,
            baseline=self.baseline,
        )
        record["rules"] = {"notify": {"on": list(self.cfg.notify.on)}}
        record["run"] = self.run_block(int(session.exitstatus))
        self.record = record
        self.write(record)

    def _enforce(self, session: pytest.Session, record: RunRecord) -> None:
        if record["status"] == "fail":
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        if record["status"] != "warn":
            return
        message = "llmbench: " + "; ".join(record["problems"])
        try:
            # Located at the config file: that is where the bands a user would change live.
            warnings.warn_explicit(LLMBenchWarning(message), LLMBenchWarning, str(self.cfg.path), 1)
        except LLMBenchWarning:
            # -W error (or a filter) made the warning an error: fail with a verdict, not
            # a traceback out of session finish.
            record["status"] = "fail"
            record["verdict_note"] = "the warning was turned into an error by -W / filterwarnings"
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def run_block(self, exitstatus: int) -> dict[str, Any]:
        finished = time.time()
        workers = getattr(self.config.option, "numprocesses", None)
        return {
            "id": self.run_id,
            "started_at": _iso(self.started),
            "finished_at": _iso(finished),
            "duration_s": round(finished - self.started, 3),
            "exitstatus": int(exitstatus),
            "argv": [os.path.basename(sys.argv[0]), *redact_argv(sys.argv[1:])],
            "workers": workers,
            "python": sys.version.split()[0],
            "pytest": pytest.__version__,
            "git": git_info(Path(self.config.rootpath)),
            "pushgateway_group": dict(self.pushgateway_group),
            # Each scenario's live judge calls, in seconds, sorted: they differ from run to
            # run, so they live here and not on the samples (the Prometheus histogram).
            "judge_latency_s": self.latencies(),
            # With `variants:`: each variant's mean output time, per scenario (a time too).
            **({"output_latency_s": found} if (found := self.output_latencies()) else {}),
            # With a budget: its limit, what was spent and still held, the calls it refused
            # (which calls those were can differ between xdist modes).
            **({"budget": budget} if (budget := self.service.budget_summary) else {}),
        }

    def output_latencies(self) -> dict[str, dict[str, float | None]]:
        """Per scenario with `variants:`, per variant: the output function's mean seconds
        over the items that called it (None: none did)."""
        found: dict[str, dict[str, float | None]] = {}
        for name in self.collector.scenarios():
            scenario = self.cfg.scenarios.get(name)
            if scenario is None or not scenario.variants:
                continue
            payloads = self.collector.samples(name)
            found[name] = {}
            for variant in scenario.variants:
                seconds = sorted(
                    d["output_latency_s"]
                    for d in payloads
                    if d.get("variant") == variant.name and "output_latency_s" in d
                )
                found[name][variant.name] = (
                    round(math.fsum(seconds) / len(seconds), 6) if seconds else None
                )
        return found

    def latencies(self) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        for name in self.collector.scenarios():
            seconds = [payload_mod.live_latency(d) for d in self.collector.samples(name)]
            found[name] = sorted(s for s in seconds if s is not None)
        return found

    def write(self, record: RunRecord) -> None:
        """The record and the report; a file that cannot be written is noted, and the
        journal is kept unless the record under .llmbench/runs/ was written."""
        json_path = self.config.getoption("llmbench_json")
        paths = [self.runs_dir / f"{self.run_id}.json", *([Path(json_path)] if json_path else [])]
        try:
            record_mod.write(record, *paths)
            written = True
        except OSError:
            written = self._write_each(record, paths)
        report_path = self.config.getoption("llmbench_report")
        if report_path:
            try:
                self._write_report(record, Path(report_path))
            except OSError as error:
                shown = self._shown(Path(report_path))
                self.notes.append(
                    f"report not written to {shown}: {os_reason(error, report_path, self.root)}"
                )
        self._close_journal(remove=written)

    def _write_each(self, record: RunRecord, paths: Sequence[Path]) -> bool:
        """Each path on its own, naming the ones that fail; whether the first was written."""
        failed = []
        for path in paths:
            try:
                record_mod.write(record, path)
            except OSError as error:
                failed.append(path)
                reason = os_reason(error, path, self.root)
                self.notes.append(f"run record not written to {self._shown(path)}: {reason}")
        return paths[0] not in failed

    def _write_report(self, record: RunRecord, path: Path) -> None:
        extra = self.config.hook.pytest_llmbench_report_sections(record=record, config=self.config)
        text = report_mod.render(
            record,
            footer=f"run {self.run_id} · {seconds(record['run']['duration_s'])}",
            extra_sections=[s for sections in extra for s in sections],
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def _remove_leftovers(self) -> None:
        """The budget ledger and the workers' selections: worth nothing after the run. The
        ledger may have had to go to the temporary directory instead (budget.path)."""
        budget = self.service.budget
        patterns = [
            (self.runs_dir, f"{self.run_id}.spend.sqlite3*"),
            (self.runs_dir, f"{self.run_id}.selection-*"),
            *([(budget.path.parent, f"{budget.path.name}*")] if budget else []),
        ]
        for directory, pattern in patterns:
            for leftover in directory.glob(pattern):
                with contextlib.suppress(OSError):  # a read-only place has nothing of ours
                    leftover.unlink()

    def _close_journal(self, remove: bool) -> None:
        if self._unwritten and not remove and self._journal is not None:
            self._write_journal()  # the last batch
        self._unwritten = []
        if self._journal is not None:
            journal, self._journal = self._journal, None
            try:
                journal.close()
            except OSError as error:
                if not self._journal_failed:
                    self._journal_failed = True
                    reason = os_reason(error, self.journal_path, self.root)
                    self.notes.append(
                        f"journal {self._shown(self.journal_path)}: its last samples not kept: "
                        f"{reason}"
                    )
        if remove and self.journal_path.exists():
            self.journal_path.unlink()

    @property
    def root(self) -> Path:
        return Path(self.config.rootpath)

    def _shown(self, path: Path) -> Path:
        return path.relative_to(self.root) if path.is_relative_to(self.root) else path


def inputs_sha256(samples: Sequence[Sample]) -> str:
    """What makes two runs ask the same questions: sample ids, inputs and references.
    Stored outputs and ground truth may change between runs that are still comparable."""
    rows = sorted((s.id, s.input, s.reference) for s in samples)
    # The bytes of json.dumps(rows, ...), hashed a row at a time: one string of every input
    # at once was the largest allocation of a 10,000-sample run's finish.
    digest = hashlib.sha256(b"[")
    for index, row in enumerate(rows):
        if index:
            digest.update(b",")
        digest.update(_INPUTS_JSON.encode(row).encode("utf-8"))
    digest.update(b"]")
    return digest.hexdigest()


def git_info(root: Path) -> dict[str, str | None]:
    """The commit and branch the run measured, when it runs in a git checkout (CI's
    variables first: a CI checkout is often a detached head)."""
    import subprocess

    def ask(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() or None if done.returncode == 0 else None

    commit = os.environ.get("GITHUB_SHA") or ask("rev-parse", "HEAD")
    branch = (
        os.environ.get("GITHUB_HEAD_REF")
        or os.environ.get("GITHUB_REF_NAME")
        or ask("rev-parse", "--abbrev-ref", "HEAD")
    )
    return {"commit": commit, "branch": None if branch == "HEAD" else branch}


def _iso(timestamp: float) -> str:
    moment = _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def metric_rule(metric: MetricConfig) -> MetricRule:
    """A metric's band for the fingerprints, with a library metric's signature."""
    rule: MetricRule = {
        "pass": metric.pass_,
        "warn": metric.warn,
        "better": metric.better,
        "source": metric.source,
        "aggregate": metric.aggregate,
    }
    if metric.source in LIBRARY_SOURCES or metric.stemmer:
        from pytest_llmbench.judging.library_metrics import signature

        found = signature(metric)
        if found is not None:
            rule["signature"] = found
    if metric.source == SIMILARITY_SOURCE and not metric.embedder:
        from pytest_llmbench.judging.similarity import encoder_signature

        rule["signature"] = encoder_signature()
    return rule
