"""Where the llmbench config is: cheap enough to run in every pytest session, so that
nothing heavier loads in a project without benchmarks."""

from __future__ import annotations

from pathlib import Path

from pytest_llmbench.errors import ConfigError


def is_file(path: Path) -> bool:
    """Path.is_file(), and False for a name the OS refuses (too long, a NUL byte in it):
    a path from a user's YAML or command line is never a traceback."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    """Path.is_dir(), and False for a name the OS refuses."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def find_config(
    option: str | None, ini: str | None, rootdir: Path, invocation_dir: Path | None = None
) -> Path | None:
    """--llmbench-config (relative to the invocation dir), else the ini value (relative to
    the rootdir), else <rootdir>/benchmarks/llmbench.yaml if it exists, else None."""
    if option:
        path = Path(option)
        if not path.is_absolute():
            path = (invocation_dir or Path.cwd()) / path
        if not is_file(path):
            raise ConfigError(
                f"--llmbench-config={option}: file not found: {path}; check the path "
                "(relative paths resolve against the current directory)"
            )
        return path
    if ini:
        path = rootdir / ini
        if not is_file(path):
            raise ConfigError(
                f"llmbench_config = {ini} (ini): file not found: {path}; check the path, "
                f"relative paths resolve against the rootdir {rootdir}"
            )
        return path
    default = rootdir / "benchmarks" / "llmbench.yaml"
    return default if is_file(default) else None
