"""Shared pieces of the perf scripts: the generated benchmark project, the judge server in a
process of its own, timed subprocesses, and printing. Not a test module (see conftest.py).

Defaults are the DESIGN.md quality bars: 200 samples, 250 ms, concurrency 32; goals
>= 0.85 of a bare httpx client and >= 0.8 of concurrency / latency; overhead <= 1.5x.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
URL_VAR = "LLMBENCH_PERF_URL"  # the generated llmbench.yaml reads the judge's base_url here

# DESIGN.md "Quality bars"
SAMPLES = 200
LATENCY_S = 0.25
CONCURRENCY = 32
GOAL_OF_BARE = 0.85
GOAL_OF_LIMIT = 0.80
GOAL_OVERHEAD = 1.5
OVERHEAD_SAMPLES = 10_000

PROMPT = """\
description: perf judge
metrics: [coverage, accuracy]
system: |
  You are a strict evaluator of summaries.
user: |
  Source posts:
  {{ sample.input }}

  Summary to evaluate:
  {{ output }}

  Return only a JSON object with {{ metrics | join(", ") }}, each a number from 0 to 1.
"""

# The scenario computes outputs from the `output` field, so the plugin judges ahead.
TEST_PREFETCH = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, output, judge):
    judge(output)
"""

# The DESIGN.md example body.
TEST_PLAIN_BODY = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
"""

TRIVIAL_TESTS = """\
import pytest


@pytest.mark.parametrize("i", range({n}))
def test_trivial(i):
    assert True
"""


# Plain pytest over the same samples: the dataset read with json, one parametrized item per
# sample with the same ids, the body touching the output (what a test without the plugin does).
PLAIN_DATA_TESTS = """\
import json
from pathlib import Path

import pytest

LINES = (Path(__file__).parent / "data" / "digest.jsonl").read_text(encoding="utf-8").splitlines()
SAMPLES = [json.loads(line) for line in LINES if line.strip()]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["id"] for s in SAMPLES])
def test_digest(sample):
    assert sample["output"]
"""


def config_yaml(concurrency: int, *, prefetch: bool) -> str:
    return (
        "version: 1\n"
        "judges:\n"
        "  default:\n"
        "    kind: openai\n"
        f"    base_url: ${{{URL_VAR}}}\n"
        "    model: perf-judge\n"
        f"    concurrency: {concurrency}\n"
        "    timeout_s: 60\n"
        "scenarios:\n"
        "  digest:\n"
        "    dataset: data/digest.jsonl\n"
        "    prompt: digest_judge@v1\n"
        "    judge: default\n" + ("    output: output\n" if prefetch else "") + "    smoke: 5\n"
        "    metrics:\n"
        "      coverage: {pass: 0.8, warn: 0.7}\n"
        "      accuracy: {pass: 0.8, warn: 0.7}\n"
        "      latency_seconds: {pass: 200, warn: 300, better: lower, source: field}\n"
    )


def sample(i: int) -> dict[str, Any]:
    return {
        "id": f"s-{i:05d}",
        "input": f"Пост номер {i}: в городе открыли новую станцию метро, движение с понедельника.",
        "output": f"Сводка {i}: открыли новую станцию метро.",
        "reference": f"Сводка {i}: в городе открыли новую станцию метро.",
        "ground_truth": {"coverage": 0.9, "accuracy": 0.9},
        "latency_seconds": 100 + i % 50,
    }


# About 1 KB a line, shaped like data/benchmarks/ (Russian channel posts, a digest, a
# reference digest, stored scores, a measured latency, tags): what issue 12 calls realistic.
_POSTS = (
    "[{h:02d}:05] Доброе утро! Сегодня +{t}, без осадков. На рынке с 9:00 ярмарка, {n} мест.",
    "[{h:02d}:40] На улице Гагарина, {n} до 18:00 не будет холодной воды, водовоз во дворе.",
    "[{h:02d}:20] В сквере у ДК начали ставить детскую площадку; обещают закончить к {t} ноября.",
    "[{h:02d}:55] Найдена собака: рыжий спаниель в синем ошейнике, ждёт хозяев в клинике {n}.",
)


def realistic_sample(i: int) -> dict[str, Any]:
    """One sample of about 1 KB of JSON (UTF-8), every text distinct."""
    h, t, n = 8 + i % 12, i % 30, i % 997
    return {
        "id": f"s-{i:06d}",
        "channel": f"@channel_{i % 40}",
        "input": "\n".join(post.format(h=h, t=t, n=n) for post in _POSTS),
        "output": f"Выпуск {i}: ярмарка на {n} мест, нет воды на Гагарина, {n}, новая площадка "
        f"к {t} ноября, найден спаниель.",
        "reference": f"Выпуск {i}: ярмарка ({n} мест), отключение воды, площадка, собака.",
        "ground_truth": {"coverage": 0.9, "accuracy": 0.9},
        "latency_seconds": 100 + i % 50,
        "tags": ["city", "digest"],
    }


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_project(
    root: Path, samples: int, concurrency: int, *, prefetch: bool, realistic: bool = False
) -> Path:
    """A benchmark project as a user lays it out; pytest.ini pins the rootdir to `root`.
    `realistic`: samples of about 1 KB (realistic_sample) instead of 150 bytes."""
    make = realistic_sample if realistic else sample
    write(root / "pytest.ini", "[pytest]\n")
    write(root / "prompts" / "digest_judge" / "v1.yaml", PROMPT)
    write(root / "benchmarks" / "llmbench.yaml", config_yaml(concurrency, prefetch=prefetch))
    write(root / "benchmarks" / "test_digest.py", TEST_PREFETCH if prefetch else TEST_PLAIN_BODY)
    lines = (json.dumps(make(i), ensure_ascii=False) + "\n" for i in range(1, samples + 1))
    write(root / "data" / "digest.jsonl", "".join(lines))
    return root


def write_plain_data_project(root: Path, samples: int) -> Path:
    """Plain pytest parametrized over the realistic samples of write_project(realistic=True)."""
    write(root / "pytest.ini", "[pytest]\n")
    write(root / "test_plain.py", PLAIN_DATA_TESTS)
    lines = (
        json.dumps(realistic_sample(i), ensure_ascii=False) + "\n" for i in range(1, samples + 1)
    )
    write(root / "data" / "digest.jsonl", "".join(lines))
    return root


def write_trivial_project(root: Path, samples: int) -> Path:
    write(root / "pytest.ini", "[pytest]\n")
    write(root / "test_trivial.py", TRIVIAL_TESTS.format(n=samples))
    return root


def request_bodies(root: Path, url: str) -> list[dict[str, Any]]:
    """The chat-completions bodies the plugin sends for the project at `root`, built with
    the plugin's own config, dataset, prompt and request code."""
    from pytest_llmbench.benchmark.config import load_config
    from pytest_llmbench.benchmark.dataset import load_dataset
    from pytest_llmbench.benchmark.prompts import load_prompt, render_messages
    from pytest_llmbench.judging.chat_completions import OpenAIJudge

    cfg = load_config(root / "benchmarks" / "llmbench.yaml", root, {URL_VAR: url})
    scenario = cfg.scenarios["digest"]
    dataset = load_dataset(scenario.dataset, scenario.dataset_display, scenario.fields)
    assert scenario.prompt is not None
    prompt = load_prompt(cfg.prompts_dir, scenario.prompt, rootdir=cfg.rootdir)
    judge = OpenAIJudge(cfg.judges[scenario.judge], api_key=None)
    return [
        judge.request_body(render_messages(prompt, s, str(s.output)), scenario.judged_metrics)
        for s in dataset.samples
    ]


