"""Building the judges of one item process: the dry-run judge, and for a live judge the
chat-completions judge, in this process or behind the helper process, with the API key
from the environment and the background loop every live judge shares."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_llmbench.benchmark.judge_config import JudgeConfig
from pytest_llmbench.judging.dry_run import DryRunJudge
from pytest_llmbench.judging.judge_protocol import Judge
from pytest_llmbench.judging.mode import Mode

if TYPE_CHECKING:
    from pytest_llmbench.judging.background_loop import BackgroundLoop
    from pytest_llmbench.judging.helper_process import JudgeProcess

__all__ = ["HelperAt", "Judges"]


@dataclass(frozen=True)
class HelperAt:
    """Where the run's helper serves the xdist workers: its socket and its pid (handed to
    every worker in its workerinput)."""

    path: str
    pid: int


SOCKET_NAME = "judge.sock"


class Judges:
    """Each judge built once, on first use, and all closed together with the loop.

    With `use_process`, live judges run in one helper process (RemoteJudge in this
    process); without it, OpenAIJudge runs here on the background loop. A judge in
    `provided` (built elsewhere: a test's) replaces
    the chat-completions judge of that name and runs on the background loop. A judge of
    a custom kind (custom_judges.py) always runs here, on the background loop.
    """

    def __init__(
        self,
        configs: Mapping[str, JudgeConfig],
        environ: Mapping[str, str],
        *,
        use_process: bool,
        provided: Mapping[str, Judge] | None = None,
        listen: bool = False,
        helper_at: HelperAt | None = None,
    ) -> None:
        self._configs = configs
        self._listen = listen and use_process
        self._helper_at = helper_at if use_process else None
        self._socket_dir: Path | None = None
        self._environ = environ
        self.use_process = use_process
        self._provided = dict(provided or {})
        self._dry_run = DryRunJudge()
        self._live: dict[str, Judge] = {}
        self._process: JudgeProcess | None = None
        self._loop: BackgroundLoop | None = None
        self._lock = threading.Lock()  # items and the loop's coroutines both build judges

    @property
    def loop(self) -> BackgroundLoop:
        with self._lock:
            if self._loop is None:
                from pytest_llmbench.judging.background_loop import (
                    BackgroundLoop,  # asyncio only for a live judge
                )

                # In process, the loop reads every reply: switch to it at 1 ms, not 5.
                self._loop = BackgroundLoop(switch_interval_s=None if self.use_process else 0.001)
            return self._loop

    @property
    def started_loop(self) -> BackgroundLoop | None:
        """The loop once a live judge started it; None before (and in a dry run)."""
        return self._loop

    def get(self, judge: JudgeConfig, mode: Mode) -> Judge:
        """The judge that scores for `judge` in `mode`; a live one starts the loop."""
        if mode == "dry-run":
            return self._dry_run
        loop = self.loop
        with self._lock:
            if judge.name not in self._live:
                if judge.name in self._provided:
                    built: Judge = self._provided[judge.name]
                elif judge.custom:  # a user's class, here on the loop: never in the helper
                    from pytest_llmbench.judging.custom_judges import build

                    built = build(judge)
                elif self.use_process:
                    from pytest_llmbench.judging.helper_process import RemoteJudge

                    built = RemoteJudge(self._helper(loop), judge)
                else:
                    from pytest_llmbench.judging.chat_completions import (
                        OpenAIJudge,  # httpx only when a live judge runs
                    )

                    built = OpenAIJudge(judge, api_key=self._api_key(judge))
                loop.on_close(built.aclose)
                self._live[judge.name] = built
            return self._live[judge.name]

    def start_helper(self) -> None:
        """Start the helper process now rather than at the first call (no-op when no judge
        runs there)."""
        if not self.use_process or not self._helper_judges():
            return
        loop = self.loop
        with self._lock:
            process = self._helper(loop)
        loop.submit(process.start())

    def _api_key(self, judge: JudgeConfig) -> str | None:
        return self._environ.get(judge.api_key_env) if judge.api_key_env else None

    def through_helper(self, judge: JudgeConfig) -> bool:
        """Whether `judge`'s live calls go through the run's helper (helper_process.Calls)."""
        return self.use_process and judge.name in self._helper_judges()

    def start_shared_helper(self) -> HelperAt | None:
        """Start the run's helper, listening for the workers, and wait until it serves."""
        if not self._listen or not self._helper_judges():
            return None
        loop = self.loop
        with self._lock:
            process = self._helper(loop)
        if not loop.run(process.wait_ready()) or process.pid is None:
            return None
        assert self._socket_dir is not None
        return HelperAt(str(self._socket_dir / SOCKET_NAME), process.pid)

    def _helper(self, loop: BackgroundLoop) -> JudgeProcess:
        """The helper process for every live judge of this config, or the connection to
        the run's (caller holds the lock)."""
        if self._process is None:
            from pytest_llmbench.judging.helper_process import JudgeConnection, JudgeProcess

            judges = self._helper_judges()
            if self._helper_at is not None:
                # An xdist worker: the controller's helper serves it; no API key here.
                at = self._helper_at
                self._process = JudgeConnection(judges, at.path, at.pid)
            else:
                listen = None
                if self._listen:
                    # A directory only this user may enter: no one else reaches the judge.
                    self._socket_dir = Path(tempfile.mkdtemp(prefix="llmbench-"))
                    listen = str(self._socket_dir / SOCKET_NAME)
                keys = {n: self._api_key(j) for n, j in judges.items()}
                self._process = JudgeProcess(judges, keys, listen=listen)
            loop.on_close(self._process.aclose)
        return self._process

    def _helper_judges(self) -> dict[str, JudgeConfig]:
        return {
            name: judge
            for name, judge in self._configs.items()
            if judge.kind == "openai" and name not in self._provided
        }

    def close(self) -> None:
        """Close every live judge and the helper on the loop, then the loop itself."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
