"""One hierarchy of mistakes a user can fix: each renders as one line and keeps its parts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench import errors
from pytest_llmbench.benchmark.config import load_config


def test_at_renders_file_line_key_what_and_fix() -> None:
    error = errors.ConfigError.at("b.yaml", 12, "judges.default.model", "expected text", "quote it")
    assert str(error) == "b.yaml:12: judges.default.model: expected text; quote it"
    assert (error.file, error.line, error.key, error.fix) == (
        "b.yaml",
        12,
        "judges.default.model",
        "quote it",
    )


def test_at_leaves_out_the_parts_it_is_not_given() -> None:
    assert str(errors.RecordError.at("run.json", None, None, "not JSON")) == "run.json: not JSON"


@pytest.mark.parametrize(
    "kind",
    [
        errors.ConfigError,
        errors.DatasetError,
        errors.PromptError,
        errors.PromptNotFoundError,
        errors.PromptRefError,
        errors.RecordError,
        errors.MergeError,
        errors.JudgeSetupError,
        errors.OutputError,
    ],
)
def test_every_user_error_is_caught_as_one(kind: type[errors.UserError]) -> None:
    with pytest.raises(errors.UserError):
        raise kind("x")


@given(st.text(), st.integers(1, 10**6) | st.none(), st.text(), st.text())
def test_the_rendered_line_has_every_part_in_order(
    file: str, line: int | None, what: str, fix: str
) -> None:
    text = str(errors.UserError.at(file, line, "k", what, fix or None))
    where = file if line is None else f"{file}:{line}"
    assert text.startswith(f"{where}: k: {what}")
    assert text.endswith(f"; {fix}" if fix else what)


def test_a_config_mistake_keeps_its_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "llmbench.yaml"
    path.write_text("version: 1\njudges:\n  default:\n    kind: nope\nscenarios: {}\n")
    with pytest.raises(errors.ConfigError) as caught:
        load_config(path, tmp_path, {})
    assert (caught.value.line, caught.value.key) == (4, "judges.default.kind")
    assert str(caught.value).startswith(f"{caught.value.file}:4: judges.default.kind: ")


@pytest.mark.parametrize(
    ("error", "path", "expected"),
    [
        (
            OSError(30, "Read-only file system", "/r/.llmbench/runs/x.json"),
            "/r/.llmbench/runs/x.json",
            "Read-only file system",
        ),
        (
            NotADirectoryError(20, "Not a directory", "/r/.llmbench/runs"),
            "/r/.llmbench/runs/x.json",
            "Not a directory: .llmbench/runs",
        ),
        (
            NotADirectoryError(20, "Not a directory", "/elsewhere/runs"),
            "/r/x",
            "Not a directory: /elsewhere/runs",
        ),
        (OSError(28, "No space left on device"), "/r/x", "No space left on device"),
        (OSError("no errno"), "/r/x", "no errno"),
        (ValueError(), None, "ValueError"),
    ],
)
def test_os_reason_is_the_os_words_naming_only_another_file(
    error: Exception, path: str | None, expected: str
) -> None:
    assert errors.os_reason(error, path, Path("/r")) == expected
