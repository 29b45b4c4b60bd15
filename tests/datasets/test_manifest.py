"""The dataset manifest: built from the file as the plugin reads it, written and read back
exactly, and a corrupt one (tests/fuzz/manifests) refused in one line naming its key."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.corpus import FUZZ, expected, names
from support.project import make_samples

from pytest_llmbench import __version__
from pytest_llmbench.datasets import manifest
from pytest_llmbench.errors import DatasetError, UserError

NOW = datetime(2025, 11, 9, 10, 0, 0, tzinfo=timezone.utc)
SHOWN = "data/digest.manifest.json"


def write_dataset(path: Path, samples: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in samples), "utf-8")
    return path


def test_the_manifest_sits_beside_the_dataset_named_for_it() -> None:
    assert manifest.manifest_path(Path("data/x/2025-11-09_samples.jsonl")) == Path(
        "data/x/2025-11-09_samples.manifest.json"
    )


def test_a_built_manifest_holds_counts_hashes_fields_and_provenance(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "digest.jsonl", make_samples([(0.9, 0.8), (0.7, 0.6)]))
    built = manifest.build(path, source="prod logs 2025-11", now=NOW)
    assert built["dataset"] == "digest.jsonl"
    assert built["samples"] == 2
    assert list(built["sample_sha256"]) == ["s-01", "s-02"]
    assert all(len(h) == manifest.SAMPLE_HASH_CHARS for h in built["sample_sha256"].values())
    assert built["fields"] == {
        "ground_truth": ["object"],
        "id": ["string"],
        "input": ["string"],
        "latency_seconds": ["number"],
        "output": ["string"],
        "reference": ["string"],
    }
    assert built["created"] == "2025-11-09T10:00:00Z"
    assert built["source"] == "prod logs 2025-11"
    assert built["scrub"] == manifest.NOT_SCRUBBED
    assert built["tool_version"] == f"pytest-llmbench {__version__}"


def test_a_field_holding_several_types_lists_each_once_sorted(tmp_path: Path) -> None:
    path = write_dataset(
        tmp_path / "d.jsonl",
        [{"id": "a", "x": 1}, {"id": "b", "x": "one"}, {"id": "c", "x": None}, {"id": 4}],
    )
    assert manifest.build(path, now=NOW)["fields"] == {
        "id": ["number", "string"],
        "x": ["null", "number", "string"],
    }


def test_a_written_manifest_reads_back_equal(tmp_path: Path) -> None:
    path = write_dataset(tmp_path / "d.jsonl", make_samples([(0.9, 0.8)] * 3))
    built = manifest.build(path, now=NOW)
    written = manifest.write(path, built)
    assert written == tmp_path / "d.manifest.json"
    assert manifest.read(written) == built
    assert not list(tmp_path.glob("*.partial"))


def test_a_dataset_the_plugin_refuses_cannot_be_frozen(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"id": "a"}\n{"id": "a"}\n', encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        manifest.build(path, display="data/d.jsonl")
    assert str(caught.value) == 'data/d.jsonl:2: duplicate id "a" (first on line 1)'


def test_a_missing_manifest_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(DatasetError) as caught:
        manifest.read(tmp_path / "absent.manifest.json", SHOWN)
    assert str(caught.value).startswith(f"{SHOWN}: cannot read the manifest (")


def test_every_manifest_corpus_file_has_an_expectation() -> None:
    assert names("manifests") == sorted(expected("manifests"))


@pytest.mark.parametrize("name", names("manifests"))
def test_corrupt_manifests_from_the_corpus_are_read_as_expected(name: str) -> None:
    try:
        read = manifest.read(FUZZ / "manifests" / name, SHOWN)
        outcome: dict[str, Any] = {"samples": read["samples"], "ids": sorted(read["sample_sha256"])}
    except UserError as error:
        outcome = {"error": str(error)}
    assert outcome == expected("manifests")[name]


@pytest.mark.parametrize(
    "name", [n for n in names("manifests") if "error" in expected("manifests")[n]]
)
def test_each_corrupt_manifest_is_one_line_naming_the_file_and_the_fix(name: str) -> None:
    message = expected("manifests")[name]["error"]
    assert message.startswith(f"{SHOWN}: ") and "\n" not in message
    assert message.endswith(manifest.REFREEZE)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@given(st.dictionaries(st.text(max_size=6), _JSON, max_size=6))
def test_any_json_value_in_a_valid_manifest_shape_validates_or_names_a_key(
    extra: dict[str, Any],
) -> None:
    raw = json.loads((FUZZ / "manifests" / "valid.json").read_text("utf-8"))
    raw.update(extra)
    try:
        manifest.validate(raw, SHOWN)
    except DatasetError as error:
        assert str(error).startswith(f"{SHOWN}: manifest key '")
        assert "\n" not in str(error)


@given(st.dictionaries(st.text(max_size=5), _JSON, max_size=5))
def test_the_sample_hash_ignores_key_order_and_tells_values_apart(fields: dict[str, Any]) -> None:
    reordered = dict(reversed(list(fields.items())))
    assert manifest.sample_hash(reordered) == manifest.sample_hash(fields)
    assert manifest.sample_hash({**fields, "\x00extra": 1}) != manifest.sample_hash(fields)


def test_the_id_field_reads_back_as_frozen_and_as_id_in_a_manifest_older_than_the_key() -> None:
    assert manifest.read(FUZZ / "manifests" / "id-field-msg-id.json")["id_field"] == "msg_id"
    assert manifest.read(FUZZ / "manifests" / "valid.json")["id_field"] == "id"
