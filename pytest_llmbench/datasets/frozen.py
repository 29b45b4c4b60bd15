"""A dataset checked against the manifest frozen beside it: by the plugin at collection
(run/item_side.py) and by ``llmbench dataset verify``, with the same sentence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_llmbench.benchmark.dataset import Dataset
from pytest_llmbench.config_file import is_file
from pytest_llmbench.datasets import manifest as manifest_mod
from pytest_llmbench.datasets.manifest import Manifest
from pytest_llmbench.datasets.manifest_diff import Change, describe, diff
from pytest_llmbench.errors import DatasetError
from pytest_llmbench.results.schema import ManifestFingerprint


@dataclass(frozen=True)
class Verified:
    path: Path  # the manifest's
    display: str  # the manifest's path as shown (beside the dataset's as the user wrote it)
    manifest: Manifest
    sha256: str  # of the manifest file's bytes
    change: Change


def shown_beside(display: str) -> str:
    """The manifest's path as shown, from the dataset's as the user wrote it."""
    return str(manifest_mod.manifest_path(Path(display)))


def verify(data: Dataset) -> Verified | None:
    """The dataset against its frozen manifest; None when it has none. A corrupt manifest is
    a DatasetError naming its key."""
    path = manifest_mod.manifest_path(data.path)
    if not is_file(path):
        return None
    display = shown_beside(data.display)
    frozen, digest = manifest_mod.load(path, display)
    id_field = id_field_of(frozen)
    if id_field != data.id_field:
        raise DatasetError(
            f"{data.display}: frozen with ids from field {id_field!r} ({display}), read with "
            f"ids from {data.id_field!r}; map them alike: the scenario's `fields: {{id: "
            f"{id_field}}}` (llmbench dataset: --scenario NAME or --id-field {id_field}), or "
            "freeze it again with the mapping it is read with"
        )
    return Verified(path, display, frozen, digest, diff(frozen, manifest_mod.of_dataset(data)))


def id_field_of(manifest: Manifest) -> str:
    """The field a manifest's ids were read from ("id" in one older than the key)."""
    return manifest.get("id_field", "id")


def refusal(data: Dataset, verified: Verified) -> str:
    """The one line that refuses a changed frozen dataset: the file, what changed, the fix."""
    change = verified.change
    fix = f"revert the file, or freeze it again with `llmbench dataset freeze {data.display}`" + (
        "" if change.only_bytes else " and bump the dataset version"
    )
    return (
        f"{data.display}: changed since it was frozen ({verified.display}, "
        f"{verified.manifest['created']}): {describe(change)}; {fix}"
    )


def checked(data: Dataset, rootdir: Path) -> ManifestFingerprint | None:
    """The fingerprint of the manifest a dataset matches; DatasetError when it does not."""
    verified = verify(data)
    if verified is None:
        return None
    if not verified.change.unchanged:
        raise DatasetError(refusal(data, verified))
    return fingerprint(verified, rootdir)


def fingerprint(verified: Verified, rootdir: Path) -> ManifestFingerprint:
    path = Path(verified.path).absolute()
    shown = path.relative_to(rootdir) if path.is_relative_to(rootdir) else path
    return {
        "path": shown.as_posix(),
        "created": verified.manifest["created"],
        "sha256": verified.sha256,
    }
