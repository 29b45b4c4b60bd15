"""Live judge calls in a helper process, so HTTP never waits on pytest for the GIL.

One child per run: the run's controller (the single process, or the xdist controller)
starts it running ``main()`` (with ``python -c``, this package first on its path) and
talks to it over its stdin and stdout; with ``"listen"`` in the first line the child also
serves a Unix domain socket at that path (in a directory only this user may enter), and
every xdist worker connects there (`JudgeConnection`) instead of starting a child of its
own. Every connection speaks the same protocol, one JSON object a line:

    parent -> child   {"judges": {name: JudgeConfig as a dict}, "keys": {name: key},
                       "line_limit": bytes, "listen": path or absent}
                                                       (first, on stdin only)
                      {"id": n, "judge": name, "messages": [...], "metrics": [...],
                       "temperature": t, "scale": [min, max] or null, "ahead": bool,
                       "join_only": bool, "repeat": k (absent: 0),
                       "taken_here": true (absent: false)}
                      {"ping": k}                      (while calls are pending)
                      {"cancel": n}                    (the parent stopped waiting for n)
    child -> parent   {"ready": true}                  (once, when it serves)
                      {"id": n, "result": JudgeResult as a dict (scores, raw_scores,
                       reasoning and raw_reply included), "started": bool,
                       "claimed": bool}
                      {"id": n, "taken": true}         (an "ahead" call for a request an
                                                        item already took: not made)
                      {"id": n, "absent": true}        (a "join_only" request with no
                                                        call to join)
                      {"id": n, "error": "what went wrong"}
                      {"pong": k}

Every line on either side is at most ``line_limit`` bytes (``LINE_LIMIT``): a request
over it is not sent (that sample is unscored with the reason), and a line over it or not
of this protocol is refused (an error reply when its id can be read) or skipped, so once
the child serves one bad line never ends it or the calls of other samples. (Before its
"ready", a stray line means the child is not speaking this protocol at all, a printing
sitecustomize say: every call is unscored with that reason.)

One limiter per judge for the whole run, and one call per distinct request (`Calls`): a
request equal to one in flight, or to one finished that no item has taken yet, is answered
from that call. "started" says this request made the call (it pays for it, in the budget
ledger); "claimed" says it is the first item request ("ahead": false) to take it (the call
counts in that process's tally). A call made "ahead" (judging ahead) waits for its item.

The child runs one OpenAIJudge per judge on its own asyncio loop: concurrency, retries,
the adaptive limiter and the structured-output downgrade all live there, as they would in
process. The parent's loop only writes and reads lines. End of stdin ends the child, so a
killed pytest leaves no orphan. API keys travel on the pipe, never in argv or the
environment of anything the child starts: the child is started without the key variables and
removes them from its own environment should they be there.

No wait on the child is without end. While calls are pending the parent pings it every
second: a child that says nothing at all for `stall_s` (its loop wedged; `startup_s`
before it has said it is ready, as imports on a loaded machine can be slow), or that the
kernel shows stopped (SIGSTOP) for `stopped_s`, is killed with SIGKILL, and every pending
and later call is unscored with the reason. A call the child is alive but silent about
(a reply lost) is given up after twice the judge's call bound plus a margin, counted from
the call's sending or the judge's last reply, whichever is later: a call queued in the
child behind others starts once one of them ends, and each ends within its bound.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import hashlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.judge_config import JudgeConfig, Price, RetryPolicy
from pytest_llmbench.judging.judge_protocol import ABSENT, TAKEN, JudgeRequest
from pytest_llmbench.judging.result import JudgeResult
from pytest_llmbench.redaction import redact, url_secrets

__all__ = ["Calls", "JudgeConnection", "JudgeProcess", "RemoteJudge", "judge_from_dict", "main"]

_STDERR_LINES = 20  # kept from the child's stderr, for the message if it dies
# The longest line either side reads or writes: a request carries a rendered prompt. A
# request over it is not sent (its sample is unscored, saying so); a line over it that
# arrives anyway is skipped, answered with an error when its id can be read.
LINE_LIMIT = 64 * 1024 * 1024
_READ_CHUNK = 1 << 16
_STDERR_LINE_LIMIT = 1 << 16  # a stderr line kept whole; a longer one by its first bytes
_ID_PREFIX = re.compile(rb'\A\s*\{\s*"id"\s*:\s*(\d{1,15})\s*[,}]')
PING_EVERY_S = 1.0
STALL_S = 10.0  # a live child answers a ping in milliseconds
STARTUP_S = 60.0
STOPPED_S = 3.0
CALL_MARGIN_S = 10.0
# Beside the socket: why the run's helper is gone, written by the controller, read by a
# worker whose connection closed (it cannot see the exit status of another's child).
GONE_FILE = "gone.txt"
GONE_WAIT_S = 2.0
# Finished "ahead" calls no item has taken yet, kept for their items: beyond this many the
# oldest is forgotten (its item then asks anew), so a body that never takes them costs no
# unbounded memory.
UNTAKEN_LIMIT = 4096


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


def _result_to_dict(result: JudgeResult) -> dict[str, Any]:
    # Field by field: dataclasses.asdict deep-copies every value on the way, a cost per
    # reply the helper's one loop pays at hundreds of replies a second.
    return {name: getattr(result, name) for name in _RESULT_ORDER}


def result_from_dict(data: object) -> JudgeResult:
    """A JudgeResult as the child sent it; ValueError for anything else."""
    if not isinstance(data, dict) or not set(data) <= _RESULT_FIELDS:
        raise ValueError("not a judge result")
    result = JudgeResult(**data)
    if result.status not in ("scored", "unscored") or not isinstance(result.scores, dict):
        raise ValueError("not a judge result")
    return result


# One call's result: never the mean of a sample's repeats (made apart, in the item process).
_RESULT_ORDER = tuple(f.name for f in dataclasses.fields(JudgeResult) if f.name != "repeats")
_RESULT_FIELDS = frozenset(_RESULT_ORDER)


def oversized(size: int, limit: int) -> str:
    return (
        f"the judge request is {size:,} bytes, over the judge helper's line limit of "
        f"{limit:,} bytes (a sample or prompt this long cannot be judged)"
    )


@dataclasses.dataclass(frozen=True)
class Overlong:
    """A line longer than ``limit``, skipped: only its first bytes are kept."""

    head: bytes
    limit: int


class BoundedLines:
    """The lines of ``reader`` without their newline (a last one without a newline too),
    each at most ``limit`` bytes; a longer one is read past and yielded as ``Overlong``,
    so no line of any length costs more than ``limit`` bytes of memory or stops the rest.
    ``limit`` may be changed between lines (the child learns it from the first)."""

    def __init__(self, reader: asyncio.StreamReader, limit: int) -> None:
        self.reader, self.limit = reader, limit

    async def __aiter__(self) -> AsyncIterator[bytes | Overlong]:
        buffer = bytearray()
        skipping: Overlong | None = None
        while chunk := await self.reader.read(_READ_CHUNK):
            start = 0
            while (end := chunk.find(b"\n", start)) != -1:
                piece = chunk[start:end]
                start = end + 1
                if skipping is not None:
                    yield skipping
                elif len(buffer) + len(piece) > self.limit:
                    yield Overlong(bytes((buffer + piece)[:64]), self.limit)
                else:
                    yield bytes(buffer + piece)
                buffer.clear()
                skipping = None
            rest = chunk[start:]
            if skipping is None and len(buffer) + len(rest) > self.limit:
                skipping = Overlong(bytes((buffer + rest)[:64]), self.limit)
                buffer.clear()
            elif skipping is None:
                buffer += rest
        if skipping is not None:
            yield skipping
        elif buffer:
            yield bytes(buffer)


def _id_of(head: bytes) -> int | None:
    """The request id at the start of a line as ``_line`` writes it (``{"id":n,...``)."""
    match = _ID_PREFIX.match(head)
    return int(match.group(1)) if match else None


def read_request(raw: bytes | Overlong) -> dict[str, Any] | tuple[int | None, str]:
    """A parent's line as the child acts on it: a ping, a cancel or a well-formed request
    (a dict), or (the request id if it can be read, why the line is refused)."""
    if isinstance(raw, Overlong):
        return _id_of(raw.head), f"request line over {raw.limit:,} bytes"
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):
        return _id_of(raw[:64]), "request line is not JSON"
    if not isinstance(message, dict):
        return None, "request line is not a JSON object"
    for control in ("ping", "cancel"):
        if control in message:
            value = message[control]
            if isinstance(value, bool) or not isinstance(value, int):
                # A pong echoes its ping: only a number, so no answer outgrows its line.
                return None, f"{control} is not a whole number"
            return message
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int):
        return None, "request has no id"
    problem = _request_problem(message)
    return (request_id, problem) if problem else message


def _request_problem(message: Mapping[str, Any]) -> str | None:
    messages = message.get("messages")
    if not isinstance(messages, list) or not all(
        isinstance(m, dict) and all(isinstance(v, str) for v in m.values()) for m in messages
    ):
        return "request messages are not a list of chat messages"
    metrics = message.get("metrics")
    if not isinstance(metrics, list) or not all(isinstance(m, str) for m in metrics):
        return "request metrics are not a list of names"
    if not isinstance(message.get("judge"), str):
        return "request names no judge"
    temperature = message.get("temperature")
    if temperature is not None and (
        isinstance(temperature, bool) or not isinstance(temperature, (int, float))
    ):
        return "request temperature is not a number"
    if not isinstance(message.get("taken_here", False), bool):
        return "request taken_here is not true or false"
    repeat = message.get("repeat", 0)
    if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat < 1000:
        return "request repeat is not a whole number from 0"
    try:
        scale_from_wire(message.get("scale"))
    except (TypeError, ValueError, OverflowError):
        return "request scale is not [min, max]"
    return None


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
    """The parent's end: started on first use from the background loop, one per run (with
    `listen`, the path of the socket the workers connect to) or, in process mode without
    a shared helper, one per process."""

    def __init__(
        self,
        judges: Mapping[str, JudgeConfig],
        keys: Mapping[str, str | None],
        *,
        listen: str | None = None,
        ping_every_s: float = PING_EVERY_S,
        stall_s: float = STALL_S,
        startup_s: float = STARTUP_S,
        stopped_s: float = STOPPED_S,
        call_margin_s: float = CALL_MARGIN_S,
        line_limit: int = LINE_LIMIT,
    ) -> None:
        self._line_limit = line_limit
        self._judges = dict(judges)
        self._keys = dict(keys)
        self._listen = listen
        self._writer: asyncio.StreamWriter | None = None  # the child's stdin, or the socket
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
        self._ping_every_s = ping_every_s
        self._stall_s = stall_s
        self._startup_s = startup_s
        self._ready = False  # the child said it serves
        self._stopped_s = stopped_s
        self._call_margin_s = call_margin_s
        self._sent: dict[int, tuple[str, float]] = {}  # pending id -> (judge, sent at)
        self._replied_at: dict[str, float] = {}  # judge -> when its last reply came
        self._heard_at = 0.0  # when the child last said anything, pongs included
        self._pings = 0
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def ready(self) -> bool:
        """The child said it serves (and, with `listen`, that its socket accepts)."""
        return self._ready

    async def start(self) -> None:
        """Start the child (once; later callers wait for the first)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._spawn())
        await asyncio.shield(self._starting)

    async def wait_ready(self) -> bool:
        """Start the child and wait until it serves (or is gone): whether it serves."""
        await self.start()
        loop = asyncio.get_running_loop()
        until = loop.time() + self._startup_s
        while not self._ready and self._gone is None and loop.time() < until:
            await asyncio.sleep(0.01)
        return self._ready and self._gone is None

    async def _spawn(self) -> None:
        try:
            process = await asyncio.create_subprocess_exec(
                *_child_command(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=_without_keys(os.environ, self._judges.values()),
            )
        except Exception as error:  # OSError, or a child watcher a user set up
            self._gone = f"could not start the judge process: {error}"
            raise JudgeProcessError(self._gone) from None
        self._process = process
        assert process.stdin is not None and process.stdout is not None
        assert process.stderr is not None
        hello: dict[str, Any] = {
            "judges": {name: judge_to_dict(j) for name, j in self._judges.items()},
            "keys": self._keys,
            "line_limit": self._line_limit,
        }
        if self._listen is not None:
            hello["listen"] = self._listen
        process.stdin.write(_line(hello))
        self._writer = process.stdin
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
        *,
        ahead: bool = False,
        join_only: bool = False,
        repeat: int = 0,
        taken_here: bool = False,
    ) -> JudgeResult:
        if self._gone is None:
            with contextlib.suppress(JudgeProcessError):  # _gone says why
                await self.start()
        writer = self._writer
        if self._gone is not None or writer is None:
            return JudgeResult(status="unscored", reason=self._gone or "judge process not running")
        self._next_id += 1
        request_id = self._next_id
        request: dict[str, Any] = {
            "id": request_id,
            "judge": judge,
            "messages": messages,
            "metrics": list(metrics),
            "temperature": temperature,
            "scale": list(scale) if scale is not None else None,
            "ahead": ahead,
            "join_only": join_only,
        }
        if repeat:
            request["repeat"] = repeat
        if taken_here:
            request["taken_here"] = True
        line = _line(request)
        if len(line) > self._line_limit:
            return JudgeResult(status="unscored", reason=oversized(len(line), self._line_limit))
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[JudgeResult] = loop.create_future()
        self._pending[request_id] = reply
        self._sent[request_id] = (judge, loop.time())
        try:
            writer.write(line)
            if self._watchdog is None or self._watchdog.done():
                self._watchdog = asyncio.create_task(self._watch())
            return await reply
        finally:
            self._pending.pop(request_id, None)
            self._sent.pop(request_id, None)

    # -- liveness ----------------------------------------------------------------------------

    async def _watch(self) -> None:
        """While calls are pending: ping, and end a child that stopped answering."""
        loop = asyncio.get_running_loop()
        self._heard_at = loop.time()  # silence counts only while something is asked
        stopped_since: float | None = None
        due = loop.time() + self._ping_every_s
        while self._pending and self._gone is None:
            await asyncio.sleep(max(0.0, due - loop.time()))
            now = loop.time()
            if now - due > self._ping_every_s:
                # This loop was held up itself (pytest stopped, a starved machine): the
                # child's silence meanwhile is not its own.
                self._heard_at, stopped_since = now, None
            due = now + self._ping_every_s
            pid = self.pid
            if pid is None or self._gone is not None:
                continue
            if _process_state(pid) == "T":
                stopped_since = now if stopped_since is None else stopped_since
            else:
                stopped_since = None
            silent = now - self._heard_at
            if stopped_since is not None and now - stopped_since >= self._stopped_s:
                self._kill(f"stopped answering (stopped by a signal); killed after {silent:.0f} s")
                return
            if silent >= (self._stall_s if self._ready else max(self._stall_s, self._startup_s)):
                self._kill(f"stopped answering; killed after {silent:.0f} s")
                return
            self._give_up_overdue(now)
            self._pings += 1
            self._send({"ping": self._pings})

    def _give_up_overdue(self, now: float) -> None:
        for request_id, (judge, sent_at) in list(self._sent.items()):
            config = self._judges.get(judge)
            bound = config.call_bound_s if config is not None else 0.0
            since = max(sent_at, self._replied_at.get(judge, sent_at))
            if now - since <= 2 * bound + self._call_margin_s:
                continue
            reply = self._pending.get(request_id)
            if reply is not None and not reply.done():
                reply.set_result(
                    JudgeResult(
                        status="unscored",
                        reason=f"judge helper process gave no answer to this call in "
                        f"{now - sent_at:.0f} s; given up",
                    )
                )
            del self._sent[request_id]
            self._send({"cancel": request_id})  # the child stops working on it

    def _kill(self, what: str) -> None:
        self._fail(f"judge helper process {what}")
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGKILL)  # a stopped process dies of it too

    def _send(self, data: Mapping[str, Any]) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            writer.write(_line(data))

    async def _read_replies(
        self, process: asyncio.subprocess.Process | None, stdout: asyncio.StreamReader
    ) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for raw in BoundedLines(stdout, self._line_limit):
                self._heard_at = loop.time()
                if isinstance(raw, Overlong):
                    self._answer(_id_of(raw.head), f"sent a reply line of over {raw.limit:,} bytes")
                    continue
                try:
                    data = json.loads(raw)
                except (ValueError, RecursionError):
                    data = None
                if not isinstance(data, dict) and not self._ready:
                    # Before it says it serves, a stray line (a sitecustomize that prints)
                    # means the child does not speak this protocol at all.
                    raise ValueError("not a JSON object")
                # Once it serves, one bad line is skipped: its call's own bound gives it up.
                self._deliver(data)
        except ConnectionError:
            pass  # the other end went (a socket reset): as at the end of its output
        except Exception as error:  # a bug here: no call may wait forever
            self._fail(f"judge process sent an unreadable reply ({type(error).__name__})")
            return
        await self._exited(process)

    def _answer(self, request_id: int | None, what: str) -> None:
        """Unscore the call ``request_id`` (if still waiting): the child ``what``."""
        reply = self._pending.get(request_id) if request_id is not None else None
        if reply is not None and not reply.done():
            reply.set_result(JudgeResult(status="unscored", reason=f"judge process {what}"))

    def _deliver(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        if data.get("ready") is True:
            self._ready = True
            return
        request_id = data.get("id")
        sent = self._sent.get(request_id) if isinstance(request_id, int) else None
        if sent is not None:
            self._replied_at[sent[0]] = asyncio.get_running_loop().time()
        reply = self._pending.get(request_id) if isinstance(request_id, int) else None
        if reply is None or reply.done():
            return  # a pong, or the answer to a call given up
        if "result" in data:
            try:
                result = result_from_dict(data["result"])
            except (TypeError, ValueError):
                self._answer(request_id, "sent a reply that is not a judge result")
                return
            result.started = data.get("started") is not False
            result.claimed = data.get("claimed") is not False
            reply.set_result(result)
        elif data.get("taken") is True or data.get("absent") is True:
            reason = TAKEN if data.get("taken") is True else ABSENT
            reply.set_result(
                JudgeResult(status="unscored", reason=reason, started=False, claimed=False)
            )
        else:
            error = redact(str(data.get("error")), self._secrets)
            reply.set_result(JudgeResult(status="unscored", reason=f"judge process: {error}"))

    async def _read_stderr(self, stderr: asyncio.StreamReader) -> None:
        # Bounded like every other line: a long one (a traceback's repr of a huge value)
        # would end an unbounded readline, nobody would drain the pipe, and the child
        # would block on its next write and be killed as stalled.
        async for raw in BoundedLines(stderr, _STDERR_LINE_LIMIT):
            text = raw.head if isinstance(raw, Overlong) else raw
            self._stderr.append(text.decode("utf-8", "replace").rstrip())

    async def _exited(self, process: asyncio.subprocess.Process | None) -> None:
        assert process is not None
        code = await process.wait()
        if self._listen is not None:
            # A worker that found the helper stopped killed it, and said why, first.
            with contextlib.suppress(OSError):
                said_first = Path(self._listen).with_name(GONE_FILE).read_text("utf-8")[:2000]
                if said_first:
                    self._fail(said_first)
                    return
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
            if self._listen is not None and reason != "judge process closed":
                _say_gone(Path(self._listen).with_name(GONE_FILE), reason)
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
            if self._writer is not None and not self._writer.is_closing():
                self._writer.close()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
            await asyncio.gather(*self._readers, return_exceptions=True)
        finally:
            self._fail(self._gone)  # a call still waiting gets its answer
            if self._watchdog is not None:
                self._watchdog.cancel()


class JudgeConnection(JudgeProcess):
    """An xdist worker's end: the run's helper, started by the controller, reached over its
    socket at `path`. Liveness as for the child itself (pings; a helper that stops
    answering is killed, by its `pid`); a connection that closes leaves every call of this
    worker unscored with the reason."""

    def __init__(
        self,
        judges: Mapping[str, JudgeConfig],
        path: str,
        pid: int,
        *,
        ping_every_s: float = PING_EVERY_S,
        stall_s: float = STALL_S,
        stopped_s: float = STOPPED_S,
    ) -> None:
        super().__init__(
            judges, {}, ping_every_s=ping_every_s, stall_s=stall_s, stopped_s=stopped_s
        )
        self._path = path
        self._pid = pid
        self._ready = True  # the controller waited for it before starting the workers

    @property
    def pid(self) -> int | None:
        return self._pid

    async def _spawn(self) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(self._path, limit=LINE_LIMIT)
        except OSError as error:
            self._gone = (
                f"could not reach the run's judge helper process (pid {self._pid}) at "
                f"{self._path}: {error.strerror or error}"
            )
            raise JudgeProcessError(self._gone) from None
        self._writer = writer
        self._readers = [asyncio.create_task(self._read_replies(None, reader))]

    async def _exited(self, process: asyncio.subprocess.Process | None) -> None:
        # The controller, the helper's parent, says why it is gone, as it sees it.
        said = Path(self._path).with_name(GONE_FILE)
        loop = asyncio.get_running_loop()
        until = loop.time() + GONE_WAIT_S
        reason = ""
        # Only while calls wait for the answer: at the end of a run nobody needs it.
        while not reason and self._pending and self._gone is None and loop.time() < until:
            with contextlib.suppress(OSError):
                reason = said.read_text("utf-8", "replace")[:2000]
            if not reason:
                await asyncio.sleep(0.05)
        self._fail(
            reason or f"lost the connection to the run's judge helper process (pid {self._pid})"
        )

    def _kill(self, what: str) -> None:
        self._fail(f"judge helper process {what}")
        # Said for the whole run before the kill: the controller and the other workers
        # then give the same reason.
        _say_gone(Path(self._path).with_name(GONE_FILE), self._gone or what)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self._pid, signal.SIGKILL)

    async def aclose(self) -> None:
        self._gone = self._gone or "judge connection closed"
        if self._starting is not None:
            await asyncio.gather(self._starting, return_exceptions=True)
        try:
            writer = self._writer
            if writer is not None and not writer.is_closing():
                writer.close()
            if self._readers:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(
                        asyncio.gather(*self._readers, return_exceptions=True), timeout=10
                    )
        finally:
            for reader in self._readers:
                reader.cancel()
            self._fail(self._gone)
            if self._watchdog is not None:
                self._watchdog.cancel()


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
            self.judge.name,
            request.messages,
            request.metrics,
            request.temperature,
            request.scale,
            ahead=request.ahead,
            join_only=request.join_only,
            repeat=request.repeat,
            taken_here=request.taken_here,
        )

    async def aclose(self) -> None:
        """Nothing of its own: the process is shared by every judge, and closed apart."""


