"""pytest wiring: options, markers, fixtures and hooks, handed to the parts that do the work.

Loaded in every pytest run where the package is installed, so it imports only the option
declarations and the config locator; the run (judge, datasets, records) loads and
registers itself only when a llmbench config exists, so a project without benchmarks
sees no change in its runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_llmbench.config_file import find_config
from pytest_llmbench.errors import ConfigError
from pytest_llmbench.options import MODES, add_options, check_options

if TYPE_CHECKING:
    from pytest_llmbench.run.item_side import ItemSide, ItemState
    from pytest_llmbench.run.start import LLMBenchRun

PLUGIN_NAME = "llmbench-run"

# The configs of the pytest runs in this process, innermost last (pytester nests whole runs
# inside a test of another): the fixtures find their run through the innermost one.
_CONFIGS: list[pytest.Config] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_llmbench import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    _CONFIGS.append(config)
    config.addinivalue_line(
        "markers", "llmbench(scenario): one test item per sample of the scenario's dataset"
    )
    config.addinivalue_line("markers", "smoke: the scenario's smoke samples (-m smoke)")
    check_options(config)
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
    from pytest_llmbench.run.start import (
        start,  # the heavy parts, only for a project with benchmarks
    )

    start(config, path, judge)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config in _CONFIGS:
        _CONFIGS.remove(config)


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


def _current(fixture: str) -> tuple[ItemSide, ItemState]:
    """The item side and state of the item being set up. Found through the innermost run
    rather than the `request` fixture: pytest builds a FixtureDef for each use of
    `request`, about 5% of a dry run's time when two fixtures of every item asked for it."""
    run = _run(_CONFIGS[-1]) if _CONFIGS else None
    item = run.current_item if run is not None else None
    state = run.items.state(item) if run is not None and run.items and item else None
    if run is None or run.items is None or state is None:
        # An error in the test's setup: pytest's report names the test; no traceback.
        pytest.fail(
            f"the {fixture!r} fixture is only available in tests marked "
            "@pytest.mark.llmbench('<scenario>')",
            pytrace=False,
        )
    return run.items, state


@pytest.fixture
def sample() -> Any:
    """The dataset sample of this item (parametrized by @pytest.mark.llmbench, which
    overrides this fixture: it only runs, and fails, in a test without the marker)."""
    _current("sample")


@pytest.fixture
def output() -> Any:
    """The scenario's output for this sample (from `output:`), judged ahead when possible."""
    items, state = _current("output")
    return items.output(state)


@pytest.fixture
def variant() -> Any:
    """The variant this item runs (`variant.name`, `variant.params`), as the output
    function gets it; None in a scenario without `variants:`."""
    items, state = _current("variant")
    return items.variant(state)


def _judge_this_item(output: object) -> dict[str, float]:
    """judge(output): score the sample of the item that calls it."""
    items, state = _current("judge")
    return items.judge(state, output)


@pytest.fixture(scope="session")
def judge() -> Callable[[object], dict[str, float]]:
    """judge(output) scores this sample on the scenario's judged metrics and records it.

    One function for the session, which scores the sample of the item calling it; an item
    is handed it at its setup (see pytest_runtest_setup), so pytest resolves no fixture for
    it: a fixture per item was a tenth of a dry run's time."""
    return _judge_this_item


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The item's `sample` and `judge` values, put in its funcargs before pytest fills them
    (pytest fills only what is missing, and resolving a fixture or a parameter per item
    was a tenth of a dry run's time); in a test without the marker, the `judge` fixture is
    an error at its setup, as the `sample` and `output` fixtures are. A test's own `judge`
    fixture is left alone. Before pytest's own setup of the item, after the skip marks'."""
    names = getattr(item, "fixturenames", ())
    funcargs = getattr(item, "funcargs", None)
    if "judge" in names and _judge_is_ours(item):
        _current("judge")
        if isinstance(funcargs, dict):
            funcargs.setdefault("judge", _judge_this_item)
    if "sample" in names and isinstance(funcargs, dict):
        run = _run(item.config)
        state = run.items.state(item) if run is not None and run.items is not None else None
        if state is not None:  # the parameter the marker gave the item
            funcargs.setdefault("sample", state.sample)


def _judge_is_ours(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.get("judge") if info is not None else None
    return defs is not None and len(defs) > 0 and defs[-1].func is _JUDGE_FIXTURE


_JUDGE_FIXTURE = getattr(judge, "__wrapped__", judge)  # what pytest calls
