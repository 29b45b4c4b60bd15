"""pytest wiring: options, markers, fixtures and hooks, handed to the parts that do the work.

Loaded in every pytest run where the package is installed, so it imports only the option
declarations and the config locator; the run (judge, datasets, records) loads and
registers itself only when a llmbench config exists, so a project without benchmarks
sees no change in its runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

from .locate import ConfigError, find_config
from .options import MODES, add_options

if TYPE_CHECKING:
    from .items import ItemSide, ItemState
    from .run import LLMBenchRun

PLUGIN_NAME = "llmbench-run"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from . import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "llmbench(scenario): one test item per sample of the scenario's dataset"
    )
    config.addinivalue_line("markers", "smoke: the scenario's smoke samples (-m smoke)")
    if config.getoption("llmbench_fail_on_warn") is None:
        config.option.llmbench_fail_on_warn = config.getini("llmbench_fail_on_warn")
    judge = config.getoption("llmbench_judge") or config.getini("llmbench_judge")
    if judge not in MODES:
        raise pytest.UsageError(
            f"llmbench_judge = {judge!r} in the ini file: use one of {', '.join(MODES)}"
        )
    try:
        path = find_config(
            config.getoption("llmbench_config"),
            config.getini("llmbench_config") or None,
            Path(config.rootpath),
        )
    except ConfigError as error:
        raise pytest.UsageError(str(error)) from None
    if path is None:
        return
    from .run import start  # the heavy parts, only for a project with benchmarks

    start(config, path, judge)


def _run(config: pytest.Config) -> LLMBenchRun | None:
    run: LLMBenchRun | None = config.pluginmanager.get_plugin(PLUGIN_NAME)
    return run


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("llmbench")
    if marker is None:
        return
    run = _run(metafunc.config)
    if run is None:
        raise pytest.Collector.CollectError(
            "tests marked llmbench need a config: create benchmarks/llmbench.yaml or pass "
            "--llmbench-config=PATH (or set llmbench_config in the ini file)"
        )
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        raise pytest.Collector.CollectError(
            f"{metafunc.function.__name__}: use @pytest.mark.llmbench('<scenario name>')"
        )
    run.parametrize(metafunc, marker.args[0])


def _only_in_llmbench_tests(request: pytest.FixtureRequest, fixture: str) -> NoReturn:
    raise pytest.UsageError(
        f"{request.node.nodeid}: the {fixture!r} fixture is only available in tests marked "
        "@pytest.mark.llmbench('<scenario>')"
    )


def _item(request: pytest.FixtureRequest, fixture: str) -> tuple[ItemSide, ItemState]:
    run = _run(request.config)
    state = run.items.state(request.node) if run is not None and run.items else None
    if run is None or run.items is None or state is None:
        _only_in_llmbench_tests(request, fixture)
    return run.items, state


@pytest.fixture
def sample(request: pytest.FixtureRequest) -> Any:
    """The dataset sample of this item (parametrized by @pytest.mark.llmbench)."""
    _only_in_llmbench_tests(request, "sample")


@pytest.fixture
def output(request: pytest.FixtureRequest) -> Any:
    """The scenario's output for this sample (from `output:`), judged ahead when possible."""
    items, state = _item(request, "output")
    return items.output(state)


@pytest.fixture
def judge(request: pytest.FixtureRequest) -> Callable[[object], dict[str, float]]:
    """judge(output) scores this sample on the scenario's judged metrics and records it."""
    items, state = _item(request, "judge")
    return lambda output: items.judge(state, output)
