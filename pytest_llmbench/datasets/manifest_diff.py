"""What changed between a frozen manifest and the dataset as it is now, by sample id.

Pure: two manifests in, a ``Change`` out, and one sentence for it. The frozen manifest keeps
each sample's hash by id (a JSON object, so not the file order) and a hash of the ids in
file order: that is enough to name the samples added, removed and edited, to tell that
only the order changed, and to tell a file whose bytes changed with the same samples
(whitespace, key order, escapes) from one whose samples changed.
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_llmbench.datasets.manifest import Manifest

SHOWN_IDS = 5  # ids listed per kind of change before "and N more"


@dataclass(frozen=True)
class Change:
    added: tuple[str, ...]  # in the file's order now
    removed: tuple[str, ...]  # sorted (the manifest does not keep the old order)
    edited: tuple[str, ...]  # in the file's order now
    reordered: bool  # the same ids, in another order
    bytes_changed: bool  # the file's sha256 is not the frozen one

    @property
    def unchanged(self) -> bool:
        return not self.bytes_changed and not self.samples_changed

    @property
    def samples_changed(self) -> bool:
        return bool(self.added or self.removed or self.edited or self.reordered)

    @property
    def only_bytes(self) -> bool:
        """The same samples in the same order: only whitespace, key order or escapes."""
        return self.bytes_changed and not self.samples_changed


def diff(frozen: Manifest, now: Manifest) -> Change:
    """``now`` against ``frozen``; ``now`` is built from the file (its hashes in file order)."""
    old, new = frozen["sample_sha256"], now["sample_sha256"]
    same_ids = old.keys() == new.keys()
    return Change(
        added=tuple(i for i in new if i not in old),
        removed=tuple(sorted(i for i in old if i not in new)),
        edited=tuple(i for i in new if i in old and old[i] != new[i]),
        reordered=same_ids and frozen["ids_sha256"] != now["ids_sha256"],
        bytes_changed=frozen["sha256"] != now["sha256"],
    )


def _ids(ids: tuple[str, ...], limit: int) -> str:
    shown = ", ".join(ids[:limit])
    more = len(ids) - limit
    return f"{shown}, and {more} more" if more > 0 else shown


def describe(change: Change, limit: int = SHOWN_IDS) -> str:
    """``3 samples added (a, b, c), 1 removed (d), 2 edited (e, f)``; ``the ids' order
    changed``; or, for the same samples, that only the bytes changed. "" when unchanged."""
    parts = []
    for ids, verb in ((change.added, "added"), (change.removed, "removed")):
        if ids:
            parts.append(f"{len(ids)} {verb} ({_ids(ids, limit)})")
    if change.edited:
        parts.append(f"{len(change.edited)} edited ({_ids(change.edited, limit)})")
    if parts:
        count = parts[0].split(" ", 1)[0]
        parts[0] = f"{count} sample{'' if count == '1' else 's'} {parts[0].split(' ', 1)[1]}"
    if change.reordered:
        parts.append("the samples' order changed")
    if parts:
        return ", ".join(parts)
    if change.only_bytes:
        return (
            "the file's bytes changed but its samples did not (whitespace, key order or "
            "escapes only)"
        )
    return ""
