"""Every file of the hostile record corpus (tests/fuzz/records/) through every `llmbench`
subcommand that reads run records, and as a pytest run's baseline: one line naming the file
and the key, exit 2 (a usage error for pytest, before any judge call), never a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.judge_server import JudgeServer
from support.project import Project, config_yaml, live_judge_yaml
from support.records import entry, make_record

from pytest_llmbench.cli.common import PROG
from pytest_llmbench.results import record as record_mod

CORPUS = Path(__file__).parents[1] / "fuzz" / "records"
# file name -> what follows the file's path in the message (":1: not JSON ...", ": key: ...")
EXPECTED: dict[str, str] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
NAMES = sorted(EXPECTED)

# Each subcommand that reads a record, with {bad} the corpus file and {good} a sound record.
READERS = {
    "report": ["report", "{bad}"],
    "report-baseline": ["report", "{good}", "--baseline", "{bad}"],
    "compare-current": ["compare", "{bad}", "{good}"],
    "compare-baseline": ["compare", "{good}", "{bad}"],
    "merge": ["merge", "-o", "{out}/merged.json", "{bad}", "{good}"],
    "baseline": ["baseline", "promote", "--dir", "{out}/baselines", "--force", "{bad}"],
    "metrics": ["metrics", "{bad}", "--prom-file", "{out}/m.prom"],
}


def test_every_corpus_file_has_an_expectation_and_every_expectation_a_file() -> None:
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.json")
    assert files == NAMES


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.json"
    record_mod.write(make_record([entry(p, 0.9) for p in range(3)]), path)
    return path


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("name", NAMES)
def test_a_hostile_record_is_one_line_and_exit_2_in_every_reader(
    llmbench: Callable[..., tuple[int, str, str]],
    good: Path,
    tmp_path: Path,
    name: str,
    reader: str,
) -> None:
    bad = CORPUS / name
    values = {"bad": str(bad), "good": str(good), "out": str(tmp_path / "out")}
    args = [part.format(**values) for part in READERS[reader]]
    assert llmbench(*args) == (2, "", f"{PROG}: {bad}{EXPECTED[name]}\n")
    assert not (tmp_path / "out").exists()  # nothing written from a damaged record


@pytest.mark.parametrize("name", NAMES)
def test_history_skips_a_hostile_record_with_a_note_and_shows_the_rest(
    llmbench: Callable[..., tuple[int, str, str]], good: Path, tmp_path: Path, name: str
) -> None:
    folder = tmp_path / "history"
    folder.mkdir()
    (folder / "a-bad.json").write_bytes((CORPUS / name).read_bytes())
    (folder / "b-good.json").write_bytes(good.read_bytes())
    code, out, err = llmbench("history", str(folder))
    assert (code, err) == (0, f"{PROG}: skipped {folder / 'a-bad.json'}{EXPECTED[name]}\n")
    assert "20251109T030000Z-aaaaaa" in out  # the sound record is still listed


@pytest.mark.parametrize("name", NAMES)
def test_a_hostile_baseline_is_a_usage_error_before_any_judge_call(
    project: Project, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    baseline = project.root / "baseline.json"
    baseline.write_bytes((CORPUS / name).read_bytes())
    with JudgeServer() as server:
        monkeypatch.setenv("TEST_LLM_URL", server.url)
        project.config(config_yaml(judge_block=live_judge_yaml()))
        result = project.run("--llmbench-judge=live", f"--llmbench-baseline={baseline}")
        assert server.requests == []
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.strip()]
    assert errors == [f"ERROR: --llmbench-baseline: {baseline}{EXPECTED[name]}"]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
