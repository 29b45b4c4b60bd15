"""High concurrency and live outputs: the plugin against bare httpx clients at concurrency
128 and 256, and a sync `output:` function that sleeps, all in the same run.

    python tests/perf/bench_high_concurrency.py [--latency 0.25 --levels 128,256]

A JudgeServer (tests/support/judge_server.py) with fixed latency runs in a process of its
own (tests/perf/serve.py). At each concurrency level, in turns (--repeat rounds, medians):

  (a) bare, one client: an httpx.AsyncClient with max_connections = concurrency and an
      asyncio.Semaphore(concurrency), POSTing the plugin's own request bodies (the
      configuration that collapses: httpcore scans its pool for every request);
  (b) bare, sharded: the same over ceil(concurrency / 8) clients of 8 connections (the
      plugin's judging/client_pool.CONNECTIONS_PER_CLIENT);
  (c) the plugin, one process: `python -m pytest` on a generated project (`output:
      output`, so items are judged ahead; --llmbench-no-cache; live judge).

Figures are samples per second over the judging window (the server's first request
arrival to its last reply), as ratios of the limit, concurrency / latency. DESIGN.md: at
least 0.8 of the limit at 128 and 256 for the plugin. The server's CPU seconds over each
side's wall time are printed too: near 1.0 the server itself (one Python process) is the
ceiling, as on a loaded 2-core machine, and the sharded bare client is the reference.

Then live outputs: a project whose scenario has `output: app:make`, a sync function that
sleeps --output-sleep seconds and logs each call; `output_concurrency` is left to its
default, the judge's concurrency (32). Printed: the peak of calls in flight (goal: the
output concurrency, not the loop's default executor's min(32, cpus + 4)) and the time from
the first call's start to the last one's end against the ideal, ceil(samples /
output_concurrency) x sleep. `--check` exits 1 below a goal.
"""

from __future__ import annotations

import asyncio
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import _perf as P
import httpx
from bench_throughput import bare_round, plugin_round

from pytest_llmbench.judging.client_pool import CONNECTIONS_PER_CLIENT

OUTPUT_CONCURRENCY = 32
OUTPUT_APP = """\
import threading
import time

LOG = {log!r}
SLEEP_S = {sleep!r}
_lock = threading.Lock()
_now = [0, 0]  # in flight, peak


def make(sample):
    start = time.monotonic()
    with _lock:
        _now[0] += 1
        _now[1] = max(_now[1], _now[0])
    time.sleep(SLEEP_S)
    with _lock:
        _now[0] -= 1
        with open(LOG, "a", encoding="utf-8") as out:
            out.write(f"{{start}} {{time.monotonic()}} {{_now[1]}}\\n")
    return sample.output
"""


