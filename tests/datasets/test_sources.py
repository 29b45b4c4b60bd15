"""The sources `llmbench dataset import` reads: the corpus of bad CSV and JSONL inputs
(tests/fuzz/imports), CSV read back exactly whatever its cells, and a callable's rows and
mistakes, each one line."""

from __future__ import annotations

import csv
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.corpus import FUZZ, expected, names

from pytest_llmbench.datasets import sources
from pytest_llmbench.errors import DatasetError, UserError


def outcome(name: str) -> dict[str, Any]:
    path = FUZZ / "imports" / name
    shown = "in" + path.suffix
    try:
        if path.suffix == ".csv":
            rows = sources.read_csv(path, shown, {"id"})
        else:
            rows = sources.read_jsonl(path, shown)
    except UserError as error:
        return {"error": str(error)}
    return {"rows": [[where, record] for where, record in rows]}


def test_every_import_corpus_file_has_an_expectation() -> None:
    assert names("imports") == sorted(expected("imports"))


@pytest.mark.parametrize("name", names("imports"))
def test_bad_csv_and_jsonl_inputs_from_the_corpus_are_read_as_expected(name: str) -> None:
    assert outcome(name) == expected("imports")[name]


@pytest.mark.parametrize("name", [n for n in names("imports") if "error" in expected("imports")[n]])
def test_each_bad_input_is_one_line_naming_the_file_and_line(name: str) -> None:
    message = expected("imports")[name]["error"]
    assert message.startswith(("in.csv:", "in.jsonl:")) and "\n" not in message
    assert len(message) < 300


CELL = st.text(st.characters(codec="utf-8"), max_size=12)


@given(
    st.lists(st.text("abcdefgh", min_size=1, max_size=5), min_size=1, max_size=4, unique=True),
    st.data(),
)
def test_any_table_written_by_the_csv_module_reads_back_cell_for_cell(
    header: list[str], data: st.DataObject
) -> None:
    rows = data.draw(st.lists(st.lists(CELL, min_size=len(header), max_size=len(header))))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "in.csv"
        file.write_bytes(buffer.getvalue().encode("utf-8"))
        read = sources.read_csv(file, "in.csv", text_columns=set(header))
    # A one-column row whose cell is empty reads as a blank line: skipped.
    assert [list(record.values()) for _, record in read] == [r for r in rows if r != [""]]
    assert all(list(record) == header for _, record in read)


APP = """\
import datetime


def rows():
    yield {"msg_id": 1, "text": "first"}
    yield {"msg_id": 2, "text": "second", "tags": ("a", "b")}


def not_dicts():
    return [{"id": 1}, ["a list"]]


def raises():
    yield {"id": 1}
    raise ConnectionError("the database is down")


def dates():
    yield {"id": 1, "when": datetime.date(2025, 11, 9)}


def text():
    return "not rows"


NOT_CALLABLE = 3
"""


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "importapp.py").write_text(APP, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "importapp"
    sys.modules.pop("importapp", None)


def test_a_callable_gives_its_dicts_as_json_rows(app: str) -> None:
    assert sources.read_callable(f"{app}:rows") == [
        (f"{app}:rows item 1", {"msg_id": 1, "text": "first"}),
        (f"{app}:rows item 2", {"msg_id": 2, "text": "second", "tags": ["a", "b"]}),
    ]


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("not_dicts", "importapp:not_dicts item 2: a list, expected a dict"),
        (
            "raises",
            "importapp:raises raised ConnectionError after 1 item: the database is down; fix "
            "the function",
        ),
        (
            "dates",
            "importapp:dates item 1: field 'when' is date, not JSON (or not finite, or not "
            "text); convert it in the function",
        ),
        (
            "text",
            "importapp:text: returned a string, not an iterable of dicts; yield one dict a sample",
        ),
        (
            "NOT_CALLABLE",
            "importapp:NOT_CALLABLE: is not callable; name a function that yields dicts",
        ),
        (
            "missing",
            "importapp:missing: cannot be imported (AttributeError: module 'importapp' has no "
            "attribute 'missing'); give an importable module:function (the current directory "
            "is on the path)",
        ),
    ],
)
def test_a_callables_mistake_is_one_line_naming_it(app: str, function: str, message: str) -> None:
    with pytest.raises(DatasetError) as caught:
        sources.read_callable(f"{app}:{function}")
    assert str(caught.value) == message
