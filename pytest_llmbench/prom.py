"""Moved: the Prometheus exporter is ``llmbench metrics`` (code in ``reporting/prometheus``).

``python -m pytest_llmbench.prom`` still works, and says where it went.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # pragma: no cover
    from pytest_llmbench.reporting.prometheus import main

    print("note: python -m pytest_llmbench.prom is now `llmbench metrics`", file=sys.stderr)
    sys.exit(main())
