"""The history page in a real headless Chromium: it loads without console errors, its
charts are in the rendered DOM, and the screenshot shows them.

Skipped when /usr/bin/chromium is absent (Debian: `apt-get install -y chromium`), unless
LLMBENCH_REQUIRE_CHROMIUM=1, which makes its absence a failure (CI sets it).
"""

from __future__ import annotations

import base64
import hashlib
import html
import math
import os
import random
import re
import struct
import subprocess
import zlib
from collections.abc import Mapping
from pathlib import Path

import pytest
from support.records import entry, make_record, nightly_run, variants_run, with_fingerprint

from pytest_llmbench.cli import main as cli
from pytest_llmbench.reporting.text_format import interval, number, signed
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import variants as variants_mod
from pytest_llmbench.results.schema import RunRecord, SampleRecord
from pytest_llmbench.results.statistics import Bounds, paired_difference

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1200, 1600


@pytest.fixture
def chromium() -> Path:
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("LLMBENCH_REQUIRE_CHROMIUM") == "1":
        pytest.fail(
            f"LLMBENCH_REQUIRE_CHROMIUM=1 but {CHROMIUM} is absent: apt-get install -y chromium"
        )
    pytest.skip(f"{CHROMIUM} is absent (Debian: apt-get install -y chromium)")


def browse(
    chromium: Path, page: Path, tmp_path: Path, *mode: str, fragment: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(chromium),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            f"--window-size={WIDTH},{HEIGHT}",
            *mode,
            page.as_uri() + fragment,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )


def console_errors(stderr: str) -> list[str]:
    """Chromium logs a page's console messages (and uncaught errors) as CONSOLE lines."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def png_rows(path: Path) -> tuple[int, int, list[bytes]]:
    """(width, height, the filtered scanlines) of a PNG, with nothing but zlib."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    chunks, pos = [], 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    channels = {2: 3, 6: 4}[colour]
    stride = 1 + width * channels * depth // 8
    return width, height, [raw[i : i + stride] for i in range(0, len(raw), stride)]


def scored(position: int, accuracy: float, latency: float) -> SampleRecord:
    sample = entry(position, accuracy)
    sample["scores"]["latency_seconds"] = latency
    return sample


def history_folder(tmp_path: Path) -> Path:
    latency = {
        "pass": 210.0,
        "warn": 240.0,
        "better": "lower",
        "source": "field",
        "aggregate": "mean",
    }
    fingerprints = with_fingerprint("metrics", latency_seconds=latency)
    runs = tmp_path / "benchmarks"
    shifts = [-0.12, -0.05, 0.0, 0.03, -0.02, 0.05, 0.04, 0.06]
    for day, shift in enumerate(shifts, 10):
        samples = [
            scored(p, min(1.0, 0.82 + shift + 0.03 * (p % 4 - 1.5)), 250.0 - 8 * (day - 10) + p)
            for p in range(12)
        ]
        record = make_record(
            samples, fingerprints=fingerprints, run=nightly_run(day), cost=0.01 * day
        )
        record_mod.write(record, runs / f"{day}.json")
    return runs


