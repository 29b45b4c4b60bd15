"""The Pushgateway grouping key: its text form (``--llmbench-pushgateway-group``, the ini
key, ``llmbench metrics --group``), the label rules every source is checked against, and
the default. A fuzz corpus (tests/fuzz/grouping_key/) and hypothesis properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.benchmark.grouping_key import (
    GROUP_LABEL,
    RESERVED_LABELS,
    check_grouping,
    default_grouping,
    parse_grouping,
)

CORPUS = Path(__file__).parents[1] / "fuzz" / "grouping_key"


def outcome(text: str) -> dict[str, object]:
    try:
        return {"group": parse_grouping(text)}
    except ValueError as error:
        return {"error": str(error)}


def test_the_corpus_gives_the_expected_group_or_message() -> None:
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    files = sorted(p.name for p in CORPUS.glob("*.txt"))
    assert sorted(expected) == files, "every corpus file has its expected outcome"
    for name in files:
        text = (CORPUS / name).read_bytes().decode("utf-8", "replace")
        assert outcome(text) == expected[name], name


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("suite=nightly", {"suite": "nightly"}),
        (" suite = nightly , team=search", {"suite": "nightly", "team": "search"}),
        ("suite=owner/repo", {"suite": "owner/repo"}),
        ("", {}),
    ],
)
def test_label_value_pairs_are_read(text: str, group: dict[str, str]) -> None:
    assert parse_grouping(text) == group


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("suite", "'suite' is not LABEL=VALUE (e.g. suite=nightly)"),
        ("suite=", "the label suite needs a value (suite=NAME)"),
        ("suite=a,suite=b", "the label 'suite' is given twice"),
        ("job=x", "the label job is the plugin's own: pick another name (e.g. suite)"),
        ("scenario=x", "the label scenario is the plugin's own: pick another name (e.g. suite)"),
        (
            "__x=1",
            "'__x' is not a label name (letters, digits and _, not starting with a digit or __)",
        ),
        ("suite=a\x1b[2Jb", "the value of suite holds a control or invisible character"),
    ],
)
def test_a_bad_pair_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_grouping(text)
    assert str(info.value) == message


def test_the_shard_label_is_allowed_only_where_the_plugin_adds_it() -> None:
    assert check_grouping({"suite": "a", "shard": "1-of-2"}, shard=True) is None
    assert check_grouping({"shard": "1-of-2"}) == (
        "the label shard is the plugin's own: pick another name (e.g. suite)"
    )


def test_the_default_is_the_rootdir_name_as_suite(tmp_path: Path) -> None:
    assert default_grouping(tmp_path / "my-repo") == {GROUP_LABEL: "my-repo"}
    assert default_grouping(Path("/")) == {GROUP_LABEL: "root"}


@given(st.text(max_size=300))
def test_any_text_is_a_valid_group_or_one_line_value_error(text: str) -> None:
    try:
        group = parse_grouping(text)
    except ValueError as error:
        message = str(error)
        assert message and "\n" not in message and len(message) < 200
        assert message.isprintable()  # hostile text is shown escaped
        return
    assert check_grouping(group) is None
    assert not RESERVED_LABELS & set(group)
    assert all(value and value.isprintable() for value in group.values())


label = st.from_regex(r"\A[a-z][a-z0-9_]{0,20}\Z").filter(lambda s: s not in RESERVED_LABELS)
value = st.text(
    st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=50,
).filter(lambda v: v.strip() == v and v.isprintable() and "," not in v and "=" not in v)


@given(st.dictionaries(label, value, min_size=1, max_size=8))
def test_a_written_group_reads_back_the_same(group: dict[str, str]) -> None:
    assert parse_grouping(",".join(f"{k}={v}" for k, v in group.items())) == group
