"""Serve tests/support/judge_server.JudgeServer in a process of its own, for the perf scripts.

    python tests/perf/serve.py --latency 0.25

Prints one JSON line {"url": ...} once listening on 127.0.0.1, then answers commands read
one per line on stdin, each with one JSON line on stdout:

    stats   requests served, first arrival / last reply (time.monotonic, which is
            system-wide on Linux), peak in flight, connections, the server's CPU seconds,
            and a sha256 of the sorted request bodies
    reset   forget all of the above; answers with the server's CPU seconds so far
    timeline  every chat-completions request's arrival and reply (time.monotonic), in the
            order served: calls in flight over time
    quit    (or end of input) stop

Running the server outside the measured process keeps its CPU off the client's GIL.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for support.judge_server

from support.judge_server import JudgeServer

_CHAT = "/v1/chat/completions"


class TimedJudgeServer(JudgeServer):
    """JudgeServer that also times each chat-completions request."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.arrivals: list[float] = []
        self.replies: list[float] = []

    async def _reply(self, method, path, headers, raw, reader):  # type: ignore[no-untyped-def]
        arrived = time.monotonic()
        try:
            return await super()._reply(method, path, headers, raw, reader)
        finally:
            if method == "POST" and path.split("?", 1)[0].rstrip("/") == _CHAT:
                with self._lock:
                    self.arrivals.append(arrived)
                    self.replies.append(time.monotonic())

    def stats(self) -> dict[str, Any]:
        with self._lock:
            bodies = sorted(
                json.dumps(b, sort_keys=True, ensure_ascii=False) for b in self.requests
            )
            return {
                "requests": len(self.requests),
                "first_arrival": min(self.arrivals, default=None),
                "last_reply": max(self.replies, default=None),
                "peak_in_flight": self.peak_in_flight,
                "connections": self.connections,
                "cpu_s": time.process_time(),
                "bodies_sha256": hashlib.sha256("\n".join(bodies).encode()).hexdigest(),
                "errors": [repr(e) for e in self.errors],
            }

    def timeline(self) -> dict[str, list[float]]:
        with self._lock:
            return {"arrivals": list(self.arrivals), "replies": list(self.replies)}

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.arrivals.clear()
            self.replies.clear()
            self.peak_in_flight = self.in_flight
            self.connections = 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per reply")
    args = parser.parse_args()
    server = TimedJudgeServer(latency_s=args.latency)
    with server:
        print(json.dumps({"url": server.url}), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "stats":
                print(json.dumps(server.stats()), flush=True)
            elif command == "timeline":
                print(json.dumps(server.timeline()), flush=True)
            elif command == "reset":
                server.reset()
                print(json.dumps({"ok": True, "cpu_s": time.process_time()}), flush=True)
            elif command == "quit":
                break
            elif command:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
