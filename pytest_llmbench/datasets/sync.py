"""A frozen dataset and its manifest, pushed to an S3 prefix and pulled back, as one version.

``push`` uploads the data, then the manifest: a prefix that holds a manifest holds a whole
version (a push cut short leaves data without a manifest, which the next push replaces).
Both objects carry the data's sha256 as metadata (``x-amz-meta-sha256``). ``pull`` reads
the manifest, streams the data into a temporary file beside its destination while hashing
it, and renames both into place only when the hash is the manifest's: a mismatch leaves
nothing behind. Neither overwrites a different version without ``force``; the same version
is a no-op that says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pytest_llmbench.datasets import manifest as manifest_mod
from pytest_llmbench.datasets.manifest import Manifest
from pytest_llmbench.datasets.object_store import Store, StoreError
from pytest_llmbench.datasets.s3_url import S3Location, key_problem
from pytest_llmbench.errors import DatasetError, os_reason

DATA_TYPE = "application/x-ndjson"
MANIFEST_TYPE = "application/json"
SHOWN_HASH = 12  # hex digits of a sha256 in a message


@dataclass(frozen=True)
class Outcome:
    changed: bool  # False: the destination already held this version
    message: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
    except OSError as error:
        raise DatasetError(f"{path}: cannot read ({os_reason(error, path)})") from None
    return digest.hexdigest()


def short(sha256: str) -> str:
    return sha256[:SHOWN_HASH]


def manifest_key(name: str) -> str:
    """``x.jsonl`` -> ``x.manifest.json`` (as manifest.manifest_path does for a path)."""
    return manifest_mod.manifest_path(Path(name)).name


def remote_manifest(store: Store, location: S3Location, fix: str) -> tuple[Manifest, bytes]:
    """The manifest object read back and checked key by key, and its bytes; damage is one
    line naming the URL, the key and ``fix``."""
    data = store.get_bytes(location, manifest_mod.MAX_MANIFEST_BYTES)
    return parse_manifest(data, location, fix), data


def parse_manifest(data: bytes, location: S3Location, fix: str) -> Manifest:
    """A manifest object's bytes, checked as `manifest.read` checks a file."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise StoreError(f"{location.url}: the manifest is not valid JSON; {fix}") from None
    stand_in = Path(location.name)
    try:
        return manifest_mod.validate(raw, stand_in)
    except DatasetError as error:
        text = str(error).removeprefix(str(stand_in))
        what = text.removeprefix(": ").split(";", 1)[0]
        raise StoreError(f"{location.url}: {what}; {fix}") from None


@dataclass(frozen=True)
class LocalVersion:
    """A dataset checked against its manifest, ready to push."""

    dataset: Path
    manifest_file: Path
    manifest: Manifest
    manifest_bytes: bytes
    sha256: str


def local_version(dataset: Path) -> LocalVersion:
    """``dataset`` and the manifest beside it, the data's bytes checked against it: what a
    push needs, checked before any request."""
    manifest_file = manifest_mod.manifest_path(dataset)
    if not dataset.is_file():
        raise DatasetError(f"{dataset}: no such dataset file")
    if not manifest_file.is_file():
        raise DatasetError(
            f"{dataset}: no manifest beside it ({manifest_file.name}); freeze it first: "
            f"llmbench dataset freeze {dataset}"
        )
    local = manifest_mod.read(manifest_file)
    if local["dataset"] != dataset.name:
        raise DatasetError(
            f"{manifest_file}: the manifest is for {local['dataset']!r}, not {dataset.name!r}; "
            f"freeze the dataset again: llmbench dataset freeze {dataset}"
        )
    sha256 = file_sha256(dataset)
    if sha256 != local["sha256"]:
        raise DatasetError(
            f"{dataset}: the data (sha256 {short(sha256)}) does not match its manifest "
            f"({short(local['sha256'])}); restore the file or freeze it again: "
            f"llmbench dataset freeze {dataset}"
        )
    try:
        manifest_bytes = manifest_file.read_bytes()
    except OSError as error:
        raise DatasetError(f"{manifest_file}: cannot read ({os_reason(error)})") from None
    return LocalVersion(dataset, manifest_file, local, manifest_bytes, sha256)


