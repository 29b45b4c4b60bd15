"""Warm cache: a re-run makes no HTTP request and costs about what a dry run costs.

    python tests/perf/bench_warm_cache.py [--samples 200 --latency 0.25 --concurrency 32]

The throughput suite (a generated project, scenario `output: output`, live judge against
tests/support/judge_server.py in its own process via tests/perf/serve.py) is run with the cache
on, in a fresh cache directory: once cold (fills the cache), then --repeat times warm,
interleaved with as many dry runs (`--llmbench-judge=dry-run`) of the same suite.

Figures: HTTP requests the server received during the warm runs (DESIGN.md goal: 0) and
the warm run's wall time against the dry run's (medians; the reference, a ratio near 1).
`--check` exits 1 when a warm run sent any request or did not score every sample.
"""

from __future__ import annotations

import shlex
import sys
from typing import Any

import _perf as P


def main() -> int:
    args = P.parser(__doc__.split("\n\n")[0]).parse_args()
    P.setup(args)
    n, latency, concurrency = args.samples, args.latency, args.concurrency
    P.banner(f"bench_warm_cache: {n} samples, latency {latency:g} s, concurrency {concurrency}")
    with P.workdir(args.keep) as work, P.judge_server(latency) as server:
        print(f"judge server: {shlex.join(server.command)}  ->  {server.url}")
        root = P.write_project(work / "project", n, concurrency, prefetch=True)
        cache = work / "cache"
        print(f"project: {root} ({n} samples, output: output); fresh cache dir {cache}")
        env = {P.URL_VAR: server.url}

        def live(tag: str, quiet: bool) -> dict[str, Any]:
            record = work / f"record-{tag}.json"
            command = P.pytest_command(
                "-q", "-p", "no:cacheprovider", f"--llmbench-cache={cache}",
                f"--llmbench-json={record}", "benchmarks",
            )  # fmt: skip
            server.reset()
            result = P.run(command, root, work / f"log-{tag}.txt", env=env, quiet=quiet)
            stats = server.stats()
            return {"wall": result.wall_s, "requests": stats["requests"], "rc": result.returncode,
                    "judged": P.scored_samples(P.read_record(record))}  # fmt: skip

        def dry(tag: str, quiet: bool) -> dict[str, Any]:
            record = work / f"record-{tag}.json"
            command = P.pytest_command(
                "-q", "-p", "no:cacheprovider", "--llmbench-judge=dry-run",
                f"--llmbench-json={record}", "benchmarks",
            )  # fmt: skip
            server.reset()
            result = P.run(command, root, work / f"log-{tag}.txt", env=env, quiet=quiet)
            stats = server.stats()
            return {"wall": result.wall_s, "requests": stats["requests"], "rc": result.returncode,
                    "judged": P.scored_samples(P.read_record(record))}  # fmt: skip

        print(f"-- cold run ({P.loadavg()})")
        cold = live("cold", False)
        print(
            f"   cold: judged {cold['judged']}/{n}, {cold['requests']} HTTP requests, "
            f"wall {cold['wall']:.2f} s",
            flush=True,
        )
        warm: list[dict[str, Any]] = []
        dries: list[dict[str, Any]] = []
        for r in range(args.repeat):
            print(f"-- round {r + 1}/{args.repeat}  ({P.loadavg()})", flush=True)
            warm.append(live(f"warm-{r}", r > 0))
            dries.append(dry(f"dry-{r}", r > 0))
            print(f"   warm: judged {warm[-1]['judged']}/{n}, {warm[-1]['requests']} HTTP requests, "
                  f"wall {warm[-1]['wall']:.2f} s;  dry-run: judged {dries[-1]['judged']}/{n}, "
                  f"wall {dries[-1]['wall']:.2f} s", flush=True)  # fmt: skip
        load_end = P.loadavg()

    requests = sum(x["requests"] for x in warm)
    complete = all(x["judged"] == n and x["rc"] == 0 for x in warm) and cold["judged"] == n
    warm_wall = P.median([x["wall"] for x in warm])
    dry_wall = P.median([x["wall"] for x in dries])
    ratio = warm_wall / dry_wall
    ok = requests == 0 and complete
    print()
    print(f"cold run: {cold['requests']} HTTP requests for {n} samples, {cold['wall']:.2f} s")
    print(
        f"warm runs: {requests} HTTP requests in {len(warm)} runs (goal 0); every sample scored: "
        f"{'yes' if complete else 'NO'}"
    )
    print(
        f"warm run wall time {warm_wall:.2f} s {P.spread([x['wall'] for x in warm], '{:.2f}')} vs "
        f"dry run {dry_wall:.2f} s {P.spread([x['wall'] for x in dries], '{:.2f}')}: ratio {ratio:.2f} "
        f"(reference 1.0; no stated goal)"
    )
    print(f"SUMMARY bench_warm_cache: warm re-run sent {requests} HTTP requests (goal 0), "
          f"wall {warm_wall:.2f} s = {ratio:.2f}x the dry run ({dry_wall:.2f} s); cold {cold['wall']:.2f} s; "
          f"{P.verdict(ok)}; {load_end}")  # fmt: skip
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
