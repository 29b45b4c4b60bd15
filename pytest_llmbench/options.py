"""The command-line options and ini keys, declared in one `llmbench` group."""

from __future__ import annotations

import pytest

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
        "--llmbench-baseline",
        dest="llmbench_baseline",
        metavar="PATH",
        help="compare with an earlier run record (paired by sample id)",
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
    parser.addini("llmbench_cache_dir", "judge reply cache directory, relative to the rootdir")
    parser.addini("llmbench_config", "path of the llmbench YAML, relative to the rootdir")
    parser.addini("llmbench_judge", "auto | live | dry-run", default="auto")
    parser.addini("llmbench_fail_on_warn", "a warn fails the session", type="bool", default=False)
    parser.addini(
        "llmbench_judge_process",
        "make live judge calls from a helper process (false: from a thread of the pytest "
        "process, e.g. to debug the judge client)",
        type="bool",
        default=True,
    )
