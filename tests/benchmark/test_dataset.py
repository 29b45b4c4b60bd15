"""The JSONL dataset loader: samples, ASCII-safe unique item ids, errors with file:line."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.benchmark import limits
from pytest_llmbench.benchmark.dataset import Dataset, load_dataset, safe_id
from pytest_llmbench.errors import DatasetError


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "x.jsonl"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


def load(tmp_path: Path, text: str | bytes, fields: dict[str, str] | None = None) -> Dataset:
    return load_dataset(write(tmp_path, text), "data/x.jsonl", fields)


def error(tmp_path: Path, text: str | bytes, fields: dict[str, str] | None = None) -> str:
    with pytest.raises(DatasetError) as info:
        load(tmp_path, text, fields)
    return str(info.value)


def test_samples_carry_fields_positions_lines_and_file_hash(tmp_path: Path) -> None:
    text = (
        '{"id": "a", "input": "in", "output": "out", "reference": "ref", '
        '"ground_truth": {"coverage": 1}, "tags": ["t"], "latency_seconds": 3.5}\n'
        "\n"
        '{"id": "b"}\n'
    )
    dataset = load(tmp_path, text)
    first, second = dataset.samples
    assert (first.id, first.item_id, first.position, first.line) == ("a", "a", 0, 1)
    assert (first.input, first.output, first.reference) == ("in", "out", "ref")
    assert first.ground_truth == {"coverage": 1.0}
    assert first.tags == ["t"]
    assert first.latency_seconds == 3.5
    assert first["tags"] == ["t"]
    assert (second.position, second.line, second.input, second.ground_truth) == (1, 3, None, {})
    assert dataset.display == "data/x.jsonl"
    assert dataset.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_unknown_sample_attribute_raises_attribute_error_naming_the_field(
    tmp_path: Path,
) -> None:
    sample = load(tmp_path, '{"id": "a"}\n').samples[0]
    with pytest.raises(AttributeError, match="sample 'a' has no field 'tags'"):
        _ = sample.tags


def test_integer_ids_become_strings(tmp_path: Path) -> None:
    assert [s.id for s in load(tmp_path, '{"id": 7}\n{"id": "8"}\n').samples] == ["7", "8"]


def test_bom_crlf_and_trailing_blank_lines_are_tolerated(tmp_path: Path) -> None:
    data = b'\xef\xbb\xbf{"id": "a"}\r\n{"id": "b"}\r\n\r\n  \n'
    dataset = load(tmp_path, data)
    assert [s.id for s in dataset.samples] == ["a", "b"]
    assert dataset.sha256 == hashlib.sha256(data).hexdigest()


def test_line_separator_inside_a_json_string_does_not_split_the_line(tmp_path: Path) -> None:
    sample = load(tmp_path, '{"id": "a", "input": "x\u2028y"}\n').samples[0]
    assert sample.input == "x\u2028y"


def test_invalid_json_names_file_line_and_column(tmp_path: Path) -> None:
    text = '{"id": "a"}\n\n{"id": "b" "input": 1}\n'
    assert error(tmp_path, text) == (
        "data/x.jsonl:3: not valid JSON (Expecting ',' delimiter at column 12); "
        "each line must be one JSON object"
    )


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        ("[1, 2]", "array"),
        ('"a"', "string"),
        ("3", "number"),
        ("true", "boolean"),
        ("null", "null"),
    ],
)
def test_a_line_that_is_not_an_object_is_named_by_its_json_type(
    tmp_path: Path, line: str, kind: str
) -> None:
    assert error(tmp_path, f'{{"id": "a"}}\n{line}\n') == (
        f"data/x.jsonl:2: line is a JSON {kind}, expected an object"
    )


def test_missing_id_is_an_error(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": "a"}\n{"input": "x"}\n') == (
        'data/x.jsonl:2: missing "id"; every sample needs a unique id'
    )


def test_missing_mapped_id_names_the_mapped_field(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": "a"}\n', {"id": "sample_id"}) == (
        'data/x.jsonl:1: missing "sample_id" (the scenario maps id to sample_id); '
        "every sample needs a unique id"
    )


@pytest.mark.parametrize(("value", "shown"), [("1.5", "1.5"), ("true", "true"), ("null", "null")])
def test_id_must_be_a_string_or_an_integer(tmp_path: Path, value: str, shown: str) -> None:
    assert error(tmp_path, f'{{"id": {value}}}\n') == (
        f'data/x.jsonl:1: "id" must be a string or an integer, got {shown}'
    )


def test_empty_id_is_an_error(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": " "}\n') == (
        'data/x.jsonl:1: "id" is empty; every sample needs a unique id'
    )


def test_duplicate_ids_name_both_lines(tmp_path: Path) -> None:
    text = '{"id": "x"}\n{"id": "tg-0042"}\n{"id": "y"}\n{"id": "tg-0042"}\n'
    assert error(tmp_path, text) == 'data/x.jsonl:4: duplicate id "tg-0042" (first on line 2)'


def test_integer_and_string_forms_of_one_id_are_duplicates(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": 42}\n{"id": "42"}\n') == (
        'data/x.jsonl:2: duplicate id "42" (first on line 1)'
    )


def test_ground_truth_must_be_an_object(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": "a", "ground_truth": [0.5]}\n') == (
        'data/x.jsonl:1: "ground_truth" must be an object of numbers, '
        'e.g. {"coverage": 0.9}, got [0.5]'
    )


@pytest.mark.parametrize(("value", "shown"), [('"high"', '"high"'), ("true", "true")])
def test_ground_truth_values_must_be_finite_numbers(tmp_path: Path, value: str, shown: str) -> None:
    assert error(tmp_path, f'{{"id": "a", "ground_truth": {{"coverage": {value}}}}}\n') == (
        f"data/x.jsonl:1: ground_truth.coverage must be a finite number, got {shown}"
    )


@pytest.mark.parametrize("text", ["", "\n  \n\n"])
def test_a_file_without_samples_is_an_error(tmp_path: Path, text: str) -> None:
    assert error(tmp_path, text) == "data/x.jsonl: no samples; write one JSON object per line"


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    assert error(tmp_path, b'{"id": "a"}\n{"id": "\xff"}\n') == (
        "data/x.jsonl:2: not valid UTF-8 (invalid start byte); save the file as UTF-8"
    )


def test_missing_file_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"^data/x.jsonl: cannot read the dataset \("):
        load_dataset(tmp_path / "nope.jsonl", "data/x.jsonl")


def test_fields_map_canonical_names_to_the_files_names(tmp_path: Path) -> None:
    text = '{"sample_id": "s1", "post": "in", "summary": "out", "gold": "ref", "gt": {"m": 0.5}}\n'
    fields = {
        "id": "sample_id",
        "input": "post",
        "output": "summary",
        "reference": "gold",
        "ground_truth": "gt",
    }
    sample = load(tmp_path, text, fields).samples[0]
    assert (sample.id, sample.input, sample.output, sample.reference) == ("s1", "in", "out", "ref")
    assert sample.ground_truth == {"m": 0.5}
    assert sample.summary == "out"  # the file's own names still read as attributes


@pytest.mark.parametrize(
    ("raw", "item_id"),
    [
        ("tg-0042", "tg-0042"),
        ("тг-1", "tg-1"),
        ("Щука ёж", "Shchuka-ezh"),
        ("Йод/Юг", "Yod-Yug"),
        ("café au lait", "cafe-au-lait"),
        ("a::b[c]", "a-b-c"),
        ("  spaced  out  ", "spaced-out"),
        ("x.y_z-1", "x.y_z-1"),
    ],
)
def test_safe_id_transliterates_and_replaces_unsafe_characters(raw: str, item_id: str) -> None:
    assert safe_id(raw) == item_id


def test_safe_id_of_nothing_ascii_is_a_stable_hash() -> None:
    digest = hashlib.sha1("日本".encode()).hexdigest()[:8]
    assert safe_id("日本") == f"sample-{digest}"
    assert safe_id("日本") != safe_id("中国")


@given(st.text(min_size=1))
def test_safe_id_is_always_a_nonempty_node_id_safe_string(raw: str) -> None:
    assert re.fullmatch(r"[A-Za-z0-9._-]+", safe_id(raw))


@pytest.mark.parametrize("raw", ["0\n", "tg-1\n", "a\r\n"])
def test_an_id_ending_in_a_line_break_is_made_safe(raw: str) -> None:
    assert safe_id(raw) == raw.strip()


def test_colliding_safe_ids_get_numbered_suffixes_in_file_order(tmp_path: Path) -> None:
    ids = ["a b", "a/b", "a-b-2", "a:b", "тг", "tg"]
    text = "".join(json.dumps({"id": raw}) + "\n" for raw in ids)
    samples = load(tmp_path, text).samples
    assert [s.item_id for s in samples] == ["a-b", "a-b-2", "a-b-2-2", "a-b-3", "tg", "tg-2"]


def test_ten_thousand_samples_load_with_unique_item_ids(tmp_path: Path) -> None:
    text = "".join(
        json.dumps({"id": f"тг-{i:05d}", "input": "x" * 200, "ground_truth": {"coverage": 0.5}})
        + "\n"
        for i in range(10_000)
    )
    dataset = load(tmp_path, text)
    assert len(dataset.samples) == 10_000
    assert len({s.item_id for s in dataset.samples}) == 10_000
    assert dataset.samples[-1].item_id == "tg-09999"
    assert dataset.samples[-1].line == 10_000


@pytest.mark.parametrize("name", ["line", "position", "fields", "item_id"])
def test_a_field_named_like_the_samples_own_attribute_is_refused(
    tmp_path: Path, name: str
) -> None:
    text = json.dumps({"id": "a", "input": "x"}) + "\n" + json.dumps({"id": "b", name: "Red 7"})
    message = error(tmp_path, text + "\n")
    assert message.startswith(f"data/x.jsonl:2: field {name!r} has the name of the sample")
    assert message.endswith("rename the field in the dataset")


# -- limits and hostile content (more in tests/fuzz/datasets) ------------------------------


def test_a_sample_line_over_the_limit_is_refused_naming_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "SAMPLE_LINE_BYTES", 4 * limits.MiB)  # the same rule, smaller
    long = json.dumps({"id": "b", "input": "é" * (2 * limits.MiB)}, ensure_ascii=False)  # 4 MiB
    assert error(tmp_path, f'{{"id": "a"}}\n{long}\n') == (
        f"data/x.jsonl:2: the line is {len(long.encode()):,} bytes, over the 4 MiB limit for one sample; shorten "
        "the sample (see Limits in the README)"
    )
    within = json.dumps({"id": "b", "input": "é" * (2 * limits.MiB - 20)}, ensure_ascii=False)
    assert [s.id for s in load(tmp_path, f'{{"id": "a"}}\n{within}\n').samples] == ["a", "b"]


def test_the_default_sample_line_limit_is_16_mib(tmp_path: Path) -> None:
    line = '{"id": "b", "input": "' + "x" * (16 * limits.MiB) + '"}'
    assert error(tmp_path, '{"id": "a"}\n' + line + "\n").startswith(
        f"data/x.jsonl:2: the line is {len(line):,} bytes, over the 16 MiB limit for one sample"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9" * 5000, "an integer of 5000 digits (the limit is 300)"),
        ("-" + "9" * 301, "an integer of 301 digits (the limit is 300)"),
        ("1e999", "the number 1e999 is too large for a float"),
        ("NaN", "NaN is not JSON (nor a number a metric can use); write null or a number"),
        ("-Infinity", "-Infinity is not JSON"),
        ("[" * 65 + "]" * 65, "nested more than 64 levels deep at column 81; flatten the record"),
        ("[" * 10**6 + "]" * 10**6, "nested more than 64 levels deep"),
    ],
)
def test_numbers_and_nesting_json_allows_but_a_sample_cannot_use_name_their_line(
    tmp_path: Path, value: str, message: str
) -> None:
    assert error(tmp_path, f'{{"id": "a"}}\n{{"id": "b", "x": {value}}}\n').startswith(
        f"data/x.jsonl:2: {message}"
    )


def test_numbers_and_nesting_within_the_limits_are_read(tmp_path: Path) -> None:
    deep = "[" * 63 + "]" * 63
    text = f'{{"id": "a", "n": {"9" * 300}, "f": 1e308, "deep": {deep}, "s": "{"[" * 99}"}}\n'
    (sample,) = load(tmp_path, text).samples
    assert sample.n == int("9" * 300) and sample.f == 1e308 and sample.s == "[" * 99


def test_a_duplicate_key_in_a_sample_names_it_and_its_line(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": "a"}\n{"id": "b", "input": 1, "input": 2}\n') == (
        'data/x.jsonl:2: duplicate key "input"; keep one of them'
    )


def test_utf16_cr_only_line_ends_and_lone_surrogates(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": "a"}\n'.encode("utf-16")) == (
        "data/x.jsonl:1: the file is UTF-16 (or UTF-32); save it as UTF-8"
    )
    assert [s.line for s in load(tmp_path, '{"id": "a"}\r\r{"id": "b"}\r').samples] == [1, 3]
    assert error(tmp_path, '{"id": "a"}\n{"id": "b", "x": "\\udc00"}\n').startswith(
        "data/x.jsonl:2: a string escapes half of a surrogate pair"
    )
    assert load(tmp_path, '{"id": "a", "x": "\\ud83d\\ude00 \\\\ud800"}\n').samples[0].x == (
        "\U0001f600 \\ud800"
    )


def test_a_nul_byte_outside_a_string_is_named_with_its_column(tmp_path: Path) -> None:
    assert error(tmp_path, '{"id": "a"}\n{"id": "b"}\x00\n') == (
        "data/x.jsonl:2: a NUL byte at column 12, which JSON does not allow; remove it (a "
        "binary or UTF-16 file?)"
    )


LOCATED_OR_FILE = re.compile(r"data/x\.jsonl(:[1-9][0-9]*)?: [^\n]+")


def assert_loaded_or_located(tmp_path: Path, data: bytes | str) -> None:
    try:
        load(tmp_path, data)
    except DatasetError as exc:
        assert LOCATED_OR_FILE.fullmatch(str(exc)), str(exc)


@given(st.binary(max_size=300))
def test_any_bytes_are_samples_or_one_error_naming_the_file(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assert_loaded_or_located(Path(tmp), data)


JSONL_ALPHABET = st.sampled_from([*'{}[]",:\\0123456789.eE+-ntrufalsid \n\r\t', "\x00", "é"])


@given(st.text(JSONL_ALPHABET, max_size=200))
def test_any_jsonl_shaped_text_is_samples_or_one_error_naming_the_file(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assert_loaded_or_located(Path(tmp), text)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=12,
)


@given(st.lists(JSON_VALUES, min_size=1, max_size=4))
def test_any_json_values_one_a_line_are_samples_or_an_error_naming_the_line(
    values: list[Any],
) -> None:
    text = "".join(json.dumps(v) + "\n" for v in values)  # NaN and Infinity as Python writes
    with tempfile.TemporaryDirectory() as tmp:
        assert_loaded_or_located(Path(tmp), text)


@given(st.lists(st.dictionaries(st.text(), JSON_VALUES, max_size=3), min_size=1, max_size=4))
def test_objects_with_unique_ids_and_finite_numbers_are_read_back_as_written(
    records: list[dict[str, Any]],
) -> None:
    clean = [
        {k: v for k, v in r.items() if k not in ("line", "position", "fields", "item_id")}
        | {"id": f"s-{i}"}
        for i, r in enumerate(records)
    ]
    text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in clean if _finite(r))
    if not text:
        return
    with tempfile.TemporaryDirectory() as tmp:
        try:
            dataset = load(Path(tmp), text)
        except DatasetError as exc:  # a ground_truth that is not scores, a surrogate, ...
            assert LOCATED_OR_FILE.fullmatch(str(exc))
        else:
            assert [s.fields for s in dataset.samples] == [r for r in clean if _finite(r)]


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and abs(value) != float("inf")
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True
