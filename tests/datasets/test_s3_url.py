"""s3:// URLs as a user writes them: a bucket and a key, or one line saying what is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_llmbench.datasets.s3_url import (
    MAX_SHOWN,
    S3Location,
    S3UrlError,
    bucket_problem,
    parse_s3_url,
)

CORPUS = Path(__file__).parents[1] / "fuzz" / "s3_urls"
KINDS = ("prefix", "object")
BUCKETS = st.from_regex(r"[a-z0-9]([a-z0-9-]{1,40})[a-z0-9]", fullmatch=True).filter(
    lambda b: bucket_problem(b) is None
)
SEGMENTS = st.text(
    st.characters(
        max_codepoint=0x44F,
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"),
        blacklist_characters="/\\?#",
    ),
    min_size=1,
    max_size=12,
).filter(lambda s: s not in (".", ".."))


def outcome(text: str, kind: str) -> dict[str, Any]:
    try:
        location = parse_s3_url(text, kind=kind)
    except S3UrlError as error:
        return {"error": str(error)}
    return {"bucket": location.bucket, "key": location.key}


def test_the_corpus_gives_the_expected_location_or_message() -> None:
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    files = sorted(p.name for p in CORPUS.glob("*.txt"))
    assert sorted(expected) == files, "every corpus file has its expected outcome"
    for name in files:
        text = (CORPUS / name).read_bytes().decode("utf-8", "replace")
        assert {kind: outcome(text, kind) for kind in KINDS} == expected[name], name


def test_a_prefix_with_or_without_its_trailing_slash_is_the_same_prefix() -> None:
    assert parse_s3_url("s3://llmbench-data/runs") == S3Location("llmbench-data", "runs/")
    assert parse_s3_url("s3://llmbench-data/runs/") == S3Location("llmbench-data", "runs/")
    assert parse_s3_url("s3://llmbench-data") == S3Location("llmbench-data", "")


def test_an_object_has_its_name_and_the_prefix_it_is_in() -> None:
    location = parse_s3_url("s3://llmbench-data/datasets/d_v1.jsonl", kind="object")
    assert (location.name, location.parent) == (
        "d_v1.jsonl",
        S3Location("llmbench-data", "datasets/"),
    )
    assert location.parent.child("d_v1.manifest.json").url == (
        "s3://llmbench-data/datasets/d_v1.manifest.json"
    )


def test_credentials_in_the_url_are_refused_and_never_repeated() -> None:
    with pytest.raises(S3UrlError) as raised:
        parse_s3_url("s3://AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG@llmbench-data/runs/")
    assert str(raised.value) == (
        "s3://***@llmbench-data/runs/: credentials in the URL are not allowed (use the AWS "
        "credential chain); expected s3://BUCKET/PREFIX/"
    )


@given(BUCKETS, st.lists(SEGMENTS, max_size=5), st.booleans())
def test_a_valid_url_round_trips_through_its_location(
    bucket: str, segments: list[str], slash: bool
) -> None:
    key = "/".join(segments) + ("/" if slash and segments else "")
    location = parse_s3_url(f"s3://{bucket}/{key}")
    assert location.bucket == bucket
    assert location.key == ("/".join(segments) + "/" if segments else "")
    assert parse_s3_url(f"s3://{location.bucket}/{location.key}") == location
    if segments and not slash:
        assert parse_s3_url(f"s3://{bucket}/{key}", kind="object").key == key


@given(st.text(max_size=300), st.sampled_from(KINDS))
def test_any_text_is_a_location_or_one_printable_line(text: str, kind: str) -> None:
    try:
        location = parse_s3_url(text, kind=kind)
    except S3UrlError as error:
        message = str(error)
        assert "\n" not in message and message.isprintable()
        assert len(message) <= MAX_SHOWN + 250
        return
    assert bucket_problem(location.bucket) is None
    segments = location.key.rstrip("/").split("/") if location.key else []
    assert ".." not in segments and "." not in segments and "" not in segments
    assert location.key == "" or location.key.endswith("/") == (kind == "prefix")


@given(st.text(min_size=1, max_size=40), BUCKETS)
def test_a_password_before_the_bucket_never_shows_in_the_error(password: str, bucket: str) -> None:
    with pytest.raises(S3UrlError) as raised:
        parse_s3_url(f"s3://user:{password}@{bucket}/runs/")
    assert f":{password}@" not in str(raised.value)