def _say_gone(path: Path, reason: str) -> None:
    """Why the run's helper is gone, for every process of the run; the first to say wins."""
    with contextlib.suppress(OSError), open(path, "x", encoding="utf-8") as out:
        out.write(reason)


def _line(data: Mapping[str, Any]) -> bytes:
    # "replace": a lone surrogate (a JSON "\\ud800" escape in a dataset or a server's
    # message) must not stop the line, which would leave its call waiting.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace") + b"\n"


def _process_state(pid: int) -> str | None:
    """The kernel's one-letter state of `pid` ("T": stopped by a signal), where /proc
    shows it; None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            text = stat.read()
    except OSError:
        return None
    # pid (comm) state ...: comm may hold spaces and parentheses, so split after the last ")".
    fields = text.rsplit(")", 1)[-1].split()
    return fields[0] if fields else None


def _without_keys(environ: Mapping[str, str], judges: Iterable[JudgeConfig]) -> dict[str, str]:
    """The child's environment: this one without the judges' key variables (the keys go
    on the pipe), so not even /proc/<pid>/environ of the child shows them."""
    names = {judge.api_key_env for judge in judges if judge.api_key_env}
    return {name: value for name, value in environ.items() if name not in names}


# -- the child ------------------------------------------------------------------------------


def _forget_keys(judges: Iterable[Mapping[str, Any]]) -> None:
    """Remove the judges' key variables from this process's environment, however it was
    started: the key came on the pipe, and nothing this process starts inherits it."""
    for judge in judges:
        name = judge.get("api_key_env")
        if isinstance(name, str):
            os.environ.pop(name, None)


def request_key(message: Mapping[str, Any]) -> str:
    """What makes two requests the same call: the judge and everything it sends, and which
    of the sample's repeats it is (each repeat is a call of its own)."""
    asked = [
        message.get("judge"),
        message.get("messages"),
        message.get("metrics"),
        message.get("temperature"),
        message.get("scale"),
    ]
    if message.get("repeat"):
        asked.append(message["repeat"])
    text = json.dumps(asked, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()


@dataclasses.dataclass
class _Call:
    task: asyncio.Task[JudgeResult]
    claimed: bool = False  # an item request took it: it leaves the table once done
    waiters: int = 0


class Calls:
    """One call per distinct request, for every connection of the run's helper.

    A request equal to a call in flight, or to a finished one no item request has taken,
    waits for that call; an item request equal to a call another item took is a call of
    its own (each item is judged once, whatever asked ahead). Once an item request
    ("ahead": false) has taken a call and it is done, the table forgets it and remembers
    the request as taken: a later "ahead" call for it is not made. A call nobody waits
    for any more (every asker gave it up) is cancelled; one whose asker's connection
    closed (a crashed worker) is not: a call made ahead still answers the item's new
    worker, while a call the crashed item itself had taken is made again for the item's
    rerun (it was that item's call). An "ahead" request equal to a taken call still in
    flight joins it (started and claimed false); "taken" comes once it is done. A call
    asked "taken_here" is taken by its asker's own item once done (the asker answers that
    item itself): forgotten then, and remembered as taken."""

    def __init__(
        self,
        score: Callable[[Mapping[str, Any]], Awaitable[JudgeResult]],
        *,
        untaken_limit: int = UNTAKEN_LIMIT,
    ) -> None:
        self._score = score
        self._table: dict[str, _Call] = {}
        self._taken: set[str] = set()
        self._untaken_limit = untaken_limit

    def __len__(self) -> int:
        return len(self._table)

    async def ask(self, message: Mapping[str, Any]) -> tuple[JudgeResult, bool, bool] | str:
        """(result, started, claimed), or why no call was made: "taken" (an "ahead" call
        for a request already taken) or "absent" (a "join_only" request, nothing to join)."""
        key = request_key(message)
        ahead = message.get("ahead") is True
        call = self._table.get(key)
        if call is None and ahead and key in self._taken:
            return "taken"
        if message.get("join_only") is True and (call is None or (call.claimed and not ahead)):
            return "absent"
        if call is not None and call.claimed and not ahead:
            # Another item took that call: this item (the same sample run again, a
            # repeat) is judged anew, as it would be without the helper.
            return await self._score(message), True, True
        started = call is None
        if call is None:
            call = _Call(asyncio.ensure_future(self._score(message)))
            self._table[key] = call
            self._bound()
        claimed = not ahead and not call.claimed
        call.claimed = call.claimed or claimed
        call.waiters += 1
        try:
            result = await asyncio.shield(call.task)
        except asyncio.CancelledError:
            call.waiters -= 1
            if call.waiters == 0 and not call.task.done():
                call.task.cancel()
                self._forget(key, call)
            elif call.task.done() and call.claimed:
                # Cancelled just as it finished: taken all the same (else the entry stays,
                # and a later "ahead" call would join an old result).
                self._forget(key, call)
                self._taken.add(key)
            raise
        except Exception:
            call.waiters -= 1
            self._forget(key, call)  # a request the judge could not even read: not kept
            raise
        call.waiters -= 1
        if call.claimed or message.get("taken_here") is True:
            self._forget(key, call)
            self._taken.add(key)
        return dataclasses.replace(result), started, claimed

    def _forget(self, key: str, call: _Call) -> None:
        if self._table.get(key) is call:
            del self._table[key]

    def _bound(self) -> None:
        if len(self._table) <= self._untaken_limit:
            return
        for key, call in list(self._table.items()):
            if call.task.done() and not call.claimed and not call.waiters:
                del self._table[key]
                if len(self._table) <= self._untaken_limit:
                    return


class _Connection:
    """One connection's read loop: requests, pings and cancels, answered on `write`; no
    line longer than `limit` is read whole or answered."""

    def __init__(self, calls: Calls, write: Callable[[bytes], None], limit: int) -> None:
        self._calls = calls
        self._write = write
        self.limit = limit
        self.tasks: dict[int, asyncio.Task[None]] = {}

    def forget(self, request_id: int, _: object) -> None:
        self.tasks.pop(request_id, None)

    async def handle(self, message: dict[str, Any]) -> None:
        try:
            answer = await self._calls.ask(message)
            # Encoded here, inside the try: a reply that cannot be written still answers.
            if isinstance(answer, str):
                line = _line({"id": message["id"], answer: True})
            else:
                result, started, claimed = answer
                line = _line(
                    {
                        "id": message["id"],
                        "result": _result_to_dict(result),
                        "started": started,
                        "claimed": claimed,
                    }
                )
        except Exception as error:  # a bug here must not take the other calls down
            line = _line({"id": message["id"], "error": f"{type(error).__name__}: {error}"})
        if len(line) > self.limit:
            line = _line({"id": message["id"], "error": f"reply line over {self.limit:,} bytes"})
        self._write(line)

    async def serve(self, lines: AsyncIterator[bytes | Overlong]) -> None:
        async for raw in lines:
            message = read_request(raw)
            if isinstance(message, tuple):
                # A line this end cannot act on: refused, and the connection serves on.
                request_id, why = message
                if request_id is not None:
                    self._write(_line({"id": request_id, "error": why}))
                else:
                    print(f"llmbench judge helper: {why}; line skipped", file=sys.stderr)
                continue
            if "ping" in message:
                # Answered from the read loop: a pong says this loop still turns.
                self._write(_line({"pong": message["ping"]}))
                continue
            if "cancel" in message:
                cancel = message["cancel"]
                cancelled = self.tasks.pop(cancel, None) if isinstance(cancel, int) else None
                if cancelled is not None:
                    cancelled.cancel()
                continue
            request_id = message["id"]
            task = asyncio.create_task(self.handle(message))
            self.tasks[request_id] = task
            task.add_done_callback(functools.partial(self.forget, request_id))

    async def drop(self) -> None:
        """The connection closed: stop answering it (the calls themselves go on)."""
        for task in list(self.tasks.values()):
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)


