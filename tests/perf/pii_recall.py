"""Recall and precision of the PII scrubber on the labelled set (tests/datasets/pii/):

    .venv/bin/python tests/perf/pii_recall.py [--show]

prints recall per kind, on structured kinds, on names, and precision, over the whole set
and over its hand-written posts alone (the template-made ones are easier); --show lists the
misses and false positives (the planted test values, never real data). Goal (issue 14):
recall >= 0.98 structured, >= 0.9 names, precision >= 0.95; --check exits 1 below it.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from support.pii_labelled import NAMES, STRUCTURED, score

GOALS = {"structured": 0.98, "names": 0.9, "precision": 0.95}


def main(argv: list[str]) -> int:
    result = score()
    for kind in (*STRUCTURED, *NAMES):
        n = result.labelled[kind]
        print(f"{kind:9} recall {result.recall((kind,)):.3f}  ({result.found[kind]}/{n})")
    figures = {
        "structured": result.recall(STRUCTURED),
        "names": result.recall(NAMES),
        "precision": result.precision(),
    }
    detected = sum(result.detected.values())
    print(
        f"recall structured {figures['structured']:.3f}, recall names {figures['names']:.3f}, "
        f"precision {figures['precision']:.3f} ({sum(result.correct.values())}/{detected})"
    )
    hand = score("hand-")
    print(
        f"hand-written posts only ({sum(hand.labelled.values())} spans): recall structured "
        f"{hand.recall(STRUCTURED):.3f}, recall names {hand.recall(NAMES):.3f}, precision "
        f"{hand.precision():.3f}"
    )
    if "--show" in argv:
        for post, kind, text in result.misses:
            print(f"miss  {post} {kind} {text!r}")
        for post, kind, text in result.false:
            print(f"false {post} {kind} {text!r}")
    if "--check" in argv and any(figures[k] < GOALS[k] for k in GOALS):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
