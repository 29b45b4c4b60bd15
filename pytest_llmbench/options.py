"""The command-line options and ini keys, declared in one `llmbench` group."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from pytest_llmbench.config_file import is_dir, is_file

MODES = ("auto", "live", "dry-run")  # --llmbench-judge


def add_options(parser: pytest.Parser) -> None:
    """Every --llmbench-* option (dest llmbench_*) and its ini mirror, in one group."""
    group = parser.getgroup("llmbench", "LLM benchmarks (pytest-llmbench)")
    group.addoption(
        "--llmbench-config",
        dest="llmbench_config",
        metavar="PATH",
        help="the llmbench YAML (default: ini llmbench_config, else benchmarks/llmbench.yaml)",
    )
    group.addoption(
        "--llmbench-judge",
        dest="llmbench_judge",
        choices=MODES,
        default=None,
        help="auto (default): live when the judge's base_url is set, else dry-run; "
        "live; dry-run (stored ground_truth, no network)",
    )
    group.addoption(
        "--llmbench-report",
        dest="llmbench_report",
        metavar="PATH",
        help="write the markdown report (for a PR comment) to PATH",
    )
    group.addoption(
        "--llmbench-json",
        dest="llmbench_json",
        metavar="PATH",
        help="write the run record to PATH (it is always written under .llmbench/runs/)",
    )
    group.addoption(
        "--llmbench-fail-on-warn",
        dest="llmbench_fail_on_warn",
        action="store_true",
        default=None,
        help="a metric in its warn band fails the session",
    )
    group.addoption(
        "--llmbench-cache",
        dest="llmbench_cache",
        metavar="DIR",
        help="judge reply cache directory (default .llmbench/cache under the rootdir)",
    )
    group.addoption(
        "--llmbench-no-cache",
        dest="llmbench_no_cache",
        action="store_true",
        default=False,
        help="neither read nor write the judge reply cache",
    )
    group.addoption(
        "--llmbench-refresh-outputs",
        dest="llmbench_refresh_outputs",
        action="store_true",
        default=False,
        help="produce every output: module:function output again, reading none from the "
        "output cache (output_cache: true), and store the new ones",
    )
    group.addoption(
        "--llmbench-budget",
        dest="llmbench_budget",
        metavar="USD",
        type=float,
        default=None,
        help="stop new judge calls once the run has spent USD (needs price: on the judge)",
    )
    group.addoption(
        "--llmbench-repeats",
        dest="llmbench_repeats",
        metavar="K",
        type=int,
        default=None,
        help="judge every sample K times (1 to 20), its score the mean, and measure the "
        "judge's noise; overrides each scenario's repeats:",
    )
    group.addoption(
        "--llmbench-baseline",
        dest="llmbench_baseline",
        metavar="PATH",
        help="compare with an earlier run record (paired by sample id), or a folder of them "
        "(one per scenario, as `llmbench baseline promote` writes)",
    )
    group.addoption(
        "--llmbench-shard",
        dest="llmbench_shard",
        metavar="K/N",
        help="run shard K of N of every scenario's samples (by a hash of the sample id); "
        "join the shard records with `llmbench merge`",
    )
    group.addoption(
        "--llmbench-webhook",
        dest="llmbench_webhook",
        metavar="URL",
        help="post an alert to this Slack or Discord incoming webhook on the outcomes in "
        "notify: on: (default: the variable named by notify: webhook_env)",
    )
    group.addoption(
        "--llmbench-pushgateway",
        dest="llmbench_pushgateway",
        metavar="URL",
        help="push the run's Prometheus metrics to the Pushgateway at URL "
        "(needs pytest-llmbench[metrics])",
    )
    group.addoption(
        "--llmbench-prom-file",
        dest="llmbench_prom_file",
        metavar="PATH",
        help="write the run's Prometheus metrics as a node_exporter textfile (*.prom) "
        "(needs pytest-llmbench[metrics])",
    )
    group.addoption(
        "--llmbench-pushgateway-group",
        dest="llmbench_pushgateway_group",
        metavar="LABEL=VALUE[,...]",
        help="the Pushgateway grouping key beside job=llmbench, so suites sharing a "
        "Pushgateway keep their own series (default: ini llmbench_pushgateway_group, "
        "else pushgateway: group: in the YAML, else suite=<the rootdir's name>)",
    )
    parser.addini("llmbench_cache_dir", "judge reply cache directory, relative to the rootdir")
    parser.addini("llmbench_config", "path of the llmbench YAML, relative to the rootdir")
    parser.addini("llmbench_judge", "auto | live | dry-run", default="auto")
    parser.addini("llmbench_fail_on_warn", "a warn fails the session", type="bool", default=False)
    parser.addini(
        "llmbench_pushgateway_group",
        "the Pushgateway grouping key, LABEL=VALUE[,...] (default suite=<the rootdir's name>)",
    )
    parser.addini(
        "llmbench_judge_process",
        "make live judge calls from a helper process (false: from a thread of the pytest "
        "process, e.g. to debug the judge client)",
        type="bool",
        default=True,
    )


_PATH_OPTIONS = {  # dest -> what the path names
    "llmbench_config": "file",
    "llmbench_report": "file",
    "llmbench_json": "file",
    "llmbench_prom_file": "file",
    "llmbench_baseline": "file or folder",  # a record, or a folder of one per scenario
    "llmbench_cache": "directory",
}
_TEXT_OPTIONS = ("llmbench_shard", "llmbench_webhook", "llmbench_pushgateway")
_BOOL_INIS = ("llmbench_fail_on_warn", "llmbench_judge_process")
_SHARD_RE = re.compile(r"([0-9]{1,6})/([0-9]{1,6})")  # ASCII digits: "１/２" is not K/N


def check_options(config: pytest.Config) -> None:
    """Every --llmbench-* value and boolean ini key given, checked before anything else
    reads them: a bad one is a pytest.UsageError naming the option and the fix. (The
    webhook and Pushgateway URLs, the baseline's content and the YAML budget are checked
    where they are read.)"""
    for dest, kind in _PATH_OPTIONS.items():
        value = config.getoption(dest)
        if value is None:
            continue
        option = "--" + dest.replace("_", "-")
        if not value.strip():
            raise pytest.UsageError(f"{option}=: empty; give a {kind} path or leave it out")
        path = Path(value)
        if kind == "file" and is_dir(path):
            raise pytest.UsageError(
                f"{option}={shown(value)}: is a directory; give a file path in it"
            )
        if kind == "directory" and is_file(path):
            raise pytest.UsageError(
                f"{option}={shown(value)}: exists and is not a directory; give a directory"
            )
    for dest in _TEXT_OPTIONS:
        value = config.getoption(dest)
        if value is not None and not value.strip():
            option = "--" + dest.replace("_", "-")
            raise pytest.UsageError(f"{option}=: empty; give a value or leave it out")
    parse_shard(config.getoption("llmbench_shard"))
    budget = config.getoption("llmbench_budget")
    if budget is not None and not (math.isfinite(budget) and budget > 0):
        raise pytest.UsageError(f"--llmbench-budget={budget:g}: give a positive amount in USD")
    repeats = config.getoption("llmbench_repeats")
    if repeats is not None:
        from pytest_llmbench.benchmark.limits import REPEATS  # only when given: a constant

        if not 1 <= repeats <= REPEATS:
            raise pytest.UsageError(
                f"--llmbench-repeats={repeats}: give a whole number from 1 to {REPEATS}"
            )
    for name in _BOOL_INIS:
        try:
            config.getini(name)
        except (ValueError, pytest.UsageError):  # pytest's own says neither key nor fix
            raise pytest.UsageError(
                f"{name} in the ini file: not true or false; write {name} = true (or false)"
            ) from None


def parse_shard(value: str | None) -> tuple[int, int] | None:
    """--llmbench-shard=K/N as (K, N); None when not given; a UsageError when not K/N."""
    if value is None:
        return None
    match = _SHARD_RE.fullmatch(value)
    if match and 1 <= int(match[1]) <= int(match[2]):
        return int(match[1]), int(match[2])
    raise pytest.UsageError(
        f"--llmbench-shard={shown(value)}: expected K/N with 1 <= K <= N, e.g. --llmbench-shard=1/3"
    )


def shown(value: str) -> str:
    """An option's value as quoted in a message: at most 80 characters, no line breaks."""
    value = value.encode("unicode_escape").decode("ascii") if not value.isprintable() else value
    return value if len(value) <= 80 else value[:79] + "…"