class Coalesced:
    """Lines written within one turn of the loop, sent together at its end: one write (and
    one system call) for the tens of replies a turn finishes at high concurrency, instead
    of one each. Once sending fails (the other end went), later lines are dropped: the
    read side sees the end of its input and ends the connection."""

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send
        self._lines: list[bytes] = []
        self._failed = False

    def write(self, line: bytes) -> None:
        if self._failed:
            return
        if not self._lines:
            asyncio.get_running_loop().call_soon(self.flush)
        self._lines.append(line)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        if lines and not self._failed:
            try:
                self._send(b"".join(lines))
            except OSError:  # a broken pipe or a reset socket
                self._failed = True


async def serve_worker(
    calls: Calls, limit: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One xdist worker's connection to the run's helper, until it closes. A line it cannot
    act on is refused as on stdin (an error reply when its id can be read), and the
    connection serves on."""

    def send(data: bytes) -> None:
        if not writer.is_closing():
            writer.write(data)

    connection = _Connection(calls, Coalesced(send).write, limit)
    try:
        await connection.serve(aiter(BoundedLines(reader, limit)))
    except Exception:  # a socket error (a reset): this connection ends, the others go on
        pass
    finally:
        # Not the calls: a call a crashed worker asked answers its item's next worker.
        connection.tasks.clear()
        writer.close()


async def _serve() -> None:
    from pytest_llmbench.judging.chat_completions import OpenAIJudge

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer
    bounded = BoundedLines(reader, LINE_LIMIT)
    lines = aiter(bounded)
    first = await anext(lines, b"")
    hello = json.loads(first if isinstance(first, bytes) else b"")
    _forget_keys(hello["judges"].values())
    limit = bounded.limit = int(hello.get("line_limit", LINE_LIMIT))
    engines = {
        name: OpenAIJudge(judge_from_dict(data), api_key=hello["keys"].get(name))
        for name, data in hello["judges"].items()
    }

    async def score(message: Mapping[str, Any]) -> JudgeResult:
        request = JudgeRequest(
            message["messages"],
            tuple(message["metrics"]),
            message["temperature"],
            scale=scale_from_wire(message.get("scale")),
        )
        return await engines[message["judge"]].score(request)

    calls = Calls(score)

    def send(data: bytes) -> None:
        out.write(data)
        out.flush()

    coalesced = Coalesced(send)
    write = coalesced.write

    server = None
    if isinstance(hello.get("listen"), str):
        server = await asyncio.start_unix_server(
            functools.partial(serve_worker, calls, limit), hello["listen"], limit=LINE_LIMIT
        )
    write(_line({"ready": True}))
    own = _Connection(calls, write, limit)
    try:
        await own.serve(lines)
    finally:
        coalesced.flush()
        if server is not None:
            server.close()
        await own.drop()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for engine in engines.values():
            await engine.aclose()


# A path: the helper runs under cProfile and writes its stats to <path>.<pid> as it ends.
PROFILE_VAR = "LLMBENCH_HELPER_PROFILE"


def main() -> None:
    # The parent owns the terminal: a Ctrl-C goes to the whole process group, and the
    # parent decides when to stop (by closing our stdin).
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    profile = os.environ.get(PROFILE_VAR)
    if profile:  # for finding where the client's CPU goes (tests/perf/README.md)
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        asyncio.run(_serve())
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        if profile:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{os.getpid()}")
        with open(os.devnull, "wb") as devnull:  # no "Exception ignored" on a closed stdout
            os.dup2(devnull.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
