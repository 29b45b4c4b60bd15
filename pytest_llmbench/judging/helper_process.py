"""Live judge calls in a helper process, so HTTP never waits on pytest for the GIL.

The pytest process (each xdist worker too) starts one child running ``main()`` (with
``python -c``, this package first on its path) and talks to it over its stdin and stdout,
one JSON object a line:

    parent -> child   {"judges": {name: JudgeConfig as a dict}, "keys": {name: key}}  (first)
                      {"id": n, "judge": name, "messages": [...], "metrics": [...],
                       "temperature": t, "scale": [min, max] or null}
    child -> parent   {"id": n, "result": JudgeResult as a dict (scores, raw_scores,
                       reasoning and raw_reply included)}
                      {"id": n, "error": "what went wrong"}

The child runs one OpenAIJudge per judge on its own asyncio loop: concurrency, retries,
the adaptive limiter and the structured-output downgrade all live there, as they would in
process. The parent's loop only writes and reads lines. End of stdin ends the child, so a
killed pytest leaves no orphan. API keys travel on the pipe, never in argv or the
environment of anything the child starts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.judge_config import JudgeConfig, Price, RetryPolicy
from pytest_llmbench.judging.judge_protocol import JudgeRequest
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.redaction import redact, url_secrets

__all__ = ["JudgeProcess", "RemoteJudge", "judge_from_dict", "main"]

_STDERR_LINES = 20  # kept from the child's stderr, for the message if it dies
_LINE_LIMIT = 64 * 1024 * 1024  # a reply line may carry a long rendered prompt back


class JudgeProcessError(Exception):
    """The helper process could not start or has gone; the message says why."""


def judge_to_dict(judge: JudgeConfig) -> dict[str, Any]:
    return dataclasses.asdict(judge)


def judge_from_dict(data: Mapping[str, Any]) -> JudgeConfig:
    fields = dict(data)
    fields["retries"] = RetryPolicy(**fields["retries"])
    if fields.get("price") is not None:
        fields["price"] = Price(**fields["price"])
    return JudgeConfig(**fields)


def result_from_dict(data: Mapping[str, Any]) -> JudgeResult:
    return JudgeResult(**data)


def scale_from_wire(value: Any) -> tuple[float, float] | None:
    """A request's scale as sent ([min, max] or null) back into a tuple."""
    if value is None:
        return None
    low, high = value
    return float(low), float(high)


def _child_command() -> list[str]:
    # The package's own directory first on sys.path: the child imports this very copy of
    # the plugin, installed or not, whatever the test run did to sys.path.
    package_parent = str(Path(__file__).resolve().parent.parent)
    code = (
        f"import sys; sys.path.insert(0, {package_parent!r}); "
        "from pytest_llmbench.judging.helper_process import main; main()"
    )
    return [sys.executable, "-c", code]


