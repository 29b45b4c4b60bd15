"""Where the llmbench config is: cheap enough to run in every pytest session, so that
nothing heavier loads in a project without benchmarks."""

from __future__ import annotations

from pathlib import Path

from pytest_llmbench.errors import ConfigError


def find_config(
    option: str | None, ini: str | None, rootdir: Path, invocation_dir: Path | None = None
) -> Path | None:
    """--llmbench-config (relative to the invocation dir), else the ini value (relative to
    the rootdir), else <rootdir>/benchmarks/llmbench.yaml if it exists, else None."""
    if option:
        path = Path(option)
        if not path.is_absolute():
            path = (invocation_dir or Path.cwd()) / path
        if not path.is_file():
            raise ConfigError(
                f"--llmbench-config={option}: file not found: {path}; check the path "
                "(relative paths resolve against the current directory)"
            )
        return path
    if ini:
        path = rootdir / ini
        if not path.is_file():
            raise ConfigError(
                f"llmbench_config = {ini} (ini): file not found: {path}; check the path, "
                f"relative paths resolve against the rootdir {rootdir}"
            )
        return path
    default = rootdir / "benchmarks" / "llmbench.yaml"
    return default if default.is_file() else None
