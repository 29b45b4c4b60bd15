"""The history page in a real headless Chromium: it loads without console errors, its
charts are in the rendered DOM, and the screenshot shows them.

Skipped when /usr/bin/chromium is absent (Debian: `apt-get install -y chromium`), unless
LLMBENCH_REQUIRE_CHROMIUM=1, which makes its absence a failure (CI sets it).
"""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from support.records import entry, make_record, nightly_run, with_fingerprint

from pytest_llmbench.cli import main as cli
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results.schema import SampleRecord

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
    chromium: Path, page: Path, tmp_path: Path, *mode: str
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
            page.as_uri(),
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
