"""The output cache: keys that change with the function, the version and the sample's
input and with nothing else; entries checked on read (a corpus of hostile ones and
properties over any text); a bad entry dropped, an unreadable file moved aside, a
read-only cache read and never written."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.benchmark.dataset import Sample
from pytest_llmbench.judging.output_cache import (
    FILENAME,
    MAX_ENTRY_CHARS,
    OutputCache,
    StoredOutput,
    decode_output,
    encode_output,
    output_key,
)
from pytest_llmbench.judging.sqlite_store import BadEntry

FUNCTION = "my_app.digest:summarize"
BASE = (FUNCTION, "v1", "tg-0042", "Пост номер 42: открыли станцию.")

# -- keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changed",
    [
        ("my_app.digest:summarize_v2", *BASE[1:]),
        (BASE[0], "v2", *BASE[2:]),
        (BASE[0], "", *BASE[2:]),
        (*BASE[:2], "tg-0043", BASE[3]),
        (*BASE[:3], "Пост номер 42: закрыли станцию."),
        (*BASE[:3], {"posts": ["Пост номер 42: открыли станцию."]}),
    ],
    ids=["function", "version", "no-version", "sample-id", "input", "input-shape"],
)
def test_the_key_changes_with_the_function_the_version_and_the_sample_input(
    changed: tuple[str, str, str, Any],
) -> None:
    assert output_key(*changed) != output_key(*BASE)


def test_a_variants_fingerprint_is_part_of_the_key_and_no_variant_keeps_the_old_key() -> None:
    old = hashlib.sha256(
        json.dumps(
            {"v": 1, "function": FUNCTION, "version": "v1", "id": BASE[2], "input": BASE[3]},
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        ).encode("utf-8")
    ).hexdigest()
    assert output_key(*BASE) == old == output_key(*BASE, "")
    one, other = output_key(*BASE, "a" * 64), output_key(*BASE, "b" * 64)
    assert len({old, one, other}) == 3


def test_the_key_is_the_same_for_the_same_parts() -> None:
    assert output_key(*BASE) == output_key(*BASE)
    assert len(output_key(*BASE)) == 64


def sample(**fields: Any) -> Sample:
    record = {"id": "tg-0042", "input": BASE[3], "output": "stored", **fields}
    return Sample(
        id=record["id"],
        item_id=record["id"],
        position=0,
        line=1,
        input=record["input"],
        output=record["output"],
        fields=record,
    )


@given(
    st.text(max_size=20),
    st.dictionaries(st.sampled_from(["output", "reference", "tags", "latency"]), st.text()),
)
def test_the_key_ignores_everything_but_the_id_and_the_input(version: str, other: Any) -> None:
    # A stored output, a reference or a tag changes no output: the judge prompt may change
    # and the output be reused.
    plain = output_key(FUNCTION, version, "tg-0042", BASE[3])
    assert output_key(FUNCTION, version, sample(**other).id, sample(**other).input) == plain


@given(st.text(), st.text(), st.text(), st.text())
def test_keys_are_computed_for_any_text_lone_surrogates_included(
    function: str, version: str, sample_id: str, text: str
) -> None:
    assert len(output_key(function, version, sample_id, text + "\ud800")) == 64


# -- entries ------------------------------------------------------------------------------

PLAIN = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def same(left: Any, right: Any) -> bool:
    """Equal, and of the same types all the way down (1 is not 1.0, nor True)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, list):
        return len(left) == len(right) and all(map(same, left, right))
    if isinstance(left, dict):
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return bool(left == right)


@given(PLAIN)
def test_a_plain_output_reads_back_as_exactly_itself(value: Any) -> None:
    blob = encode_output(value)
    assert blob is not None
    assert same(decode_output(blob).value, value)


@pytest.mark.parametrize(
    "value",
    [
        ("a", "tuple"),
        {"a", "set"},
        {1: "int key"},
        math.nan,
        [1.0, math.inf],
        b"bytes",
        object(),
        "\ud800 lone surrogate",
        "x" * MAX_ENTRY_CHARS,
    ],
    ids=["tuple", "set", "int-key", "nan", "inf", "bytes", "object", "surrogate", "too-large"],
)
def test_an_output_that_would_not_read_back_as_itself_is_not_stored(value: Any) -> None:
    assert encode_output(value) is None


@given(st.text(max_size=300))
def test_any_stored_text_is_an_output_or_a_bad_entry(text: str) -> None:
    try:
        decode_output(text)
    except BadEntry as bad:
        assert bad.reason


