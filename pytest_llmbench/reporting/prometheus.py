"""Prometheus metrics of a run: built from the run record, pushed to a Pushgateway and/or
written as a node_exporter textfile.

prometheus-client is an optional extra (``pip install 'pytest-llmbench[metrics]'``): it is
imported only inside the functions that need it, so a run without the metrics options
never loads it. The pytest side, PromPlugin, is ``run/exporters.py``.

Every run builds a fresh registry (never the library's global one), so a push or a file
holds exactly one run. What the plugin exports:

- ``benchmark_run_duration_seconds{scenario}``: the run's wall time (every scenario of a
  run shares it: the scenarios are judged in one session);
- ``benchmark_metric_value{scenario,metric}``: the aggregate (absent when no sample was
  scored);
- ``benchmark_metric_pass_threshold`` and ``benchmark_metric_warn_threshold``
  ``{scenario,metric}``: the YAML bands, so a dashboard can draw them beside the value;
- ``benchmark_verdict{scenario,status}``: 1 for the scenario's status, 0 for the others;
- ``benchmark_judge_requests{scenario,outcome}``: judge calls by outcome: ``ok``
  (scored at the first attempt), ``retried`` (scored after retries), ``failed`` (the call
  gave no scores), ``cached`` (answered from the reply cache);
- ``benchmark_judge_latency_seconds{scenario}``: a histogram of the judge calls that
  went over HTTP (cache hits and the dry-run judge take no time worth charting);
- ``benchmark_tokens{scenario,kind}`` (``prompt``, ``completion``);
- ``benchmark_cost_usd{scenario}`` (when the judge has a price).

A scenario with ``variants:`` keeps the series above: its metric series are its reference
variant's (the record's scenario ``metrics`` are) and ``benchmark_verdict`` is the
scenario's verdict (decided by its ``gate:`` variants), so dashboards and alerts written
before variants read the same numbers. Each of its variants, the reference included, adds:

- ``benchmark_variant_metric_value``, ``benchmark_variant_metric_pass_threshold`` and
  ``benchmark_variant_metric_warn_threshold`` ``{scenario,variant,metric}``;
- ``benchmark_variant_verdict{scenario,variant,status}``: 1 for the variant's own bands'
  status, 0 for the others.

They are families of their own, not a ``variant`` label on the families above: a query such
as ``benchmark_metric_value{metric="coverage"} < 0.8`` would match labelled series too, and
``sum by (scenario)`` would count the reference twice.

The counts are gauges, not counters: each push replaces the previous run's group on the
Pushgateway, so the value is "in this run" and goes down as well as up from one run to the
next. As counters, ``rate()`` and ``increase()`` would read every new run as a counter
reset and return nonsense; as gauges, a panel plots them as they are. A gauge's name never
ends in ``_total`` (Prometheus keeps that suffix for counters, and ``promtool check
metrics`` refuses it on anything else); earlier builds named these two
``benchmark_judge_requests_total`` and ``benchmark_tokens_total``.

Every push goes to the group ``job=llmbench`` plus a grouping key (``suite=<rootdir name>``
unless ``--llmbench-pushgateway-group``, the ini key or the YAML's ``pushgateway: group:``
says otherwise), so suites sharing a Pushgateway do not replace each other's series.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pytest_llmbench.benchmark.grouping_key import check_grouping
from pytest_llmbench.redaction import public_url
from pytest_llmbench.reporting.text_format import printable

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = [
    "INSTALL_HINT",
    "LATENCY_BUCKETS",
    "OUTCOMES",
    "ExportResult",
    "MetricsUnavailable",
    "build_registry",
    "http_latency",
    "judge_outcome",
    "load_client",
    "push",
    "write_textfile",
]

INSTALL_HINT = "pip install 'pytest-llmbench[metrics]'"
DEFAULT_JOB = "llmbench"
PUSH_TIMEOUT_S = 10.0
# Judge calls take from a fraction of a second (a small local model) to minutes (a large
# model behind retries with backoff): roughly doubling steps from 0.1 s to 120 s.
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
OUTCOMES = ("ok", "retried", "failed", "cached")
STATUSES = ("pass", "warn", "fail")
TOKEN_KINDS = ("prompt", "completion")


class MetricsUnavailable(ImportError):
    """prometheus-client is not installed; the message says how to install it."""


def load_client() -> Any:
    """The prometheus_client module; MetricsUnavailable when it is not installed."""
    try:
        import prometheus_client
    except ImportError:
        raise MetricsUnavailable(
            f"the Prometheus metrics need prometheus-client: {INSTALL_HINT}"
        ) from None
    return prometheus_client


# -- the registry ------------------------------------------------------------------------


def judge_outcome(sample: Mapping[str, Any]) -> str | None:
    """A record sample entry's judge call as one of OUTCOMES; None when nothing was judged."""
    judge = sample.get("judge") or {}
    if not judge:
        return None
    if judge.get("cached"):
        return "cached"
    if sample.get("status") != "scored":
        return "failed"
    return "retried" if int(judge.get("retries", 0) or 0) > 0 else "ok"


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def http_latency(judge: Mapping[str, Any]) -> float | None:
    """The seconds of a sample's judge call over HTTP (its payload's or record's ``judge``
    block); None for a cache hit or the dry-run judge, which make no HTTP call to time."""
    if not judge or judge.get("cached") or not judge.get("attempts"):
        return None
    seconds = _finite(judge.get("latency_s"))
    return seconds if seconds is not None and seconds >= 0 else None


