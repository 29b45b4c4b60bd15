"""A small benchmark project on disk, and the runs of it that tests make (via pytester)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Every whole-run test runs with no xdist, with `-n 0` and with `-n 2`.
XDIST_MODES = {"no-xdist": ["-p", "no:xdist"], "n0": ["-n", "0"], "n2": ["-n", "2"]}

PROMPT = """\
description: test judge
metrics: [coverage, accuracy]
system: |
  You are a strict evaluator.
user: |
  Posts:
  {{ sample.input }}

  Summary:
  {{ output }}

  Return only a JSON object with {{ metrics | join(", ") }}, each from 0 to 1.
"""

TEST_FILE = """\
import pytest


@pytest.mark.llmbench("digest")
def test_digest(sample, judge):
    judge(sample.output)
"""


def make_samples(
    scores: Sequence[tuple[float, float]], latency: float = 100.0
) -> list[dict[str, Any]]:
    return [
        {
            "id": f"s-{i:02d}",
            "input": f"Пост номер {i}: в городе открыли новую станцию метро.",
            "output": f"Сводка {i}: открыли станцию.",
            "reference": f"Сводка {i}: в городе открыли новую станцию метро.",
            "ground_truth": {"coverage": c, "accuracy": a},
            "latency_seconds": latency + i,
        }
        for i, (c, a) in enumerate(scores, 1)
    ]


def marker(number: int) -> str:
    """Text only the judge prompt of sample `s-<number>` (of make_samples) contains: its input."""
    return f"Пост номер {number}:"


SAMPLE_NUMBER = re.compile(r"Пост номер (\d+):")  # the number in a marker


def config_yaml(
    *,
    coverage: tuple[float, float] = (0.8, 0.7),
    accuracy: tuple[float, float] = (0.8, 0.7),
    smoke: str = "2",
    extra_scenario: str = "",
    judge_block: str = "",
) -> str:
    judges = judge_block or (
        "judges:\n"
        "  default:\n"
        "    kind: openai\n"
        "    base_url: ${TEST_LLM_URL}\n"
        "    model: test-model\n"
    )
    return (
        "version: 1\n"
        f"{judges}"
        "scenarios:\n"
        "  digest:\n"
        "    dataset: data/digest.jsonl\n"
        "    prompt: digest_judge@v1\n"
        "    judge: default\n"
        f"    smoke: {smoke}\n"
        "    metrics:\n"
        f"      coverage: {{pass: {coverage[0]}, warn: {coverage[1]}}}\n"
        f"      accuracy: {{pass: {accuracy[0]}, warn: {accuracy[1]}}}\n"
        "      latency_seconds: {pass: 200, warn: 300, better: lower, source: field}\n"
        f"{extra_scenario}"
    )


def live_judge_yaml(
    *, timeout_s: float = 5, retries: str | None = None, concurrency: int = 3
) -> str:
    """A `judges:` block for a live judge at $TEST_LLM_URL (a JudgeServer the test starts)."""
    block = (
        "judges:\n"
        "  default:\n"
        "    kind: openai\n"
        "    base_url: ${TEST_LLM_URL}\n"
        "    model: test-model\n"
        f"    concurrency: {concurrency}\n"
        f"    timeout_s: {timeout_s:g}\n"
    )
    return block + (f"    retries: {retries}\n" if retries else "")


@dataclass
class Project:
    pytester: pytest.Pytester

    @property
    def root(self) -> Path:
        return self.pytester.path

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    def dataset(
        self, samples: Iterable[dict[str, Any]], relative: str = "data/digest.jsonl"
    ) -> Path:
        return self.write(
            relative, "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
        )

    def config(self, text: str) -> Path:
        return self.write("benchmarks/llmbench.yaml", text)

    def run(self, *args: str, **kwargs: Any) -> pytest.RunResult:
        return self.pytester.runpytest("-p", "no:cacheprovider", *args, **kwargs)

    def records(self) -> list[dict[str, Any]]:
        """The run records in the order they were written (two runs within one second
        have run ids in no particular order, so not by name)."""
        runs = sorted(
            (self.root / ".llmbench" / "runs").glob("*.json"),
            key=lambda p: (p.stat().st_mtime_ns, p.name),
        )
        return [json.loads(p.read_text(encoding="utf-8")) for p in runs]


# The digest config with its metrics in the other order, and twelve samples' scores.
SORTED_CONFIG = config_yaml().replace(
    "      coverage: {pass: 0.8, warn: 0.7}\n      accuracy: {pass: 0.8, warn: 0.7}\n",
    "      accuracy: {pass: 0.8, warn: 0.7}\n      coverage: {pass: 0.8, warn: 0.7}\n",
)
TWELVE = [(0.95, 0.9), (0.7, 0.8), (0.9, 0.85), (0.85, 0.6), (0.8, 0.9), (0.9, 0.95)] * 2


_FOOTER = re.compile(r"\n---\n<sub>run [^\n]*</sub>\n\Z")


def without_footer(report: str) -> str:
    """The report minus its footer of run id and timings."""
    return _FOOTER.sub("\n", report)


# Source for a project's conftest: `helper()`, the pid of the run's judge helper process
# (a child running judging/helper_process: of this process, or under xdist of the
# controller, whose pid is in the worker's workerinput), or None; reads /proc (Linux).
# Needs `os` and `Path` imported by the conftest that includes it.
FIND_HELPER = """\
def helper():
    from pytest_llmbench.plugin import _CONFIGS

    shared = getattr(_CONFIGS[-1], "workerinput", dict()).get("llmbench_judge_helper")
    if shared:
        return shared[1]
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"helper_process" in command:
            return int(entry.name)
    return None
"""
