"""Reading YAML within bounds: any bytes end in a document or in one ConfigError line that
names the file and the line; the limits (size, depth, aliases, their expansion, integer
digits) hold however the input is shaped."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_llmbench.benchmark import limits
from pytest_llmbench.benchmark.yaml_reader import LoadedYAML, read_yaml
from pytest_llmbench.errors import ConfigError

FILE = "benchmarks/llmbench.yaml"
LOCATED = re.compile(r"benchmarks/llmbench\.yaml:[1-9][0-9]*: [^\n]+")


def read(data: bytes | str, limit: int = limits.CONFIG_BYTES) -> LoadedYAML:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return read_yaml(raw, FILE, ConfigError, limit)


def error(data: bytes | str, limit: int = limits.CONFIG_BYTES) -> str:
    with pytest.raises(ConfigError) as info:
        read(data, limit)
    return str(info.value)


def laughs(levels: int, fanout: int) -> str:
    """A billion-laughs document: each level an anchor that repeats the one below."""
    text = "l0: &l0 [lol]\n"
    for i in range(1, levels + 1):
        text += f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * fanout)}]\n"
    return text


def test_a_billion_laughs_is_refused_at_the_line_whose_expansion_is_too_large() -> None:
    assert error(laughs(9, 9)) == (
        f"{FILE}:6: its aliases expand to more than 100,000 more values; write the repeated "
        "values out, or use fewer aliases"
    )


def test_aliases_that_expand_within_the_bound_are_read() -> None:
    loaded = read(laughs(3, 10))  # 30 aliases standing for 1,000 values
    assert loaded.data["l3"] == [[[["lol"]] * 10] * 10] * 10


def test_more_aliases_than_the_bound_are_refused_at_the_first_one_over() -> None:
    text = "a: &a 1\nb:\n" + "".join("  - *a\n" for _ in range(limits.YAML_ALIASES + 1))
    assert error(text) == (
        f"{FILE}:{3 + limits.YAML_ALIASES}: more than 100 aliases (*name); write the repeated "
        "values out, or use fewer anchors"
    )


def test_a_recursive_alias_is_refused() -> None:
    assert error("a: 1\nb: &b [1, [*b]]\n") == (
        f"{FILE}:2: a recursive alias (a value that contains itself); refer to an anchor only "
        "outside its own value"
    )


@pytest.mark.parametrize(
    ("depth", "ok"), [(limits.NESTING_DEPTH, True), (limits.NESTING_DEPTH + 1, False)]
)
def test_nesting_is_bounded_in_block_and_flow_style(depth: int, ok: bool) -> None:
    block = "".join("  " * i + "k:\n" for i in range(depth - 1)) + "  " * (depth - 1) + "k: 1\n"
    flow = "[" * depth + "]" * depth
    for text in (block, flow):
        if ok:
            read(text)
        else:
            assert error(text).endswith(": nested more than 64 levels deep; flatten the structure")


def test_aliases_cannot_nest_deeper_than_the_bound_together() -> None:
    half = "[" * 40 + "1" + "]" * 40
    assert error(f"a: &a {half}\nb: {'[' * 40}*a{']' * 40}\n") == (
        f"{FILE}:2: with its aliases expanded, nested more than 64 levels deep; flatten the "
        "structure"
    )


def test_very_deep_flow_nesting_is_the_same_error_not_a_recursion_error() -> None:
    assert error("a: " + "[" * 100_000) == (
        f"{FILE}:1: nested more than 64 levels deep; flatten the structure"
    )


@pytest.mark.parametrize(
    ("value", "digits"), [("9" * 5000, 5000), ("-0x" + "f" * 400, 402), ("1:" * 400 + "1", 401)]
)
def test_an_integer_longer_than_the_bound_is_refused_naming_its_line(
    value: str, digits: int
) -> None:
    assert error(f"a: 1\nb: {value}\n") == (
        f"{FILE}:2: an integer of {digits} digits (the limit is 300); write a smaller number, "
        "or quote it to keep it as text"
    )


def test_an_integer_within_the_bound_and_a_quoted_long_one_are_read() -> None:
    assert read(f"a: {'9' * 300}\nb: '{'9' * 5000}'\n").data == {
        "a": int("9" * 300),
        "b": "9" * 5000,
    }


def test_a_value_its_constructor_refuses_is_a_located_yaml_error() -> None:
    assert error("a: 1\nwhen: 2001-13-45\n") == (
        f"{FILE}:2: not valid YAML (cannot read '2001-13-45' as tag:yaml.org,2002:timestamp: "
        "month must be in 1..12); fix the YAML syntax"
    )


def test_a_file_over_the_size_limit_is_refused_at_the_line_it_crosses() -> None:
    assert error("a: 1\n" * 100, limit=42) == (
        f"{FILE}:9: the file goes past 42 bytes here; keep the file under 42 bytes (see "
        "Limits in the README)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"a: 1\nb: x\x00y\n", "2: not valid YAML (character U+0000 is not allowed in YAML)"),
        (b"a: 1\nb: x\x1b[2Jy\n", "2: not valid YAML (character U+001B is not allowed in YAML)"),
        ("a: 1\n".encode("utf-16"), "1: the file is UTF-16 (or UTF-32); save it as UTF-8"),
        (b"a: 1\nb: caf\xe9\n", "2: not valid UTF-8 (invalid continuation byte); save it as UTF-8"),
    ],
)
def test_bytes_yaml_cannot_hold_are_named_at_their_line(data: bytes, message: str) -> None:
    assert error(data).startswith(f"{FILE}:{message}")


def test_bom_and_crlf_and_cr_only_line_ends_are_read() -> None:
    for raw in (b"\xef\xbb\xbfa: 1\nb: 2\n", b"a: 1\r\nb: 2\r\n", b"a: 1\rb: 2\r"):
        assert read(raw).data == {"a": 1, "b": 2}


def test_a_long_problem_is_cut_to_one_short_line() -> None:
    message = error("a: !" + "x" * 5000 + " 1\n")
    assert len(message) < 300 and "\n" not in message and "…); fix the YAML syntax" in message


# -- any input ------------------------------------------------------------------------------

YAML_ALPHABET = st.sampled_from([*"abk01:-,[]{}&*!|>'\"#?~@`%\n \t.\\", "\x00", "é", "\ufeff"])


def assert_read_or_located(data: bytes | str) -> None:
    try:
        read(data)
    except ConfigError as exc:
        assert LOCATED.fullmatch(str(exc)), str(exc)
        assert exc.file == FILE and exc.line is not None


@given(st.binary(max_size=400))
def test_any_bytes_are_a_document_or_one_located_error(data: bytes) -> None:
    assert_read_or_located(data)


@settings(max_examples=300)
@given(st.text(YAML_ALPHABET, max_size=300))
def test_any_yaml_shaped_text_is_a_document_or_one_located_error(text: str) -> None:
    assert_read_or_located(text)


@settings(deadline=None)  # up to 100,000 values are read: slow on a busy machine, not stuck
@given(st.integers(min_value=1, max_value=12), st.integers(min_value=1, max_value=12))
def test_any_alias_fan_out_is_read_or_refused_without_expanding_it(
    levels: int, fanout: int
) -> None:
    # (12 levels of 12 would be 12**12 values: the test ends only if they are not expanded)
    written = 1 + 2 * (levels + 1) + 1  # the mapping, a key and a list a level, and "lol"
    expanded = 2  # nodes l<i> stands for: l0 is a list and its "lol"
    for _ in range(levels):
        expanded = 1 + fanout * expanded
    refused = levels * fanout > limits.YAML_ALIASES or expanded > written + 100_000
    try:
        loaded = read(laughs(levels, fanout))
    except ConfigError as exc:
        assert LOCATED.fullmatch(str(exc)) and refused
    else:
        assert not refused and loaded.data["l0"] == ["lol"]


# YAML 1.1 reads NEL and the Unicode line separators as line breaks, which PyYAML's
# emitter does not quote: a round trip of those is PyYAML's matter, not the reader's.
# (Lone surrogates are not text: the YAML PyYAML writes for them is refused, rightly.)
TEXT = st.text(st.characters(blacklist_characters="\x85\u2028\u2029", blacklist_categories=["Cs"]))
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(TEXT.filter(bool), children, max_size=4)
    ),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_any_json_value_written_as_yaml_reads_back_as_itself(value: Any) -> None:
    text = yaml.safe_dump({"value": value}, allow_unicode=True)
    try:
        assert read(text).data == {"value": value}
    except ConfigError as exc:  # text YAML may not hold (a control character in a string)
        assert LOCATED.fullmatch(str(exc)) and "not allowed in YAML" in str(exc)