async def _sharded(url: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    count = math.ceil(concurrency / CONNECTIONS_PER_CLIENT)  # as the plugin's judge shards
    per = math.ceil(concurrency / count)
    limits = httpx.Limits(max_connections=per, max_keepalive_connections=per)
    clients = [httpx.AsyncClient(timeout=httpx.Timeout(60), limits=limits) for _ in range(count)]
    semaphore = asyncio.Semaphore(concurrency)

    async def one(index: int, body: dict[str, Any]) -> None:
        async with semaphore:
            response = await clients[index % count].post(url, json=body)
            response.raise_for_status()
            response.json()

    start = time.perf_counter()
    await asyncio.gather(*(one(i, b) for i, b in enumerate(bodies)))
    wall = time.perf_counter() - start
    for client in clients:
        await client.aclose()
    return wall


def sharded_round(
    server: P.ServerProcess, bodies: list[dict[str, Any]], concurrency: int
) -> dict[str, Any]:
    server_cpu = server.reset()
    cpu = time.process_time()
    wall = asyncio.run(_sharded(f"{server.url}/v1/chat/completions", bodies, concurrency))
    cpu = time.process_time() - cpu
    stats = server.stats()
    return {"wall": wall, "window": P.window_s(stats), "stats": stats, "judged": len(bodies),
            "cpu": cpu, "server_cpu": stats["cpu_s"] - server_cpu}  # fmt: skip


def level(server: P.ServerProcess, work: Path, concurrency: int, args: Any) -> dict[str, float]:
    """The three sides at one concurrency; their median rates as ratios of the limit."""
    n = args.rounds * concurrency
    limit = concurrency / args.latency
    root = P.write_project(work / f"project-{concurrency}", n, concurrency, prefetch=True)
    bodies = P.request_bodies(root, server.url)
    print(f"-- concurrency {concurrency}: {n} samples, limit {limit:.0f}/s; project {root}")
    plugin_round(server, root, work, [], f"warm-{concurrency}", True)  # untimed
    sides: dict[str, list[dict[str, Any]]] = {"bare-1": [], "bare-sharded": [], "plugin": []}
    for r in range(args.repeat):
        sides["bare-1"].append(bare_round(server, bodies, concurrency))
        sides["bare-sharded"].append(sharded_round(server, bodies, concurrency))
        sides["plugin"].append(plugin_round(server, root, work, [], f"c{concurrency}-{r}", r > 0))
        for side, got in sides.items():
            last = got[-1]
            busy = last["server_cpu"] / last["wall"]  # near 1: the server is the bottleneck
            print(f"   round {r + 1} {side:<13} judged {last['judged']:>5}/{n}, window "
                  f"{last['window'] or float('nan'):.2f} s, peak in flight "
                  f"{last['stats']['peak_in_flight']}, server CPU {busy:.2f} of "
                  "the wall time", flush=True)  # fmt: skip
    ratios = {}
    for side, got in sides.items():
        rates = [x["judged"] / x["window"] for x in got if x["window"]]
        ratios[side] = P.median(rates) / limit
        # CPU per request does not depend on how loaded the machine is, as rates do: the
        # plugin's is its whole run's (pytest and the judge's helper process).
        cpu_ms = P.median([1000 * x["cpu"] / x["judged"] for x in got if x["judged"]])
        print(f"   {side:<13} {P.median(rates):>7.1f}/s = {ratios[side]:.2f} of the limit  "
              f"{P.spread(rates)}; client CPU {cpu_ms:.2f} ms per request")  # fmt: skip
    return ratios


def outputs(server: P.ServerProcess, work: Path, args: Any) -> tuple[int, float, float]:
    """Peak calls in flight, measured time and ideal time of the sync output function."""
    n, sleep = args.output_samples, args.output_sleep
    root = P.write_project(work / "project-outputs", n, OUTPUT_CONCURRENCY, prefetch=True)
    log = work / "outputs.log"
    P.write(root / "app.py", OUTPUT_APP.format(log=str(log), sleep=sleep))
    P.write(root / "pytest.ini", "[pytest]\npythonpath = .\n")
    config = root / "benchmarks" / "llmbench.yaml"
    config.write_text(config.read_text().replace("output: output", "output: app:make"))
    print(f"-- live outputs: {n} samples, `output: app:make` sleeping {sleep:g} s, "
          f"output_concurrency {OUTPUT_CONCURRENCY} (the judge's concurrency); project {root}")  # fmt: skip
    results = []
    for r in range(args.repeat):
        log.unlink(missing_ok=True)
        got = plugin_round(server, root, work, [], f"outputs-{r}", r > 0)
        rows = [line.split() for line in log.read_text().splitlines()]
        peak = max(int(row[2]) for row in rows)
        span = max(float(row[1]) for row in rows) - min(float(row[0]) for row in rows)
        results.append((peak, span))
        print(f"   round {r + 1}: judged {got['judged']}/{n}, {len(rows)} calls, peak in flight "
              f"{peak}, first start to last end {span:.2f} s", flush=True)  # fmt: skip
    ideal = math.ceil(n / OUTPUT_CONCURRENCY) * sleep
    return max(p for p, _ in results), P.median([s for _, s in results]), ideal


def main() -> int:
    p = P.parser(__doc__.split("\n\n")[0])
    p.add_argument("--levels", default="128,256", help="concurrency levels (default 128,256)")
    p.add_argument("--rounds", type=int, default=12, help="samples = rounds x concurrency")
    p.add_argument("--output-samples", type=int, default=128, help="live-output samples")
    p.add_argument("--output-sleep", type=float, default=1.0, help="seconds per output call")
    args = p.parse_args()
    P.setup(args)
    levels = [int(v) for v in args.levels.split(",")]
    P.banner(f"bench_high_concurrency: levels {levels}, latency {args.latency:g} s")
    found: dict[int, dict[str, float]] = {}
    with P.workdir(args.keep) as work, P.judge_server(args.latency) as server:
        print(f"judge server: {shlex.join(server.command)}  ->  {server.url}")
        for concurrency in levels:
            found[concurrency] = level(server, work, concurrency, args)
        peak, span, ideal = outputs(server, work, args)
        load_end = P.loadavg()
    print()
    ok = all(r["plugin"] >= P.GOAL_OF_LIMIT for r in found.values())
    for concurrency, r in found.items():
        print(f"concurrency {concurrency}: plugin {r['plugin']:.2f} of the limit (goal >= "
              f"{P.GOAL_OF_LIMIT}), bare one client {r['bare-1']:.2f}, bare sharded "
              f"{r['bare-sharded']:.2f}")  # fmt: skip
    outputs_ok = peak == OUTPUT_CONCURRENCY and ideal / span >= P.GOAL_OF_LIMIT
    print(f"live outputs: peak in flight {peak} (goal {OUTPUT_CONCURRENCY}), {span:.2f} s "
          f"against an ideal {ideal:.2f} s = {ideal / span:.2f} of ideal speed "
          f"(goal >= {P.GOAL_OF_LIMIT})")  # fmt: skip
    summary = {str(c): {k: round(v, 3) for k, v in r.items()} for c, r in found.items()}
    print(f"SUMMARY bench_high_concurrency: of limit {json.dumps(summary)}; outputs peak {peak}/"
          f"{OUTPUT_CONCURRENCY}, {ideal / span:.2f} of ideal; "
          f"{P.verdict(ok and outputs_ok)}; {load_end}")  # fmt: skip
    return 1 if args.check and not (ok and outputs_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
