"""The package's public names: what `import pytest_llmbench` offers, lazily."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import pytest_llmbench


@pytest.mark.parametrize("name", pytest_llmbench.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(pytest_llmbench, name) is not None


def test_the_version_is_the_installed_distributions() -> None:
    assert pytest_llmbench.__version__ == importlib.metadata.version("pytest-llmbench")


def test_load_record_and_record_error_are_the_records() -> None:
    from pytest_llmbench.errors import RecordError
    from pytest_llmbench.results.record import load

    assert (pytest_llmbench.load_record, pytest_llmbench.RecordError) == (load, RecordError)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pytest_llmbench.nope  # noqa: B018


def test_importing_the_package_imports_neither_pytest_nor_a_subpackage() -> None:
    code = (
        "import sys, pytest_llmbench\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('pytest_llmbench.'))\n"
        "print('pytest' in sys.modules, loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False []"
