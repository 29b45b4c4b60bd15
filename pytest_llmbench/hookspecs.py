"""Hooks other plugins (and conftest files) implement to extend pytest-llmbench.

Every hook says where it runs: "controller" means the xdist controller or, without xdist,
the single pytest process; "item process" means wherever the test item runs (an xdist
worker or the single process). Payloads and records are plain dicts of builtins, typed
in ``results/schema.py``. Metrics and judges of your own need no hook: `source:
module:function` and `kind: module:Class` (README "Extending").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_llmbench.results.schema import RunRecord, SamplePayload


def pytest_llmbench_sample_payload(payload: SamplePayload, item: pytest.Item) -> None:
    """Called in the item process after a sample's test ran, before the payload is attached
    to the call report. Implementations may add keys under ``payload["extra"]`` (builtins
    only: it crosses the xdist process boundary as is)."""


def pytest_llmbench_sample_result(payload: SamplePayload, config: pytest.Config) -> None:
    """Called on the controller when one sample's payload arrives, in arrival order (which
    differs between runs under xdist: do not depend on it)."""


def pytest_llmbench_run_record(record: RunRecord, config: pytest.Config) -> None:
    """Called on the controller at session finish with the complete run record, after the
    verdict and before anything is written. Implementations may add top-level keys; the
    record is then written to ``--llmbench-json`` and ``.llmbench/runs/``."""


def pytest_llmbench_report_sections(record: RunRecord, config: pytest.Config) -> list[str]:
    """Called on the controller while rendering the markdown report. Return markdown
    sections to append before the footer (all results are joined in plugin order)."""
    return []


def pytest_llmbench_verdict(record: RunRecord, config: pytest.Config) -> None:
    """Called on the controller once the run's verdict is final and the outputs are written
    (alerts and metrics exporters hook in here). Not called for collect-only runs."""
