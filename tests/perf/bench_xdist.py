"""Judge throughput under xdist and for the plain body, against the same run's references.

    python tests/perf/bench_xdist.py [--samples 200 --latency 0.25 --concurrency 32]

The same scripted judge server as bench_throughput.py (in a process of its own). In turns
(--repeat rounds, medians reported):

  (a) bare: the bare httpx client of bench_throughput.py (the reference);
  (b) one process, `output: output` (judged ahead);
  (c) `-n 2 --dist load` and (d) `-n 2 --dist worksteal`, the same project;
  (e) the plain body `judge(sample.output)` (no `output:`), one process, and (f) `-n 2`.

Figures are samples per second over the judging window (the server's first request to its
last reply) and over the whole pytest wall time, each as a ratio to bare and to one
process. Also printed per mode: requests beyond one per sample (duplicate calls) and the
server's peak requests in flight (the run-wide limit is `concurrency`). Issue 12's goals:
-n 2 >= 0.95 of one process (load and worksteal), zero duplicates, peak <= concurrency;
the plain body >= 0.9 of bare. `--check` exits 1 below them.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import _perf as P
from bench_throughput import bare_round, plugin_round

GOAL_OF_ONE = 0.95
GOAL_PLAIN_OF_BARE = 0.9


def main() -> int:
    args = P.parser(__doc__.split("\n\n")[0]).parse_args()
    P.setup(args)
    n, latency, concurrency = args.samples, args.latency, args.concurrency
    P.banner(f"bench_xdist: {n} samples, latency {latency:g} s, concurrency {concurrency}")
    modes: dict[str, tuple[str, list[str]] | None] = {
        "bare": None,
        "one": ("output", []),
        "n2-load": ("output", ["-n", "2", "--dist", "load"]),
        "n2-worksteal": ("output", ["-n", "2", "--dist", "worksteal"]),
        "plain-one": ("plain", []),
        "plain-n2": ("plain", ["-n", "2"]),
    }
    runs: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    with P.workdir(args.keep) as work, P.judge_server(latency) as server:
        print(f"judge server: {shlex.join(server.command)}  ->  {server.url}")
        roots = {
            "output": P.write_project(work / "project-output", n, concurrency, prefetch=True),
            "plain": P.write_project(work / "project-plain", n, concurrency, prefetch=False),
        }
        for kind, root in roots.items():
            print(f"project ({kind}): {root}")
        bodies = P.request_bodies(roots["output"], server.url)
        print("-- warm-up (untimed): one plugin run")
        plugin_round(server, roots["output"], work, [], "warm-up", False)
        for r in range(args.repeat):
            print(f"-- round {r + 1}/{args.repeat}  ({P.loadavg()})", flush=True)
            for mode, how in modes.items():
                if how is None:
                    got = bare_round(server, bodies, concurrency)
                else:
                    kind, extra = how
                    got = plugin_round(server, roots[kind], work, extra, f"{mode}-{r}", r > 0)
                runs[mode].append(got)
                w = got["window"]
                print(f"   {mode:<13} judged {got['judged']:>5}/{n}, requests {got['stats']['requests']:>5}, "
                      f"window {w if w is None else round(w, 3)} s, wall {got['wall']:.3f} s, "
                      f"peak in flight {got['stats']['peak_in_flight']}", flush=True)  # fmt: skip
        load_end = P.loadavg()

    def rate(mode: str, basis: str) -> float:
        return P.median([x["judged"] / x[basis] for x in runs[mode] if x[basis]])

    bare, one = rate("bare", "window"), rate("one", "window")
    print()
    print(f"{'':<16}{'window/s':>10}{'of bare':>9}{'of one':>8}{'wall/s':>9}{'of one':>8}"
          f"{'dup calls':>11}{'peak':>6}")  # fmt: skip
    dups: dict[str, int] = {}
    peaks: dict[str, int] = {}
    for mode in modes:
        window, wall = rate(mode, "window"), rate(mode, "wall")
        dups[mode] = max(x["stats"]["requests"] - n for x in runs[mode])
        peaks[mode] = max(x["stats"]["peak_in_flight"] for x in runs[mode])
        wall_one = rate("one", "wall")
        print(f"{mode:<16}{window:>10.1f}{window / bare:>9.2f}{window / one:>8.2f}{wall:>9.1f}"
              f"{wall / wall_one:>8.2f}{dups[mode]:>11}{peaks[mode]:>6}")  # fmt: skip
    n2 = min(rate("n2-load", "window"), rate("n2-worksteal", "window")) / one
    plain = rate("plain-one", "window") / bare
    plugin_modes = [m for m in modes if m != "bare"]
    clean = all(dups[m] == 0 and peaks[m] <= concurrency for m in plugin_modes)
    ok = n2 >= GOAL_OF_ONE and plain >= GOAL_PLAIN_OF_BARE and clean
    print()
    print(f"-n 2 (worse of load, worksteal): {n2:.2f} of one process (goal >= {GOAL_OF_ONE}); "
          f"plain body: {plain:.2f} of bare (goal >= {GOAL_PLAIN_OF_BARE}); duplicate calls "
          f"{max(dups[m] for m in plugin_modes)}, peak in flight {max(peaks[m] for m in plugin_modes)} "
          f"(concurrency {concurrency}): {P.verdict(ok)}")  # fmt: skip
    print(f"SUMMARY bench_xdist: {n} samples; -n 2 {n2:.2f} of one process, plain body {plain:.2f} "
          f"of bare, duplicates {max(dups[m] for m in plugin_modes)}, peak "
          f"{max(peaks[m] for m in plugin_modes)}/{concurrency}; {P.verdict(ok)}; {load_end}")  # fmt: skip
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