def push(store: Store, version: LocalVersion, destination: S3Location, *, force: bool) -> Outcome:
    """Upload the dataset and its manifest under the prefix ``destination``."""
    dataset, manifest_file, sha256 = version.dataset, version.manifest_file, version.sha256
    data_at = destination.child(dataset.name)
    problem = key_problem(data_at.key)
    if problem:
        raise DatasetError(f"{dataset}: cannot name an S3 object ({problem}); rename the file")
    manifest_at = destination.child(manifest_file.name)
    store.check_bucket(destination)
    if store.metadata(manifest_at) is not None:
        try:
            remote: Manifest | None = remote_manifest(
                store, manifest_at, "replace it with llmbench dataset push --force"
            )[0]
        except StoreError:
            if not force:
                raise
            remote = None
        if remote is not None and remote["sha256"] == sha256:
            if (store.metadata(data_at) or {}).get("sha256") == sha256:
                return Outcome(
                    False,
                    f"{data_at.url}: already holds this version (sha256 {short(sha256)}); "
                    "nothing pushed",
                )
        elif remote is not None and not force:
            raise StoreError(
                f"{manifest_at.url}: holds another version of {dataset.name} (sha256 "
                f"{short(remote['sha256'])}, here {short(sha256)}); push the new version "
                "under a new name (NAME_v2) or replace it with --force"
            )
    store.upload(dataset, data_at, sha256, DATA_TYPE)
    store.put_bytes(version.manifest_bytes, manifest_at, sha256, MANIFEST_TYPE)  # last
    return Outcome(
        True,
        f"pushed {dataset.name} ({version.manifest['samples']} samples, sha256 "
        f"{short(sha256)}) and its manifest to {destination.url}",
    )


def pull(store: Store, source: S3Location, directory: Path, *, force: bool) -> Outcome:
    """Download the dataset object ``source`` and its manifest into ``directory``."""
    name = source.name
    manifest_name = manifest_key(name)
    if manifest_name == name or name.endswith(manifest_mod.SUFFIX):
        raise StoreError(
            f"{source.url}: name the dataset object (NAME.jsonl), not its manifest; the "
            "manifest comes with it"
        )
    manifest_at = source.parent.child(manifest_name)
    store.check_bucket(source)
    if store.metadata(manifest_at) is None:
        raise StoreError(
            f"{manifest_at.url}: no such object, so {name} is not a pushed version there; "
            "check the URL, or push it: llmbench dataset push PATH "
            f"{source.parent.url}"
        )
    remote, manifest_bytes = remote_manifest(
        store, manifest_at, "push the dataset again (with --force)"
    )
    if remote["dataset"] != name:
        raise StoreError(
            f"{manifest_at.url}: the manifest is for {remote['dataset']!r}, not {name!r}; "
            "push the dataset again (with --force)"
        )
    target = directory / name
    target_manifest = directory / manifest_name
    if directory.exists() and not directory.is_dir():
        raise DatasetError(f"{directory}: not a folder; name a folder to pull into")
    if target.exists():
        here = file_sha256(target)
        if here == remote["sha256"] and _local_manifest_sha(target_manifest) == here:
            return Outcome(
                False,
                f"{target}: already holds this version (sha256 {short(here)}); nothing pulled",
            )
        if here != remote["sha256"] and not force:
            raise DatasetError(
                f"{target}: holds another version (sha256 {short(here)}, "
                f"{source.url} has {short(remote['sha256'])}); move it aside, or replace it "
                "with --force"
            )
    elif target_manifest.exists() and not force:
        raise DatasetError(
            f"{target_manifest}: a manifest without its dataset is in the way; move it "
            "aside, or replace it with --force"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f"{directory}: cannot create ({os_reason(error, directory)})") from None
    _download_verified(store, source, remote, target)
    _write_atomically(target_manifest, manifest_bytes)
    return Outcome(
        True,
        f"pulled {name} ({remote['samples']} samples, sha256 {short(remote['sha256'])}, "
        f"verified) and its manifest into {directory}",
    )


def _local_manifest_sha(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        return manifest_mod.read(path)["sha256"]
    except DatasetError:
        return None


def _partial(target: Path) -> tuple[int, Path]:
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as error:
        raise DatasetError(f"{target.parent}: cannot write ({os_reason(error)})") from None
    return fd, Path(name)


def _download_verified(store: Store, source: S3Location, remote: Manifest, target: Path) -> None:
    fd, partial = _partial(target)
    try:
        with os.fdopen(fd, "wb") as out:
            sha256 = store.download(source, out)
            out.flush()
            os.fsync(out.fileno())
        if sha256 != remote["sha256"]:
            raise StoreError(
                f"{source.url}: the data's sha256 ({short(sha256)}) is not its manifest's "
                f"({short(remote['sha256'])}): the remote copy is damaged or was changed "
                "after the push; push it again. Nothing was written"
            )
        partial.replace(target)
    except OSError as error:
        raise DatasetError(f"{target}: cannot write ({os_reason(error, partial)})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _write_atomically(target: Path, data: bytes) -> None:
    fd, partial = _partial(target)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)
    except OSError as error:
        raise DatasetError(f"{target}: cannot write ({os_reason(error, partial)})") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