# -- the judge server, in its own process --------------------------------------------------


class ServerProcess:
    """tests/perf/serve.py as a child process, driven over its stdin/stdout."""

    def __init__(self, latency_s: float) -> None:
        self.command = [PYTHON, str(HERE / "serve.py"), "--latency", f"{latency_s:g}"]
        self._proc = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.url = str(self._read()["url"])

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"judge server exited early: {shlex.join(self.command)}")
        return dict(json.loads(line))

    def ask(self, command: str) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        return self._read()

    def stats(self) -> dict[str, Any]:
        return self.ask("stats")

    def reset(self) -> float:
        """Forget what was served; the server's CPU seconds so far."""
        return float(self.ask("reset")["cpu_s"])

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()  # our own child, by its handle
                self._proc.wait()


@contextmanager
def judge_server(latency_s: float) -> Iterator[ServerProcess]:
    server = ServerProcess(latency_s)
    try:
        yield server
    finally:
        server.close()


def window_s(stats: Mapping[str, Any]) -> float | None:
    """First request's arrival to last reply, as the server saw them."""
    first, last = stats.get("first_arrival"), stats.get("last_reply")
    if first is None or last is None:
        return None
    return float(last) - float(first)


# -- subprocesses -------------------------------------------------------------------------


@dataclass
class Run:
    command: list[str]
    cwd: Path
    wall_s: float
    returncode: int
    log: Path
    cpu_s: float = 0.0  # user + system of the child and the descendants it waited for
    max_rss_kb: int | None = None

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


def shown(command: Sequence[str], cwd: Path, env: Mapping[str, str] | None = None) -> str:
    prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in (env or {}).items())
    return f"(cd {shlex.quote(str(cwd))} && {prefix}{shlex.join(command)})"


