"""Moved: exporting a stored run record is ``llmbench metrics`` (``cli/metrics.py``).

``python -m pytest_llmbench.prom RUN.json ...`` still works, and says where it went.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # pragma: no cover
    from pytest_llmbench.cli.main import main

    print(
        "llmbench: note: python -m pytest_llmbench.prom moved to `llmbench metrics`; "
        "run that instead",
        file=sys.stderr,
    )
    sys.exit(main(["metrics", *sys.argv[1:]]))
