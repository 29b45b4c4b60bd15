"""A tiny installed distribution on disk: a module and a `.dist-info` whose
`entry_points.txt` registers its metrics and judges, found by importlib.metadata once the
directory is on sys.path (pytester's syspathinsert, or the ini `pythonpath`), no pip."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def write_distribution(
    root: Path,
    module: str,
    source: str,
    *,
    metrics: Mapping[str, str] | None = None,
    judges: Mapping[str, str] | None = None,
) -> None:
    """`root/<module>.py` holding `source`, and `root/<module>-1.0.dist-info` registering
    {name: "module:attribute"} in the pytest_llmbench.metrics and .judges groups."""
    (root / f"{module}.py").write_text(source, encoding="utf-8")
    info = root / f"{module}-1.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8"
    )
    lines = []
    for group, points in (("metrics", metrics), ("judges", judges)):
        if points:
            lines.append(f"[pytest_llmbench.{group}]")
            lines.extend(f"{name} = {target}" for name, target in points.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
