"""An S3 (or MinIO) bucket as the few operations dataset sync and history need.

boto3 comes from the ``s3`` extra and is imported only here, when a command needs it.
Credentials come from the usual AWS chain (``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE``, the shared files, ...); the endpoint from
``--endpoint-url``, else ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (MinIO), else AWS.
Every failure is one ``StoreError`` line naming the URL and what to fix, passed through
``redaction.redact`` with the credentials as secrets: a key is never printed, whole or in
part. Requests are bounded: a few attempts with short connect and read timeouts, so an
endpoint that is down is an error within seconds, never a hang.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pytest_llmbench.datasets.s3_url import S3Location
from pytest_llmbench.errors import UserError
from pytest_llmbench.redaction import public_url, redact, url_origin

__all__ = ["EXTRA_MISSING", "Store", "StoreError", "connect", "endpoint_from"]

EXTRA_MISSING = "S3 needs the s3 extra: pip install 'pytest-llmbench[s3]'"
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 30
ATTEMPTS = 3  # in all, the first included
CHUNK = 1024 * 1024
SAID_LIMIT = 200  # characters of a server's or boto3's own message in an error line
SHA256_KEY = "sha256"  # the object metadata key (x-amz-meta-sha256) holding the bytes' hash
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
    "AWS_PROFILE (see the AWS CLI's configuration docs)"
)
DENIED_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
    }
)


class StoreError(UserError):
    """An S3 request that failed in a way the user can fix: one line, the URL and the fix."""


class TooLarge(StoreError):
    """An object over the size a reader accepts."""


def endpoint_from(option: str | None, environ: Mapping[str, str]) -> str | None:
    """The endpoint URL to use (``--endpoint-url``, else the environment), or None for
    AWS's own. Refused unless it is ``http(s)://HOST[:PORT][/PATH]`` without user:password
    (credentials come from the AWS chain, never from a URL)."""
    source, value = "--endpoint-url", option
    if not value:
        for name in ENDPOINT_VARIABLES:
            if environ.get(name, "").strip():
                source, value = name, environ[name].strip()
                break
    if not value:
        return None
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or "@" in parts.netloc
        or parts.query
        or parts.fragment
    ):
        raise StoreError(
            f"{source} {public_url(value)}: expected http(s)://HOST[:PORT] "
            "with no user:password, query or fragment"
        )
    return value


@dataclass
class Store:
    """A connected client and what its errors must hide."""

    client: Any  # a botocore S3 client
    endpoint: str | None
    secrets: tuple[str, ...]

    @property
    def where(self) -> str:
        return url_origin(self.endpoint) if self.endpoint else "AWS S3"

    # -- requests ----------------------------------------------------------------------

    def check_bucket(self, location: S3Location) -> None:
        """The bucket exists and these credentials may use it."""
        with self.calling(location, bucket=True):
            self.client.head_bucket(Bucket=location.bucket)

    def metadata(self, location: S3Location) -> dict[str, str] | None:
        """The object's user metadata, or None when there is no such object."""
        with self.calling(location, missing_ok=True):  # a missing object ends the block
            reply = self.client.head_object(Bucket=location.bucket, Key=location.key)
            return {str(k).lower(): str(v) for k, v in (reply.get("Metadata") or {}).items()}
        return None

    def get_bytes(self, location: S3Location, limit: int) -> bytes:
        """The whole object, at most ``limit`` bytes (TooLarge past that)."""
        with self.calling(location):
            reply = self.client.get_object(Bucket=location.bucket, Key=location.key)
            body = reply["Body"]
            try:
                data: bytes = body.read(limit + 1)
            finally:
                body.close()
        if len(data) > limit:
            raise TooLarge(f"{location.url}: over {limit} bytes, more than this reader takes")
        return data

    def download(self, location: S3Location, out: BinaryIO, limit: int | None = None) -> str:
        """Stream the object into ``out``; the sha256 of its bytes. At most ``limit``
        bytes when given (TooLarge past that)."""
        digest = hashlib.sha256()
        size = 0
        with self.calling(location):
            reply = self.client.get_object(Bucket=location.bucket, Key=location.key)
            body = reply["Body"]
            try:
                while chunk := body.read(CHUNK):
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise TooLarge(
                            f"{location.url}: over {limit} bytes, more than this reader takes"
                        )
                    digest.update(chunk)
                    out.write(chunk)
            finally:
                body.close()
        return digest.hexdigest()

    def upload(self, path: Path, location: S3Location, sha256: str, content_type: str) -> None:
        """Upload the file with its sha256 as object metadata (in parts when it is large)."""
        from boto3.exceptions import S3UploadFailedError

        with self.calling(location):
            try:
                self.client.upload_file(
                    str(path),
                    location.bucket,
                    location.key,
                    ExtraArgs={"Metadata": {SHA256_KEY: sha256}, "ContentType": content_type},
                )
            except S3UploadFailedError as error:  # wraps the ClientError it caught
                cause = error.__cause__ or error.__context__
                if cause is None:
                    raise StoreError(
                        f"{location.url}: the upload failed ({self.said(error)})"
                    ) from None
                raise cause from None

    def put_bytes(self, data: bytes, location: S3Location, sha256: str, content_type: str) -> None:
        with self.calling(location):
            self.client.put_object(
                Bucket=location.bucket,
                Key=location.key,
                Body=data,
                Metadata={SHA256_KEY: sha256},
                ContentType=content_type,
            )

    def objects(self, prefix: S3Location) -> Iterator[tuple[S3Location, int]]:
        """The objects directly under ``prefix`` (not in its sub-prefixes), in key order,
        with their sizes; a page of keys at a time."""
        token: str | None = None
        while True:
            with self.calling(prefix, bucket=True):
                request: dict[str, Any] = {
                    "Bucket": prefix.bucket,
                    "Prefix": prefix.key,
                    "Delimiter": "/",
                }
                if token:
                    request["ContinuationToken"] = token
                page = self.client.list_objects_v2(**request)
            for entry in page.get("Contents") or []:
                key = str(entry.get("Key", ""))
                if key != prefix.key:
                    yield S3Location(prefix.bucket, key), int(entry.get("Size") or 0)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    # -- errors ------------------------------------------------------------------------

    @contextmanager
    def calling(
        self, location: S3Location, *, bucket: bool = False, missing_ok: bool = False
    ) -> Iterator[None]:
        """Translate what boto3 raises into one StoreError line (redacted); with
        ``missing_ok`` a missing object ends the block quietly."""
        from botocore import exceptions as boto

        try:
            yield
        except boto.NoCredentialsError:
            raise StoreError(NO_CREDENTIALS) from None
        except boto.PartialCredentialsError as error:
            raise StoreError(self.redact(f"incomplete AWS credentials ({error})")) from None
        except boto.ClientError as error:
            response: Mapping[str, Any] = error.response or {}
            code = str((response.get("Error") or {}).get("Code") or "")
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code in ("NoSuchBucket",) or (bucket and code in ("404", "NotFound")):
                raise StoreError(
                    f"s3://{location.bucket}: no such bucket at {self.where}; create it or "
                    "check the name (and --endpoint-url / AWS_ENDPOINT_URL)"
                ) from None
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                if missing_ok:
                    return
                raise StoreError(f"{location.url}: no such object at {self.where}") from None
            if code in DENIED_CODES or status == 403:
                why = code if code in DENIED_CODES else status
                raise StoreError(
                    f"{location.url}: access denied ({why}) at {self.where}; check "
                    "the credentials (AWS_ACCESS_KEY_ID, AWS_PROFILE) and the bucket's policy"
                ) from None
            message = str((response.get("Error") or {}).get("Message") or code or status)
            raise StoreError(
                f"{location.url}: the S3 request failed ({self.said(message)})"
            ) from None
        except (boto.EndpointConnectionError, boto.ConnectTimeoutError):
            raise StoreError(
                f"cannot reach the S3 endpoint {self.where} (after {ATTEMPTS} attempts); "
                "check that it is up and --endpoint-url / AWS_ENDPOINT_URL"
            ) from None
        except (boto.ReadTimeoutError, boto.ConnectionClosedError):
            raise StoreError(
                f"{location.url}: the S3 endpoint {self.where} stopped answering "
                f"(after {ATTEMPTS} attempts); try again"
            ) from None
        except boto.BotoCoreError as error:
            raise StoreError(
                f"{location.url}: the S3 request failed ({self.said(error)})"
            ) from None

    def redact(self, text: str) -> str:
        return redact(text, self.secrets)

    def said(self, what: object) -> str:
        """What a server or boto3 said, fit for one line: redacted, then cut short."""
        return one_line(self.redact(str(what)))