def _latencies_by_scenario(
    record: Mapping[str, Any], latencies: Sequence[float] | Mapping[str, Sequence[float]]
) -> dict[str, list[float]]:
    scenarios = list(record.get("scenarios") or {})
    if isinstance(latencies, Mapping):
        given = {name: list(values) for name, values in latencies.items()}
    elif not latencies:
        given = {}
    elif len(scenarios) == 1:
        given = {scenarios[0]: list(latencies)}
    else:
        raise ValueError(
            f"a plain list of latencies is ambiguous for {len(scenarios)} scenarios: "
            "pass {scenario: [seconds, ...]}"
        )
    # A record written by the controller (or merged from shards) carries its live calls'
    # latencies in its run block; older records may carry them on their samples. Either
    # fills in the scenarios the caller had nothing for.
    stored = (record.get("run") or {}).get("judge_latency_s") or {}
    for name in scenarios:
        if name in given:
            continue
        if isinstance(stored.get(name), list):
            given[name] = [s for s in map(_finite, stored[name]) if s is not None]
            continue
        found = []
        for sample in record["scenarios"][name].get("samples") or []:
            seconds = http_latency(sample.get("judge") or {})
            if seconds is not None:
                found.append(seconds)
        given[name] = found
    return given


def build_registry(
    record: Mapping[str, Any],
    latencies: Sequence[float] | Mapping[str, Sequence[float]] = (),
) -> CollectorRegistry:
    """A fresh registry holding the run's metrics (see the module docstring).

    ``latencies`` are judge call durations in seconds: per scenario, or a plain list for a
    record of one scenario. Raises MetricsUnavailable without prometheus-client.
    """
    client = load_client()
    registry: CollectorRegistry = client.CollectorRegistry(auto_describe=True)
    gauge = client.Gauge

    def new(name: str, doc: str, labels: Sequence[str]) -> Any:
        return gauge(name, doc, list(labels), registry=registry)

    duration = new("benchmark_run_duration_seconds", "Wall time of the benchmark run", ["scenario"])
    value = new(
        "benchmark_metric_value",
        "Aggregate value of a benchmark metric in the run",
        ["scenario", "metric"],
    )
    pass_threshold = new(
        "benchmark_metric_pass_threshold",
        "The metric's pass threshold (the edge of the pass band)",
        ["scenario", "metric"],
    )
    warn_threshold = new(
        "benchmark_metric_warn_threshold",
        "The metric's warn threshold (beyond it the metric fails)",
        ["scenario", "metric"],
    )
    verdict = new(
        "benchmark_verdict",
        "The scenario's verdict: 1 for its status (pass, warn or fail), 0 for the others",
        ["scenario", "status"],
    )
    requests = new(
        "benchmark_judge_requests",
        "Judge calls in the run by outcome: ok, retried, failed, cached (per run, a gauge)",
        ["scenario", "outcome"],
    )
    tokens = new(
        "benchmark_tokens",
        "Judge tokens in the run by kind: prompt, completion (per run, a gauge)",
        ["scenario", "kind"],
    )
    cost = new("benchmark_cost_usd", "Judge cost of the run in US dollars", ["scenario"])
    variant_value = new(
        "benchmark_variant_metric_value",
        "Aggregate value of a benchmark metric for one variant of the scenario",
        ["scenario", "variant", "metric"],
    )
    variant_pass = new(
        "benchmark_variant_metric_pass_threshold",
        "The variant's pass threshold of the metric (the edge of the pass band)",
        ["scenario", "variant", "metric"],
    )
    variant_warn = new(
        "benchmark_variant_metric_warn_threshold",
        "The variant's warn threshold of the metric (beyond it the metric fails)",
        ["scenario", "variant", "metric"],
    )
    variant_verdict = new(
        "benchmark_variant_verdict",
        "A variant's own verdict: 1 for its status (pass, warn or fail), 0 for the others",
        ["scenario", "variant", "status"],
    )
    latency = client.Histogram(
        "benchmark_judge_latency_seconds",
        "Duration of the judge calls made over HTTP, retries included",
        ["scenario"],
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )

    run_duration = _finite((record.get("run") or {}).get("duration_s"))
    by_scenario = _latencies_by_scenario(record, latencies)
    for name, scenario in sorted((record.get("scenarios") or {}).items()):
        if run_duration is not None:
            duration.labels(name).set(run_duration)
        bands = ((value, "value"), (pass_threshold, "pass"), (warn_threshold, "warn"))
        _set_bands(bands, (name,), scenario.get("metrics") or {})
        for status in STATUSES:
            verdict.labels(name, status).set(1 if scenario.get("status") == status else 0)
        variants = scenario.get("variants") or {}
        for variant, summary in sorted((variants.get("variants") or {}).items()):
            bands = ((variant_value, "value"), (variant_pass, "pass"), (variant_warn, "warn"))
            _set_bands(bands, (name, variant), summary.get("metrics") or {})
            for status in STATUSES:
                is_status = summary.get("status") == status
                variant_verdict.labels(name, variant, status).set(1 if is_status else 0)
        counts = dict.fromkeys(OUTCOMES, 0)
        for sample in scenario.get("samples") or []:
            outcome = judge_outcome(sample)
            if outcome is not None:
                counts[outcome] += 1
        for outcome, count in counts.items():
            requests.labels(name, outcome).set(count)
        usage = scenario.get("usage") or {}
        for kind in TOKEN_KINDS:
            tokens.labels(name, kind).set(_finite(usage.get(f"{kind}_tokens")) or 0)
        spent = _finite(usage.get("cost_usd"))
        if spent is not None:
            cost.labels(name).set(spent)
        child = latency.labels(name)  # present with zero calls too: the shape stays fixed
        for seconds in by_scenario.get(name, []):
            if _finite(seconds) is not None and seconds >= 0:
                child.observe(seconds)
    return registry


