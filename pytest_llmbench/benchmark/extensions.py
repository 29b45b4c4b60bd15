"""What the YAML names by import path or by entry point: a `module:function` metric
source, a `module:Class` judge kind, an `output: module:function`; or a NAME that an
installed package registers in an entry-point group.

Names are listed (cheaply, no import) when the config is read; the object itself is
loaded only when the run needs it (at collection), so a package's import errors are
collection errors naming the YAML line (see `ImportFailed`).
"""

from __future__ import annotations

import importlib
import re
from importlib.metadata import entry_points
from typing import Any

__all__ = [
    "JUDGES_GROUP",
    "METRICS_GROUP",
    "ImportFailed",
    "entry_point_names",
    "is_import_path",
    "load",
]

METRICS_GROUP = "pytest_llmbench.metrics"  # `source: NAME`
JUDGES_GROUP = "pytest_llmbench.judges"  # `kind: NAME`
IMPORT_PATH_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class ImportFailed(Exception):
    """`load` could not give the object; the message says why, in a few words."""


def is_import_path(value: str) -> bool:
    """`module:attribute`, as `output:`, `source:` and `kind:` accept it."""
    return bool(IMPORT_PATH_RE.match(value))


def entry_point_names(group: str) -> list[str]:
    """The names installed packages register in `group`, sorted (nothing is imported)."""
    return sorted({point.name for point in entry_points(group=group)})


def load(spec: str, group: str | None = None) -> Any:
    """The object `spec` names: `module:attribute` imported, else the entry point `spec`
    of `group`, loaded. ImportFailed (never another exception) when it cannot be."""
    try:
        if is_import_path(spec):
            module_name, _, attribute = spec.partition(":")
            return getattr(importlib.import_module(module_name), attribute)
        if group is not None:
            for point in entry_points(group=group, name=spec):
                return point.load()
        raise ImportFailed(f"no entry point {spec!r} in {group}")
    except ImportFailed:
        raise
    except Exception as error:  # whatever the user's module raises on import
        words = " ".join(str(error).split())[:200]
        shown = f"{type(error).__name__}: {words}" if words else type(error).__name__
        raise ImportFailed(shown) from None