def one_line(text: str, limit: int = SAID_LIMIT) -> str:
    """``text`` on one line of printable characters, at most ``limit`` of them."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def connect(endpoint_url: str | None = None, environ: Mapping[str, str] | None = None) -> Store:
    """A Store on the endpoint (``--endpoint-url``, else the environment, else AWS) with
    the AWS chain's credentials; StoreError without the extra, without credentials or with
    a bad endpoint URL."""
    env = os.environ if environ is None else environ
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise StoreError(EXTRA_MISSING) from None
    from botocore.exceptions import BotoCoreError

    endpoint = endpoint_from(endpoint_url, env)
    try:
        session = boto3.session.Session()
        credentials = session.get_credentials()
        frozen = None if credentials is None else credentials.get_frozen_credentials()
    except BotoCoreError as error:  # ProfileNotFound, a broken ~/.aws/config, ...
        raise StoreError(
            f"cannot read the AWS configuration ({one_line(str(error))}); check AWS_PROFILE "
            "and the files in ~/.aws/"
        ) from None
    if frozen is None:
        raise StoreError(NO_CREDENTIALS)
    secrets = tuple(s for s in (frozen.secret_key, frozen.token, frozen.access_key) if s)
    options: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "read_timeout": READ_TIMEOUT_S,
        "retries": {"total_max_attempts": ATTEMPTS, "mode": "standard"},
    }
    if endpoint:  # MinIO and most S3-compatible servers serve buckets as paths, not hosts
        options["s3"] = {"addressing_style": "path"}
    if "request_checksum_calculation" in Config.OPTION_DEFAULTS:  # botocore 1.36 and later
        # Checksums only where an operation needs one: S3-compatible servers differ.
        options["request_checksum_calculation"] = "when_required"
        options["response_checksum_validation"] = "when_required"
    config = Config(**options)
    try:
        client = session.client("s3", endpoint_url=endpoint, config=config)
    except ValueError as error:  # "Invalid endpoint: ..."
        raise StoreError(redact(f"cannot use the S3 endpoint ({error})", secrets)) from None
    return Store(client=client, endpoint=endpoint, secrets=secrets)