def _set_bands(
    gauges: Sequence[tuple[Any, str]], labels: Sequence[str], metrics: Mapping[str, Any]
) -> None:
    """Each metric's value and thresholds on its gauge, labelled ``*labels, metric``; a
    value that is missing or not a finite number is left out, never written as 0."""
    for metric, entry in sorted(metrics.items()):
        for target, key in gauges:
            number = _finite(entry.get(key))
            if number is not None:
                target.labels(*labels, metric).set(number)


def series_count(registry: CollectorRegistry) -> int:
    return sum(len(family.samples) for family in registry.collect())


# -- pushing and writing -----------------------------------------------------------------


@dataclass(frozen=True)
class ExportResult:
    """What a push or a write did, as one line for the terminal."""

    ok: bool
    message: str


def public_gateway(url: str) -> str:
    """The gateway URL as shown to people and as requested: its public_url, read as http://
    when it names no scheme, without a trailing / (the client appends /metrics/job/...)."""
    return public_url(url if "://" in url else f"http://{url}").rstrip("/")


def check_gateway_url(url: str) -> str | None:
    """Why ``url`` is not a usable Pushgateway URL, or None when it is."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
    except ValueError as error:  # "Invalid IPv6 URL": push() must not raise
        return f"not a readable URL ({error})"
    if parts.scheme not in ("http", "https"):
        return f"the scheme must be http or https, not {parts.scheme!r}"
    try:
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return "the port is not a number from 0 to 65535"
    if not parts.hostname:
        return "no host: give e.g. http://127.0.0.1:9091"
    return None


def _handler(url: str) -> tuple[str, Callable[..., Any] | None]:
    """The gateway URL without credentials, and a handler that sends them (basic auth) when
    the URL had ``user:password@``."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    bare = public_gateway(url)
    if parts.username is None:
        return bare, None
    from prometheus_client.exposition import basic_auth_handler

    username, password = unquote(parts.username), unquote(parts.password or "")

    def handler(
        url: str, method: str, timeout: float | None, headers: list[tuple[str, str]], data: bytes
    ) -> Callable[[], None]:
        return basic_auth_handler(url, method, timeout, headers, data, username, password)

    return bare, handler