def test_the_history_page_loads_without_console_errors_and_shows_its_charts(
    chromium: Path, tmp_path: Path
) -> None:
    page = tmp_path / "history.html"
    assert cli.main(["history", str(history_folder(tmp_path)), "--html", str(page)]) == 0

    dom = browse(chromium, page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_errors(dom.stderr) == []
    assert dom.stdout.count("<svg ") == 2  # accuracy and latency_seconds
    assert dom.stdout.count('<circle class="point') == 16
    assert dom.stdout.count('class="band-pass"') == 16

    shot = tmp_path / "history.png"
    done = browse(chromium, page, tmp_path, f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_errors(done.stderr) == []
    assert shot.stat().st_size > 20_000
    width, height, rows = png_rows(shot)
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(set(rows)) > 200  # charts, text and tables, not a blank page


def test_the_rendered_headline_is_the_latest_gated_run_not_a_later_rerun(
    chromium: Path, tmp_path: Path
) -> None:
    runs = history_folder(tmp_path)  # eight gated nightly runs, the last one passing
    rerun = make_record([scored(3, 0.2, 300.0)], run=nightly_run(18))  # one sample, failing
    assert rerun["scenarios"]["digest"]["status"] == "fail"
    rerun["gated"] = False
    rerun["scenarios"]["digest"]["selection"] = {"kind": "subset", "selected": 1, "of": 12}
    record_mod.write(rerun, runs / "18.json")
    page = tmp_path / "history.html"
    assert cli.main(["history", str(runs), "--html", str(page)]) == 0

    dom = browse(chromium, page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_errors(dom.stdout) == [] and console_errors(dom.stderr) == []
    assert '<span class="badge" style="background:#1a7f37">pass</span></h2>' in dom.stdout
    assert (
        '<p class="sub headline">9 runs; the latest status is pass, from run '
        "20251117T030000Z-000017 of 2025-11-17 03:00; the 1 later run did not gate (partial "
        "or a subset of the samples).</p>"
    ) in dom.stdout
    assert "latest status is fail" not in dom.stdout


def test_the_console_check_catches_a_page_that_throws(chromium: Path, tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head>'
        "<body><script>missingFunction();</script></body></html>",
        encoding="utf-8",
    )
    done = browse(chromium, page, tmp_path, "--dump-dom")
    assert [line for line in console_errors(done.stderr) if "Uncaught ReferenceError" in line]


# -- the comparison of two picked runs, computed by the page's own script ----------------


def compared_rows(dom: str, index: int = 0) -> dict[str, list[str]]:
    """{metric: [A, B, diff, CI, paired, status]} of the page's comparison table `index`."""
    section = dom.split(f'id="compare-{index}"', 1)[1].split("</table>", 1)[0]
    body = section.split("<tbody>", 1)[1]
    rows = {}
    for row in re.findall(r'<tr data-metric="([^"]*)">(.*?)</tr>', body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
        rows[html.unescape(row[0])] = [html.unescape(c) for c in cells[1:]]
    return rows


def expected_row(
    a: Mapping[str, float], b: Mapping[str, float], better: str, bounds: Bounds | None
) -> list[str]:
    """What Python says of run b against run a: `llmbench compare B A`'s paired difference,
    named better or worse only when its interval excludes zero."""
    diff = paired_difference(b, a, bounds)
    ci = list(diff.ci95) if diff.ci95 else None
    status = "no detectable difference"
    if ci and (ci[0] > 0 or ci[1] < 0):
        status = "better" if (ci[0] > 0) == (better == "higher") else "worse"
    return _row(a, b, diff.mean, ci, diff.n, status if diff.n else "no paired samples")


def expected_variant_row(a: Mapping[str, float], b: Mapping[str, float], better: str) -> list[str]:
    """What the record (variants.difference) says of variant b against variant a."""
    d = variants_mod.difference("b", "a", "m", better, b, a)
    return _row(a, b, d["mean_diff"], d["ci95"], d["n"], d["status"])


def _row(
    a: Mapping[str, float],
    b: Mapping[str, float],
    mean: float | None,
    ci: list[float] | None,
    n: int,
    status: str,
) -> list[str]:
    both = sorted(a.keys() & b.keys())
    return [
        number(math.fsum(a[k] for k in both) / len(both) if both else None),
        number(math.fsum(b[k] for k in both) / len(both) if both else None),
        signed(mean),
        interval(ci),
        str(n),
        status,
    ]


def page_dom(chromium: Path, runs: Path, tmp_path: Path, fragment: str = "") -> str:
    """The DOM of `llmbench history RUNS --html` once its script ran, with no console error."""
    page = tmp_path / "history.html"
    assert cli.main(["history", str(runs), "--html", str(page)]) == 0
    dom = browse(chromium, page, tmp_path, "--dump-dom", fragment=fragment)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_errors(dom.stderr) == []
    return dom.stdout


def scores(record: RunRecord, metric: str, variant: str | None = None) -> dict[str, float]:
    return {
        s["id"]: s["scores"][metric]
        for s in record["scenarios"]["digest"]["samples"]
        if s["status"] == "scored" and metric in s["scores"] and s.get("variant") == variant
    }


def test_picking_two_runs_shows_their_paired_difference_as_the_python_computes_it(
    chromium: Path, tmp_path: Path
) -> None:
    runs = history_folder(tmp_path)
    first, last = record_mod.load(runs / "10.json"), record_mod.load(runs / "17.json")
    fragment = "#scenario=digest&a=20251110T030000Z-000010&b=20251117T030000Z-000017"
    dom = page_dom(chromium, runs, tmp_path, fragment)
    shown = compared_rows(dom)
    assert shown == {
        "accuracy": expected_row(
            scores(first, "accuracy"), scores(last, "accuracy"), "higher", (0.0, 1.0)
        ),
        "latency_seconds": expected_row(
            scores(first, "latency_seconds"), scores(last, "latency_seconds"), "lower", None
        ),
    }
    # By hand: latency fell by exactly 8 s a day on every sample, 56 s over the 7 days.
    assert shown["latency_seconds"][2:] == ["-56.000", "-56.000 – -56.000", "12", "better"]
    assert shown["accuracy"][5] == "better"  # +0.18 on every sample, up to the 1.0 cap
    assert '<th class="num side-a">A: 2025-11-10 03:00 · 20251110T030000Z-000010</th>' in dom


def test_by_default_the_page_compares_the_newest_run_with_the_one_before(
    chromium: Path, tmp_path: Path
) -> None:
    runs = history_folder(tmp_path)
    before, newest = record_mod.load(runs / "16.json"), record_mod.load(runs / "17.json")
    assert compared_rows(page_dom(chromium, runs, tmp_path))["accuracy"] == expected_row(
        scores(before, "accuracy"), scores(newest, "accuracy"), "higher", (0.0, 1.0)
    )


def test_two_variants_of_one_run_can_be_picked(chromium: Path, tmp_path: Path) -> None:
    small = [0.5, 0.25, 0.5, 0.75, 0.25, 0.5, 0.75, 0.5]
    large = [0.75, 0.5, 0.5, 0.75, 0.5, 0.75, 1.0, 0.25]
    record = variants_run({"small": small, "large": large})
    runs = tmp_path / "runs"
    record_mod.write(record, runs / "run.json")
    run = record["run"]["id"]
    dom = page_dom(chromium, runs, tmp_path, f"#scenario=digest&a={run}&av=small&b={run}&bv=large")
    shown = compared_rows(dom)["accuracy"]
    assert shown == expected_variant_row(by_id(small), by_id(large), "higher")
    (stored,) = record["scenarios"]["digest"]["variants"]["differences"]
    assert shown[2:4] == [signed(stored["mean_diff"]), interval(stored["ci95"])]
    assert shown[0:3] == ["0.500", "0.625", "+0.125"]  # by hand: 4.0 / 8, 5.0 / 8, 1.0 / 8
    assert shown[5] == "no detectable difference"  # one sample went down: no winner at n = 8


def by_id(values: list[float]) -> dict[str, float]:
    """Scores by the sample ids support.records.entry gives positions."""
    return {f"s-{p + 1:02d}": v for p, v in enumerate(values)}


def _random_case(rng: random.Random) -> tuple[list[float], list[float]]:
    n = rng.choice([1, 2, 3, 4, 5, 6, 9, 17, 50, 120, 199, 200, 201, 230])
    grid = rng.choice([0.05, 0.1, 0.25, 0.0625, 0.001])
    old = [round(rng.randint(0, int(1 / grid)) * grid, 6) for _ in range(n)]
    shift = rng.choice([-0.2, -0.05, 0.0, 0.03, 0.1])
    new = [min(1.0, max(0.0, round(v + shift + rng.choice([-grid, 0, grid]), 6))) for v in old]
    return old, new


# Pairs of score lists the page must compute exactly as Python: every interval method
# (none at n = 1, t at 2-4 and past 200, bootstrap-t at 5-200), equal values, round-half
# ties (x.0625 to 3 digits), a value past a judge's range (clipping), negative differences,
# and seeded random ones of many sizes and grids.
AGREEMENT_CASES = [
    ([0.5], [0.75]),
    ([0.5, 0.25], [0.75, 0.75]),
    ([0.1, 0.2, 0.3, 0.4], [0.15, 0.1, 0.35, 0.5]),
    ([0.5] * 7, [0.5] * 7),
    ([0.0625, 0.1875, 0.3125, 0.4375, 0.5625], [0.125, 0.125, 0.375, 0.375, 0.625]),
    ([0.9, 0.95, 1.0, 0.85, 0.9, 1.0], [0.1, 0.05, 0.0, 0.15, 0.1, 0.0]),
    ([round(0.37 * (k % 7) / 3 + 0.01 * k, 4) for k in range(40)], [0.5] * 40),
    ([(k * 7919 % 101) / 100 for k in range(203)], [(k * 104729 % 97) / 96 for k in range(203)]),
    *(_random_case(random.Random(seed)) for seed in range(24)),
]


def test_the_page_and_python_agree_on_every_interval_method(chromium: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    expected = {}
    for index, (old, new) in enumerate(AGREEMENT_CASES):
        name = f"case-{index:02d}"
        for day, values in ((10, old), (11, new)):
            record = make_record(
                [entry(p, v) for p, v in enumerate(values)], scenario=name, run=nightly_run(day)
            )
            record_mod.write(record, runs / f"{name}-{day}.json")
        expected[index] = {"accuracy": expected_row(by_id(old), by_id(new), "higher", (0.0, 1.0))}
    # The same pairs as two variants of one run: the record's antisymmetric difference.
    for index, (old, new) in enumerate(AGREEMENT_CASES, len(AGREEMENT_CASES)):
        record = variants_run({"old": old, "new": new}, scenario=f"case-{index:02d}")
        record["run"].update(nightly_run(12))
        record_mod.write(record, runs / f"case-{index:02d}.json")
        expected[index] = {"accuracy": expected_variant_row(by_id(old), by_id(new), "higher")}
    dom = page_dom(chromium, runs, tmp_path)
    assert {i: compared_rows(dom, i) for i in expected} == expected


def test_changing_a_pick_recomputes_the_comparison_and_keeps_it_in_the_address(
    chromium: Path, tmp_path: Path
) -> None:
    runs = history_folder(tmp_path)
    page = tmp_path / "history.html"
    assert cli.main(["history", str(runs), "--html", str(page)]) == 0
    # A person's pick, played by a second script the test adds (and allows in the CSP):
    # A becomes the oldest run, then the change event the select fires.
    person = (
        'const a = document.querySelector("#compare-0 select.pick-a");'
        "a.value = String(a.options.length - 1);"
        'a.dispatchEvent(new Event("change"));'
        "document.body.dataset.hash = location.hash;"
    )
    digest = base64.b64encode(hashlib.sha256(person.encode()).digest()).decode()
    text = page.read_text(encoding="utf-8")
    text = text.replace("script-src ", f"script-src 'sha256-{digest}' ", 1)
    text = text.replace("</body>", f"<script>{person}</script>\n</body>", 1)
    page.write_text(text, encoding="utf-8")
    dom = browse(chromium, page, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_errors(dom.stderr) == []
    oldest, newest = record_mod.load(runs / "10.json"), record_mod.load(runs / "17.json")
    assert compared_rows(dom.stdout)["accuracy"] == expected_row(
        scores(oldest, "accuracy"), scores(newest, "accuracy"), "higher", (0.0, 1.0)
    )
    assert (
        'data-hash="#scenario=digest&amp;a=20251110T030000Z-000010&amp;b=20251117T030000Z-000017"'
        in dom.stdout
    )