@given(PLAIN, st.text(min_size=1, max_size=3))
def test_any_change_to_a_stored_output_fails_its_checksum(value: Any, suffix: str) -> None:
    data = json.loads(encode_output(value) or "")
    data["output"] = [data["output"], suffix]
    with pytest.raises(BadEntry) as bad:
        decode_output(json.dumps(data))
    assert bad.value.reason == "checksum mismatch"


@pytest.mark.parametrize("value", [None, 12, b"bytes"], ids=["null", "number", "blob"])
def test_a_stored_value_that_is_not_text_is_a_bad_entry(value: object) -> None:
    with pytest.raises(BadEntry, match="not text"):
        decode_output(value)


def test_a_stored_value_past_the_size_bound_is_a_bad_entry() -> None:
    with pytest.raises(BadEntry, match="characters"):
        decode_output(" " * (MAX_ENTRY_CHARS + 1))


CORPUS = Path(__file__).parents[1] / "fuzz" / "outputs"
EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_every_corpus_file_has_an_expectation_and_every_expectation_a_file() -> None:
    files = sorted(p.name for p in CORPUS.iterdir() if p.name != "expected.json")
    assert files == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_entries_from_the_corpus_are_read_as_expected(name: str) -> None:
    """Each file is a stored value; expected.json says what it must give: {"output": ...}
    or {"bad": "start of the reason"}."""
    text = (CORPUS / name).read_text(encoding="utf-8")
    expected = EXPECTED[name]
    if "bad" in expected:
        with pytest.raises(BadEntry) as bad:
            decode_output(text)
        assert bad.value.reason.startswith(expected["bad"])
    else:
        assert decode_output(text) == StoredOutput(expected["output"])


# -- the store ----------------------------------------------------------------------------


def test_outputs_are_stored_and_read_back_none_included(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    try:
        assert cache.get("k1") is None
        assert cache.put("k1", "Сводка дня")
        assert cache.put("k2", None)
        assert not cache.put("k3", ("not", "plain"))
        assert cache.get("k1") == StoredOutput("Сводка дня")
        assert cache.get("k2") == StoredOutput(None)
        assert cache.get("k3") is None
        assert len(cache) == 2
        assert (cache.stats.hits, cache.stats.misses, cache.stats.writes) == (2, 2, 2)
    finally:
        cache.close()
    assert (tmp_path / FILENAME).is_file()


def test_a_tampered_entry_is_dropped_and_counted(tmp_path: Path) -> None:
    cache = OutputCache(tmp_path)
    cache.put("k1", "the real digest")
    cache.close()
    with contextlib.closing(sqlite3.connect(tmp_path / FILENAME)) as db, db:
        (value,) = db.execute("SELECT value FROM outputs WHERE key = 'k1'").fetchone()
        db.execute(
            "UPDATE outputs SET value = ? WHERE key = 'k1'", (value.replace("real", "fake"),)
        )
    cache = OutputCache(tmp_path)
    try:
        assert cache.get("k1") is None
        assert cache.stats.dropped == 1
        assert len(cache) == 0  # gone: the next run produces and stores it again
    finally:
        cache.close()


def test_an_unreadable_file_is_moved_aside_and_a_fresh_cache_started(tmp_path: Path) -> None:
    (tmp_path / FILENAME).write_bytes(b"this is not a database" * 100)
    cache = OutputCache(tmp_path, display="cache")
    try:
        assert cache.put("k1", "digest")
        assert cache.get("k1") == StoredOutput("digest")
        (note,) = cache.notes
        assert note.startswith(f"output cache cache/{FILENAME} was unreadable (")
        assert note.endswith("and started a fresh cache")
    finally:
        cache.close()
    assert [p.name.startswith(f"{FILENAME}.corrupt-") for p in tmp_path.iterdir()].count(True) == 1


def test_another_programs_outputs_table_is_moved_aside(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / FILENAME)) as db, db:
        db.execute("CREATE TABLE outputs (id INTEGER, body BLOB)")
    cache = OutputCache(tmp_path, display="cache")
    try:
        (note,) = cache.notes
        assert "(file is not a database of model outputs: ('id', 'body'))" in note
        assert cache.put("k1", "digest")
    finally:
        cache.close()


def test_a_cache_that_may_not_be_written_is_read_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warm = OutputCache(tmp_path)
    warm.put("k1", "digest")
    warm.close()
    before = (tmp_path / FILENAME).read_bytes()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode & os.W_OK else real(p, mode))
    cache = OutputCache(tmp_path)
    try:
        assert cache.read_only
        assert cache.get("k1") == StoredOutput("digest")
        assert not cache.put("k2", "new")
        assert cache.get("k2") is None
        assert cache.stats.writes == 0
    finally:
        cache.close()
    assert (tmp_path / FILENAME).read_bytes() == before
