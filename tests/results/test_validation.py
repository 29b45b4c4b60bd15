"""Run records read back: any JSON at all is a record every reader can use, or one
RecordError naming the file and the key."""

from __future__ import annotations

import codecs
import contextlib
import copy
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.records import entry, make_record

from pytest_llmbench.cli import main as cli
from pytest_llmbench.errors import RecordError
from pytest_llmbench.results import record as record_mod
from pytest_llmbench.results import validation
from pytest_llmbench.results.schema import RunRecord

GOOD = json.loads(record_mod.dumps(make_record([entry(p, 0.9) for p in range(3)])))

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value, as the keys and indexes that reach it."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += paths(inner, (*prefix, index))
    return found


PLACES = [p for p in paths(GOOD) if p]


def at(place: tuple[Any, ...]) -> Any:
    value = GOOD
    for step in place:
        value = value[step]
    return value


def alike(value: Any) -> st.SearchStrategy[Any]:
    """Values of the same kind as `value` (so more of them pass the check and reach the
    readers): other text, numbers, a subset of a list's items or an object's keys."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, str):
        return st.text(max_size=12) | st.sampled_from(["", "pass", "fail", "lower", "mean", "none"])
    if isinstance(value, int):
        return st.integers(0, 2**53)
    if isinstance(value, float):
        return st.floats(-1e300, 1e300) | st.integers(0, 2**53)
    if isinstance(value, list):
        return st.lists(st.sampled_from(value), max_size=len(value) + 1) if value else st.just([])
    if isinstance(value, dict) and value:
        keys = sorted(value)
        return st.lists(st.sampled_from(keys), unique=True).map(lambda ks: {k: value[k] for k in ks})
    return st.none() | st.just({})


def replaced(place: tuple[Any, ...], new: Any) -> Any:
    data = copy.deepcopy(GOOD)
    holder = data
    for step in place[:-1]:
        holder = holder[step]
    holder[place[-1]] = new
    return data


def load_text(text: str | bytes) -> RunRecord:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "run.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return record_mod.load(path)


@given(JSON)
def test_check_accepts_or_names_the_key_for_any_json_value(value: Any) -> None:
    try:
        validation.check(value, RunRecord)
    except validation.Invalid as problem:
        assert str(problem) == (f"{problem.key}: {problem.what}" if problem.key else problem.what)
        assert "\n" not in str(problem)


@given(st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_load_of_any_bytes_is_a_record_or_one_record_error(raw: bytes) -> None:
    with pytest.raises(RecordError) as caught:
        load_text(raw)
    assert "\n" not in str(caught.value)


def run_every_reader(path: Path, folder: Path) -> list[int]:
    """Each record-reading subcommand on `path`: its exit statuses (an exception escapes)."""
    commands = [
        ["report", str(path)],
        ["report", str(path), "--baseline", str(path)],
        ["compare", str(path), str(path)],
        ["baseline", "promote", "--dir", str(folder / "b"), "--force", str(path)],
        ["metrics", str(path), "--prom-file", str(folder / "m.prom")],
        ["history", str(path.parent), "--html", str(folder / "h.html")],
    ]
    codes = []
    for args in commands:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            codes.append(cli.main(args))
    return codes


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_record_damaged_anywhere_is_refused_naming_the_key_or_read_by_every_reader(
    data_: st.DataObject,
) -> None:
    place = data_.draw(st.sampled_from(PLACES), label="place")
    data = replaced(place, data_.draw(JSON | alike(at(place)), label="new value"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records" / "run.json"
        path.parent.mkdir()
        path.write_text(json.dumps(data), encoding="utf-8")
        try:
            record_mod.load(path)
        except RecordError as error:
            assert str(error).startswith(f"{path}: ")
            assert "\n" not in str(error)
            return
        assert set(run_every_reader(path, Path(folder))) <= {0, 1}


SHARDS = [
    json.loads(record_mod.dumps(make_record([entry(p, 0.9) for p in range(3)], shard=(1, 2)))),
    json.loads(record_mod.dumps(make_record([entry(p, 0.8) for p in range(3, 6)], shard=(2, 2)))),
]
SHARD_PLACES = [p for p in paths(SHARDS[0]) if p]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_shard_damaged_anywhere_is_refused_naming_the_key_or_merged(
    data_: st.DataObject,
) -> None:
    place = data_.draw(st.sampled_from(SHARD_PLACES), label="place")
    original = SHARDS[0]
    for step in place:
        original = original[step]
    damaged = copy.deepcopy(SHARDS[0])
    holder = damaged
    for step in place[:-1]:
        holder = holder[step]
    holder[place[-1]] = data_.draw(JSON | alike(original), label="new value")
    with tempfile.TemporaryDirectory() as folder:
        first, second, merged = (Path(folder) / n for n in ("1.json", "2.json", "m.json"))
        first.write_text(json.dumps(damaged), encoding="utf-8")
        second.write_text(json.dumps(SHARDS[1]), encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = cli.main(["merge", "-o", str(merged), str(first), str(second)])
        assert code in (0, 1, 2)
        if code != 2:
            record_mod.load(merged)  # what merge writes reads back


def test_a_good_record_reads_back_whole() -> None:
    assert load_text(json.dumps(GOOD)) == GOOD


@pytest.mark.parametrize(
    ("place", "value", "message"),
    [
        (
            ("scenarios", "digest", "samples", 0, "judge", "prompt_tokens"),
            10**309,
            "scenarios.digest.samples[0].judge.prompt_tokens: expected a whole number from 0 "
            "to 2**53, not a more than 100-digit number",
        ),
        (
            ("scenarios", "digest", "metrics", "accuracy", "value"),
            "high",
            "scenarios.digest.metrics.accuracy.value: expected a number or null, not text 'high'",
        ),
        (
            ("scenarios", "digest", "samples", 2, "scores"),
            [],
            "scenarios.digest.samples[2].scores: expected an object, not a list of 0",
        ),
        (
            ("scenarios", "digest", "samples", 1, "scores", "accuracy"),
            1.5e154,
            "scenarios.digest.samples[1].scores.accuracy: expected a number within ±1e15, "
            "not 1.5e+154",
        ),
        (
            ("run", "judge_latency_s"),
            {"digest": [0.1, None]},
            "run.judge_latency_s.digest[1]: expected a number, not null",
        ),
    ],
)
def test_a_damaged_record_names_the_key_and_the_fix(
    tmp_path: Path, place: tuple[Any, ...], value: Any, message: str
) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(replaced(place, value)), encoding="utf-8")
    with pytest.raises(RecordError) as caught:
        record_mod.load(path)
    assert str(caught.value) == f"{path}: {message}; the record is damaged; re-create it"
    assert caught.value.key == message.split(":")[0]


def test_a_record_over_the_size_limit_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record_mod, "MAX_RECORD_BYTES", 2 * 2**20)
    path = tmp_path / "run.json"
    path.write_bytes(b" " * (2 * 2**20 + 1))
    with pytest.raises(RecordError) as caught:
        record_mod.load(path)
    assert str(caught.value) == (
        f"{path}: over 2 MiB, the largest run record read; is this a run record?"
    )


def test_a_utf8_record_with_a_byte_order_mark_is_read() -> None:
    assert load_text(codecs.BOM_UTF8 + json.dumps(GOOD).encode()) == GOOD


def test_shards_whose_sums_would_not_read_back_are_refused_by_merge(tmp_path: Path) -> None:
    paths_ = []
    for index, shard in enumerate(SHARDS):
        damaged = copy.deepcopy(shard)
        damaged["scenarios"]["digest"]["usage"]["prompt_tokens"] = 2**53
        path = tmp_path / f"{index}.json"
        path.write_text(json.dumps(damaged), encoding="utf-8")
        paths_.append(str(path))
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = cli.main(["merge", "-o", str(tmp_path / "m.json"), *paths_])
    assert (code, err.getvalue()) == (
        2,
        "llmbench: merge refused: the merged record would not read back: "
        "scenarios.digest.usage.prompt_tokens: "
        f"expected a whole number from 0 to 2**53, not {2**54}; are these shards damaged?\n",
    )