class JudgeProcess:
    """The parent's end: started on first use from the background loop, one per process."""

    def __init__(self, judges: Mapping[str, JudgeConfig], keys: Mapping[str, str | None]) -> None:
        self._judges = dict(judges)
        self._keys = dict(keys)
        # The child's own words (stderr, error replies) could quote a key or a base_url's
        # credentials: they reach a reason, and so the record, only through redact().
        self._secrets = [*self._keys.values()]
        for judge in self._judges.values():
            self._secrets += url_secrets(judge.base_url)
        self._process: asyncio.subprocess.Process | None = None
        self._starting: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[JudgeResult]] = {}
        self._next_id = 0
        self._stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        self._readers: list[asyncio.Task[None]] = []
        self._gone: str | None = None  # why the child is no longer usable

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        """Start the child (once; later callers wait for the first)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._spawn())
        await asyncio.shield(self._starting)

    async def _spawn(self) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *_child_command(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=_LINE_LIMIT,
            )
        except Exception as error:  # OSError, or a child watcher a user set up
            self._gone = f"could not start the judge process: {error}"
            raise JudgeProcessError(self._gone) from None
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        hello = {
            "judges": {name: judge_to_dict(j) for name, j in self._judges.items()},
            "keys": self._keys,
        }
        process.stdin.write(_line(hello))
        self._readers = [
            asyncio.create_task(self._read_replies(process, process.stdout)),
            asyncio.create_task(self._read_stderr(process.stderr)),
        ]

    async def score(
        self,
        judge: str,
        messages: list[dict[str, str]],
        metrics: Sequence[str],
        temperature: float | None,
        scale: tuple[float, float] | None = None,
    ) -> JudgeResult:
        if self._gone is None:
            with contextlib.suppress(JudgeProcessError):  # _gone says why
                await self.start()
        if self._gone is not None or self._process is None or self._process.stdin is None:
            return JudgeResult(status="unscored", reason=self._gone or "judge process not running")
        self._next_id += 1
        request_id = self._next_id
        reply: asyncio.Future[JudgeResult] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        message = {
            "id": request_id,
            "judge": judge,
            "messages": messages,
            "metrics": list(metrics),
            "temperature": temperature,
            "scale": list(scale) if scale is not None else None,
        }
        try:
            self._process.stdin.write(_line(message))
            return await reply
        finally:
            self._pending.pop(request_id, None)

    async def _read_replies(
        self, process: asyncio.subprocess.Process, stdout: asyncio.StreamReader
    ) -> None:
        try:
            async for raw in stdout:
                self._deliver(json.loads(raw))
        except Exception as error:  # whatever the line was, no call may wait forever
            self._fail(f"judge process sent an unreadable reply ({type(error).__name__})")
            return
        await self._exited(process)

    def _deliver(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        request_id = data.get("id")
        reply = self._pending.get(request_id) if isinstance(request_id, int) else None
        if reply is None or reply.done():
            return
        if "result" in data:
            reply.set_result(result_from_dict(data["result"]))
        else:
            error = redact(str(data.get("error")), self._secrets)
            reply.set_result(JudgeResult(status="unscored", reason=f"judge process: {error}"))

    async def _read_stderr(self, stderr: asyncio.StreamReader) -> None:
        async for raw in stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip())

    async def _exited(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        # Let the stderr reader drain what the child said last.
        await asyncio.gather(*self._readers[1:], return_exceptions=True)
        said = " | ".join(line for line in self._stderr if line.strip())
        # Redacted before the cut to 600, so the cut cannot leave a piece too short to find;
        # from a bounded tail, so a huge stderr line costs nothing.
        said = redact(said[-4096:], self._secrets)[-600:]
        self._fail(f"judge process exited with code {code}" + (f": {said}" if said else ""))

    def _fail(self, reason: str) -> None:
        if self._gone is None:
            self._gone = reason
        for reply in self._pending.values():
            if not reply.done():
                reply.set_result(JudgeResult(status="unscored", reason=self._gone))

    async def aclose(self) -> None:
        self._gone = self._gone or "judge process closed"
        if self._starting is not None:
            # Closed while the child is being spawned: let the spawn finish, then stop it
            # (cancelling asyncio's own pipe set-up can leave it waiting forever).
            await asyncio.gather(self._starting, return_exceptions=True)
        process, self._process = self._process, None
        try:
            if process is None:
                return
            if process.stdin is not None and not process.stdin.is_closing():
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
            await asyncio.gather(*self._readers, return_exceptions=True)
        finally:
            self._fail(self._gone)  # a call still waiting gets its answer


class RemoteJudge:
    """A `Judge` in the item process that proxies one judge of the helper process: scored
    there as OpenAIJudge.score() would, awaited on the item process's background loop.
    Only what the chat-completions judge reads travels (messages, metrics, temperature,
    scale)."""

    def __init__(self, process: JudgeProcess, judge: JudgeConfig) -> None:
        self.judge = judge
        self._process = process

    async def score(self, request: JudgeRequest) -> JudgeResult:
        return await self._process.score(
            self.judge.name, request.messages, request.metrics, request.temperature, request.scale
        )

    async def aclose(self) -> None:
        """Nothing of its own: the process is shared by every judge, and closed apart."""


def _line(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


# -- the child ------------------------------------------------------------------------------


async def _serve() -> None:
    from pytest_llmbench.judging.chat_completions import OpenAIJudge

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT, loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    hello = json.loads(await reader.readline())
    engines = {
        name: OpenAIJudge(judge_from_dict(data), api_key=hello["keys"].get(name))
        for name, data in hello["judges"].items()
    }
    tasks: set[asyncio.Task[None]] = set()

    async def handle(message: dict[str, Any]) -> None:
        try:
            request = JudgeRequest(
                message["messages"],
                tuple(message["metrics"]),
                message["temperature"],
                scale=scale_from_wire(message.get("scale")),
            )
            result = await engines[message["judge"]].score(request)
            reply: dict[str, Any] = {"id": message["id"], "result": dataclasses.asdict(result)}
        except Exception as error:  # a bug here must not take the other calls down
            reply = {"id": message["id"], "error": f"{type(error).__name__}: {error}"}
        out.write(_line(reply))
        out.flush()

    try:
        async for raw in reader:
            task = asyncio.create_task(handle(json.loads(raw)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for engine in engines.values():
            await engine.aclose()


def main() -> None:
    # The parent owns the terminal: a Ctrl-C goes to the whole process group, and the
    # parent decides when to stop (by closing our stdin).
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        asyncio.run(_serve())
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        with open(os.devnull, "wb") as devnull:  # no "Exception ignored" on a closed stdout
            os.dup2(devnull.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
