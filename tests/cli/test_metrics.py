"""`llmbench metrics`: a stored run record exported as a node_exporter textfile, its exit
status and errors, and the old `python -m pytest_llmbench.prom` that still runs it. (Pushes
to a real Pushgateway: tests/reporting/test_prometheus.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.loopback import closed_port
from support.records import record_fixture

pytest.importorskip("prometheus_client", reason="prometheus-client is not installed")


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(record_fixture()), encoding="utf-8")
    return path


def series(path: Path) -> int:
    text = path.read_text(encoding="utf-8")
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def test_metrics_writes_the_textfile_and_says_so(
    llmbench: Any, stored: Path, tmp_path: Path
) -> None:
    out = tmp_path / "node" / "llmbench.prom"
    code, stdout, stderr = llmbench("metrics", str(stored), "--prom-file", str(out))
    assert (code, stdout, stderr) == (0, f"wrote {series(out)} series to {out}\n", "")
    assert 'benchmark_cost_usd{scenario="digest"} 0.006' in out.read_text(encoding="utf-8")


def test_metrics_exits_1_when_the_push_fails_and_still_writes_the_file(
    llmbench: Any, stored: Path, tmp_path: Path
) -> None:
    port = closed_port()
    out = tmp_path / "m.prom"
    code, stdout, stderr = llmbench(
        "metrics", str(stored), "--pushgateway", f"http://127.0.0.1:{port}", "--prom-file", str(out)
    )
    assert (code, stdout) == (1, f"wrote {series(out)} series to {out}\n")
    assert stderr.startswith(f"metrics push to http://127.0.0.1:{port} failed: ")
    assert stderr.count("\n") == 1


def test_metrics_without_a_destination_is_a_usage_error(llmbench: Any, stored: Path) -> None:
    code, stdout, stderr = llmbench("metrics", str(stored))
    assert (code, stdout) == (2, "")
    assert stderr.startswith("usage: llmbench metrics ")
    assert stderr.endswith(
        "llmbench metrics: error: give --pushgateway URL and/or --prom-file PATH\n"
    )


def test_metrics_of_a_missing_record_is_one_line_and_exit_2(llmbench: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    out = tmp_path / "m.prom"
    assert llmbench("metrics", str(missing), "--prom-file", str(out)) == (
        2,
        "",
        f"llmbench: {missing}: cannot read the run record (No such file or directory)\n",
    )
    assert not out.exists()


def test_the_old_module_command_still_exports_and_says_where_it_moved(
    stored: Path, tmp_path: Path
) -> None:
    out = tmp_path / "m.prom"
    done = subprocess.run(
        [sys.executable, "-m", "pytest_llmbench.prom", str(stored), "--prom-file", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, f"wrote {series(out)} series to {out}\n")
    assert done.stderr == (
        "llmbench: note: python -m pytest_llmbench.prom moved to `llmbench metrics`; "
        "run that instead\n"
    )


def test_a_bad_recorded_grouping_key_is_one_line_and_exit_2(llmbench: Any, tmp_path: Path) -> None:
    record = record_fixture()
    record["run"]["pushgateway_group"] = {"job": "\x1b[2Jx"}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    assert llmbench("metrics", str(path), "--pushgateway", "http://127.0.0.1:9") == (
        2,
        "",
        f"llmbench: {path}: run.pushgateway_group: the label job is the plugin's own: pick "
        "another name (e.g. suite) (give --group LABEL=VALUE)\n",
    )


def test_a_bad_group_option_is_a_usage_error(llmbench: Any, stored: Path) -> None:
    code, stdout, stderr = llmbench("metrics", str(stored), "--prom-file", "m.prom", "--group", "x")
    assert (code, stdout) == (2, "")
    assert stderr.endswith(
        "llmbench metrics: error: --group: 'x' is not LABEL=VALUE (e.g. suite=nightly)\n"
    )
