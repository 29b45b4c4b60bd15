"""The bounds on what a user writes or collects before a run (README "Limits"): past one,
the input is a one-line error naming the file and the line or key, never a MemoryError,
a RecursionError or a parse that takes minutes."""

from __future__ import annotations

MiB = 1024 * 1024

CONFIG_BYTES = 1 * MiB  # the llmbench YAML
PROMPT_BYTES = 256 * 1024  # one prompt file, prompts/<name>/<version>.yaml
SAMPLE_LINE_BYTES = 16 * MiB  # one dataset line (one sample), as UTF-8 in the file
# Every rendered judge prompt (system + user) of one sample, as sent: JSON-escaped UTF-8,
# so that a request stays well below the helper process's 64 MiB line.
RENDERED_PROMPT_BYTES = 32 * MiB

# Judge calls per sample (`repeats:`, --llmbench-repeats): past this, more samples say more.
REPEATS = 20
# Variants of one scenario (`variants:`): each multiplies the items and the judge calls.
VARIANTS = 50

NESTING_DEPTH = 64  # levels of mappings/lists (YAML) or objects/arrays (JSON)
YAML_ALIASES = 100  # `*name` references in one YAML file
# Nodes a YAML file stands for once its aliases are expanded: a billion laughs stops here.
YAML_EXPANDED_NODES = 100_000
# Digits in one integer: a larger one is no longer a float, and Python refuses to convert
# more than 4300 digits (a traceback, not an answer).
INTEGER_DIGITS = 300


def size(count: int) -> str:
    """A byte count as the limits above are written: 16 MiB, 256 KiB, 16.3 MiB, 42 bytes."""
    for unit, name in ((MiB, "MiB"), (1024, "KiB")):
        if count >= unit:
            return f"{count / unit:.1f}".removesuffix(".0") + f" {name}"
    return f"{count} bytes"
