"""Which judge runs (live or dry-run, and why), and scoring one sample with it."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from .background import BackgroundLoop
from .config import JudgeConfig, LLMBenchConfig, ScenarioConfig
from .dataset import Sample
from .dry_run import dry_run_score
from .judge_result import JudgeResult
from .prompts import JudgePrompt, load_prompt, messages_sha256, render_messages

Mode = Literal["live", "dry-run"]
MODES = ("auto", "live", "dry-run")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


class JudgeSetupError(Exception):
    """The judge cannot run as configured (e.g. live without a URL); a usage error."""


@dataclass(frozen=True)
class Resolved:
    mode: Mode
    reason: str


def resolve_mode(option: str, judge: JudgeConfig, environ: Mapping[str, str]) -> Resolved:
    """auto is live when the judge's base_url expands to something, dry-run otherwise."""
    variable = _VAR.search(judge.base_url_raw)
    named = f"${variable.group(1)}" if variable else "base_url"
    if judge.kind == "dry-run":
        return Resolved("dry-run", f"judge {judge.name!r} is of kind dry-run")
    if option == "dry-run":
        return Resolved("dry-run", "--llmbench-judge=dry-run")
    if not judge.base_url:
        if option == "live":
            raise JudgeSetupError(
                f"--llmbench-judge=live but judge {judge.name!r} has no base_url "
                f"({judge.base_url_raw or 'not set'}): set {named} or use --llmbench-judge=auto"
            )
        return Resolved("dry-run", f"auto: {named} is not set")
    if judge.api_key_env and not environ.get(judge.api_key_env):
        raise JudgeSetupError(
            f"judge {judge.name!r} reads its API key from ${judge.api_key_env}, which is not "
            f"set: export it, or run offline with --llmbench-judge=dry-run"
        )
    return Resolved(
        "live", "--llmbench-judge=live" if option == "live" else f"auto: {named} is set"
    )


class JudgeService:
    """Scores samples for every scenario of one process; live judges share one loop."""

    def __init__(self, cfg: LLMBenchConfig, option: str, environ: Mapping[str, str]) -> None:
        self._cfg = cfg
        self._option = option
        self._environ = environ
        self._modes: dict[str, Resolved] = {}
        self._prompts: dict[str, JudgePrompt] = {}
        self._engines: dict[str, object] = {}
        self._loop: BackgroundLoop | None = None
        self._lock = threading.Lock()

    def mode(self, judge_name: str) -> Resolved:
        if judge_name not in self._modes:
            self._modes[judge_name] = resolve_mode(
                self._option, self._cfg.judges[judge_name], self._environ
            )
        return self._modes[judge_name]

    def prompt(self, scenario: ScenarioConfig) -> JudgePrompt | None:
        if not scenario.prompt:
            return None
        if scenario.prompt not in self._prompts:
            self._prompts[scenario.prompt] = load_prompt(
                self._cfg.prompts_dir, scenario.prompt, rootdir=self._cfg.rootdir
            )
        return self._prompts[scenario.prompt]

    def _engine(self, judge: JudgeConfig) -> object:
        from .openai_judge import OpenAIJudge  # httpx only when a live judge runs

        with self._lock:
            if judge.name not in self._engines:
                if self._loop is None:
                    self._loop = BackgroundLoop()
                key = os.environ.get(judge.api_key_env) if judge.api_key_env else None
                engine = OpenAIJudge(judge, api_key=key)
                self._loop.on_close(engine.aclose)
                self._engines[judge.name] = engine
            return self._engines[judge.name]

    def score(
        self, scenario: ScenarioConfig, sample: Sample, output: str
    ) -> tuple[JudgeResult, str | None]:
        """The judged metrics of one sample and the hash of the rendered prompt."""
        metrics = scenario.judged_metrics
        if not metrics:
            return JudgeResult(status="scored"), None
        prompt = self.prompt(scenario)
        messages = render_messages(prompt, sample, output) if prompt is not None else []
        digest = messages_sha256(messages) if messages else None
        if self.mode(scenario.judge).mode == "dry-run":
            return dry_run_score(sample, metrics), digest
        from .openai_judge import OpenAIJudge

        engine = self._engine(self._cfg.judges[scenario.judge])
        assert isinstance(engine, OpenAIJudge)
        assert self._loop is not None
        return self._loop.run(engine.score(messages, metrics)), digest

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None
