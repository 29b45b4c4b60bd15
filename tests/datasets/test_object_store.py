"""Connecting to S3: the extra, the endpoint, the credentials; each failure one line."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.cli import Run
from support.s3_server import S3Bucket, S3Server, isolate_aws

from pytest_llmbench.datasets import manifest
from pytest_llmbench.datasets.object_store import (
    EXTRA_MISSING,
    StoreError,
    connect,
    endpoint_from,
)
from pytest_llmbench.datasets.s3_url import S3Location

Llmbench = Callable[..., Run]


@pytest.mark.parametrize("module", ["boto3", "botocore.config"])
def test_without_the_s3_extra_each_command_says_which_extra_to_install(
    llmbench: Llmbench, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # `import boto3` raises ImportError
    expected = (2, "", "llmbench: S3 needs the s3 extra: pip install 'pytest-llmbench[s3]'\n")
    assert EXTRA_MISSING == "S3 needs the s3 extra: pip install 'pytest-llmbench[s3]'"
    dataset = tmp_path / "d.jsonl"
    dataset.write_text('{"id": "a", "output": "x"}\n', encoding="utf-8")
    manifest.write(dataset, manifest.build(dataset))
    assert llmbench("dataset", "push", str(dataset), "s3://bucket-a/d/") == expected
    assert llmbench("dataset", "pull", "s3://bucket-a/d/d.jsonl", str(tmp_path)) == expected
    assert llmbench("history", "s3://bucket-a/runs/") == expected


def test_the_endpoint_comes_from_the_option_then_the_environment() -> None:
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ENDPOINT_URL_S3": ""}
    assert endpoint_from(None, env) == "http://127.0.0.1:9000"
    assert endpoint_from(None, {**env, "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9001"}) == (
        "http://127.0.0.1:9001"
    )
    assert endpoint_from("https://127.0.0.1:9002", env) == "https://127.0.0.1:9002"
    assert endpoint_from(None, {"AWS_ENDPOINT_URL": "  "}) is None
    assert endpoint_from(None, {}) is None


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("127.0.0.1:9000", "<unreadable URL>"),
        ("ftp://127.0.0.1/", "ftp://127.0.0.1/"),
        ("http://minio:s3cr3tpassw0rd@127.0.0.1:9000", "http://127.0.0.1:9000"),
        ("http://127.0.0.1:99999", "<unreadable URL>"),
        ("http://127.0.0.1:9000/?X-Amz-Signature=abcdef123456", "http://127.0.0.1:9000/"),
    ],
)
def test_a_bad_endpoint_is_refused_without_repeating_its_secrets(given: str, shown: str) -> None:
    with pytest.raises(StoreError) as raised:
        endpoint_from(given, {})
    assert str(raised.value) == (
        f"--endpoint-url {shown}: expected http(s)://HOST[:PORT] with no user:password, "
        "query or fragment"
    )


def test_a_bad_endpoint_variable_is_named(
    llmbench: Llmbench, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "minio:9000")
    assert llmbench("history", "s3://bucket-a/runs/") == (
        2,
        "",
        "llmbench: AWS_ENDPOINT_URL <unreadable URL>: expected http(s)://HOST[:PORT] with no "
        "user:password, query or fragment\n",
    )


def test_a_refused_upload_is_one_access_denied_line(
    s3: S3Bucket, s3_checking_server: S3Server, tmp_path: Path
) -> None:
    store = connect(s3_checking_server.url)
    path = tmp_path / "d.jsonl"
    path.write_text("{}\n", encoding="utf-8")
    with pytest.raises(StoreError) as raised:
        store.upload(path, S3Location(s3.bucket, "d/d.jsonl"), "0" * 64, "application/x-ndjson")
    assert str(raised.value) == (
        f"s3://{s3.bucket}/d/d.jsonl: access denied (InvalidAccessKeyId) at "
        f"{s3_checking_server.url}; check the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) and "
        "the bucket's policy"
    )


def test_a_profile_that_does_not_exist_is_one_line(
    llmbench: Llmbench, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    assert llmbench("history", "s3://bucket-a/runs/", "--endpoint-url", "http://127.0.0.1:1") == (
        2,
        "",
        "llmbench: cannot read the AWS configuration (The config profile (no-such-profile) "
        "could not be found); check AWS_PROFILE and the files in ~/.aws/\n",
    )