def push(
    registry: CollectorRegistry,
    url: str,
    job: str = DEFAULT_JOB,
    grouping: Mapping[str, str] | None = None,
    timeout: float = PUSH_TIMEOUT_S,
) -> ExportResult:
    """PUT the registry to the Pushgateway at ``url`` (replacing the group's previous
    push, so series of a scenario that is gone do not linger). Never raises: a failure is
    an ExportResult with ok False and the reason."""
    shown = public_gateway(url)
    problem = check_gateway_url(url)
    if problem is not None:
        return ExportResult(False, f"metrics not pushed to {public_url(url)!r}: {problem}")
    problem = check_grouping(grouping or {}, shard=True)
    if problem is not None:
        return ExportResult(False, f"metrics not pushed to {shown}: grouping key: {problem}")
    try:
        client = load_client()
        gateway, handler = _handler(url)
        kwargs: dict[str, Any] = {"grouping_key": dict(grouping or {}), "timeout": timeout}
        if handler is not None:
            kwargs["handler"] = handler
        client.push_to_gateway(gateway, job=job, registry=registry, **kwargs)
    except MetricsUnavailable as error:
        return ExportResult(False, f"metrics not pushed: {error}")
    except Exception as error:  # HTTP, network, timeout: reported, never raised into the run
        return ExportResult(False, f"metrics push to {shown} failed: {_reason(error)}")
    group = "".join(f", {k}={printable(v)}" for k, v in (grouping or {}).items())
    return ExportResult(
        True, f"pushed {series_count(registry)} series to {shown} (job {job}{group})"
    )


def _reason(error: Exception) -> str:
    from urllib.error import HTTPError, URLError

    if isinstance(error, HTTPError):
        try:
            body = error.read().decode("utf-8", "replace").strip().splitlines()
        except Exception:
            body = []
        detail = f": {body[0][:200]}" if body else ""
        return f"HTTP {error.code} {error.reason}{detail}"
    if isinstance(error, URLError):
        return str(error.reason)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def write_textfile(registry: CollectorRegistry, path: Path | str) -> ExportResult:
    """Write the registry in the text format node_exporter's textfile collector reads,
    atomically (a temporary file beside it, then a rename: the collector never reads half
    a file; name it ``*.prom``). Never raises."""
    target = Path(path)
    try:
        client = load_client()
        target.parent.mkdir(parents=True, exist_ok=True)
        client.write_to_textfile(str(target), registry)
    except MetricsUnavailable as error:
        return ExportResult(False, f"metrics not written: {error}")
    except OSError as error:
        return ExportResult(False, f"metrics not written to {target}: {error.strerror or error}")
    return ExportResult(True, f"wrote {series_count(registry)} series to {target}")


def shard_grouping(record: Mapping[str, Any]) -> dict[str, str]:
    """A shard pushes to its own group, so the shards of one run do not replace each
    other (the merged run, pushed by ``llmbench metrics``, has none)."""
    shard = record.get("shard")
    if isinstance(shard, Mapping) and shard.get("index") and shard.get("count"):
        return {"shard": f"{shard['index']}-of-{shard['count']}"}
    return {}


def export(
    record: Mapping[str, Any],
    latencies: Sequence[float] | Mapping[str, Sequence[float]],
    *,
    pushgateway: str | None,
    prom_file: Path | None,
    job: str = DEFAULT_JOB,
    grouping: Mapping[str, str] | None = None,
) -> list[ExportResult]:
    """Build once, then push (to the group ``job`` and ``grouping``, plus the shard's
    label for a shard's record) and/or write: one result each. Never raises."""
    try:
        registry = build_registry(record, latencies)
    except MetricsUnavailable as error:
        return [ExportResult(False, f"metrics not exported: {error}")]
    except Exception as error:  # a bug here must not turn into a failed benchmark run
        return [ExportResult(False, f"metrics not exported: {type(error).__name__}: {error}")]
    results = []
    if pushgateway:
        group = {**(grouping or {}), **shard_grouping(record)}
        results.append(push(registry, pushgateway, job, group))
    if prom_file is not None:
        results.append(write_textfile(registry, prom_file))
    return results
