"""A real S3-compatible server on 127.0.0.1 for tests: moto's ``moto_server`` (from the
``moto[server]`` package, the S3 REST API over HTTP) in a subprocess of its own, so boto3
in the test talks HTTP to it and nothing in this process is patched.

Fixtures (registered in tests/conftest.py):

- ``s3_server``: the server, one per test session (each test gets a bucket of its own).
- ``s3_checking_server``: one that refuses every key (403), for access denied.
- ``s3``: a fresh bucket on it, and an environment with only that server's endpoint and a
  per-test key pair: no other AWS variable, no ~/.aws file, no instance metadata lookup.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.loopback import HOST, closed_port

START_TIMEOUT_S = 30.0
REGION = "us-east-1"
ACCESS_KEY = "AKIDLLMBENCHTESTKEY0"


@dataclass
class S3Server:
    url: str
    process: subprocess.Popen[bytes]


@dataclass
class S3Bucket:
    """A bucket of its own on the test server, with the credentials the test's
    environment holds (``secret`` is what no output may show)."""

    endpoint: str
    bucket: str
    secret: str
    admin: Any  # a boto3 S3 client on the same server, to arrange and tamper

    def url(self, key: str = "") -> str:
        return f"s3://{self.bucket}/{key}"

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        self.admin.put_object(Bucket=self.bucket, Key=key, Body=body, Metadata=metadata or {})

    def get(self, key: str) -> bytes:
        data: bytes = self.admin.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return data

    def metadata(self, key: str) -> dict[str, str]:
        return dict(self.admin.head_object(Bucket=self.bucket, Key=key)["Metadata"])

    def keys(self) -> list[str]:
        listed = self.admin.list_objects_v2(Bucket=self.bucket)
        return sorted(entry["Key"] for entry in listed.get("Contents", []))


def moto_server_command() -> list[str]:
    beside = Path(sys.executable).with_name("moto_server")
    found = str(beside) if beside.exists() else shutil.which("moto_server")
    if not found:
        pytest.fail("moto_server not found: pip install -e '.[test]' (it brings moto[server])")
    return [found]


def start_server(**settings: str) -> S3Server:
    """moto_server on 127.0.0.1 and a free port, with these environment ``settings``."""
    port = closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | settings
    process = subprocess.Popen(
        [*moto_server_command(), "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    url = f"http://{HOST}:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode} before it served")
        try:
            httpx.get(f"{url}/moto-api/", timeout=1.0)
            return S3Server(url=url, process=process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"moto_server did not answer on {url} within {START_TIMEOUT_S:g} s")


def stop_server(server: S3Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def isolate_aws(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No AWS variable from the machine, no shared files, no instance metadata lookup (that
    would leave 127.0.0.1)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "no-aws-credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


def admin_client(endpoint: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=secret,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
    )


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def s3_checking_server() -> Iterator[S3Server]:
    """A server that checks every request's credentials against its (empty) IAM users, so
    any key is refused with 403 InvalidAccessKeyId: a real access-denied reply."""
    server = start_server(INITIAL_NO_AUTH_ACTION_COUNT="0")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Bucket:
    isolate_aws(monkeypatch, tmp_path)
    secret = secrets.token_urlsafe(30)  # 40 characters, like an AWS secret key
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.url)
    bucket = f"llmbench-{uuid.uuid4().hex[:16]}"
    admin = admin_client(s3_server.url, secret)
    admin.create_bucket(Bucket=bucket)
    return S3Bucket(endpoint=s3_server.url, bucket=bucket, secret=secret, admin=admin)