# This environment may set PYTHONDONTWRITEBYTECODE=1; pytest then re-compiles and re-rewrites
# the asserts of every module of every pytest11 plugin in every run (seconds, on both sides of
# every comparison), which a user's machine does not do. By default the scripts let the
# children cache bytecode, under a private prefix (never next to the sources), and make one
# untimed warm-up run first. --env-as-is keeps the environment's setting.
PYCACHE = Path(tempfile.gettempdir()) / "llmbench-perf-pycache"
BYTECODE_AS_IS = False


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != URL_VAR}
    for name in ("PYTEST_ADDOPTS", "PYTEST_XDIST_AUTO_NUM_WORKERS", "PYTEST_PLUGINS"):
        env.pop(name, None)
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # see PLUGINS
    if not BYTECODE_AS_IS:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    env.update(extra or {})
    return env


def describe_env() -> str:
    if BYTECODE_AS_IS:
        flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
        return f"children: environment as is (PYTHONDONTWRITEBYTECODE={flag or 'unset'})"
    return (
        f"children: bytecode cached under PYTHONPYCACHEPREFIX={PYCACHE} "
        "(PYTHONDONTWRITEBYTECODE unset), after an untimed warm-up run"
    )


def run(
    command: Sequence[str],
    cwd: Path,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    quiet: bool = False,
) -> Run:
    """Run a command, output to `log`; wall time from spawn to exit."""
    full_env = child_env(env)
    if not quiet:
        print("  $ " + shown(command, cwd, env), flush=True)
    before = _children_cpu()
    with open(log, "wb") as out:
        start = time.perf_counter()
        proc = subprocess.run(
            list(command), cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT
        )
        wall = time.perf_counter() - start
    result = Run(list(command), cwd, wall, proc.returncode, log, _children_cpu() - before)
    if proc.returncode != 0:
        print(f"  ! exit status {proc.returncode}; last lines of {log}:\n{result.tail()}")
    return result


TIME_V = "/usr/bin/time"
RSS_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.call(sys.argv[2:]); "
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); "
    "sys.exit(rc)"
)
_MAX_RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def measured(command: list[str], cwd: Path, log: Path, how: str, quiet: bool) -> Run:
    """Run `command` with its peak RSS (KiB) measured around it."""
    if how == "time-v":
        stats = log.with_suffix(".time")
        result = run([TIME_V, "-v", "-o", str(stats), *command], cwd, log, quiet=quiet)
        found = _MAX_RSS.search(stats.read_text(encoding="utf-8", errors="replace"))
        result.max_rss_kb = int(found.group(1)) if found else None
    else:
        stats = log.with_suffix(".rss")
        result = run([PYTHON, "-c", RSS_WRAPPER, str(stats), *command], cwd, log, quiet=quiet)
        result.max_rss_kb = int(stats.read_text())
    return result


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# The measured pytest loads only the plugins named here (child_env() turns autoloading off):
# other plugins installed in this venv for the test suite would add their own fixed cost to
# both sides of every ratio (hypothesis's imports hypothesis at each terminal summary, ~1 s).
PLUGINS = {"llmbench": "pytest_llmbench.plugin", "xdist": "xdist.plugin"}


def pytest_command(*args: str, plugins: Sequence[str] = ("llmbench",)) -> list[str]:
    loaded = [part for name in plugins for part in ("-p", PLUGINS[name])]
    return [PYTHON, "-m", "pytest", *loaded, *args]


def read_record(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def scored_samples(record: Mapping[str, Any]) -> int:
    total = 0
    scenarios = record.get("scenarios") or {}
    values = scenarios.values() if isinstance(scenarios, dict) else scenarios
    for scenario in values:
        for s in scenario.get("samples", []):
            total += s.get("status") == "scored"
    return total


# -- arguments and printing -----------------------------------------------------------------


def parser(description: str, *, samples: int = SAMPLES) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--samples", type=int, default=samples, help=f"samples (default {samples})")
    p.add_argument(
        "--latency", type=float, default=LATENCY_S, help=f"judge latency, s (default {LATENCY_S})"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help=f"judge concurrency (default {CONCURRENCY})",
    )
    p.add_argument("--repeat", type=int, default=3, help="runs per side; medians (default 3)")
    p.add_argument("--check", action="store_true", help="exit 1 when below the DESIGN.md goal")
    p.add_argument("--keep", action="store_true", help="keep the temporary projects")
    p.add_argument(
        "--env-as-is",
        action="store_true",
        help="run the children with this environment's bytecode settings (see _perf.py)",
    )
    return p


def setup(args: argparse.Namespace) -> None:
    global BYTECODE_AS_IS
    BYTECODE_AS_IS = bool(args.env_as_is)


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="llmbench-perf-"))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def loadavg() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average n/a"
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def banner(title: str) -> None:
    import httpx
    import pytest

    print(f"== {title}")
    print(
        f"   python {sys.version.split()[0]} ({PYTHON}), pytest {pytest.__version__}, "
        f"httpx {httpx.__version__}; {loadavg()}"
    )
    print(f"   {describe_env()}", flush=True)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    return "[" + ", ".join(fmt.format(v) for v in values) + "]"


def verdict(ok: bool) -> str:
    return "meets goal" if ok else "BELOW GOAL"
