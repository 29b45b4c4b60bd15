"""The Pushgateway grouping key of a run's metrics push: its labels' rules and its text form.

Every push replaces the whole group it names, so two suites pushing to one Pushgateway
under the same group wipe each other's series: each suite pushes to ``job=llmbench`` plus
its own key (``suite=<the rootdir's name>`` unless ``--llmbench-pushgateway-group``, the ini
key ``llmbench_pushgateway_group`` or the YAML's ``pushgateway: group:`` names one).
Read here from the YAML and the command line; pushed by ``reporting/prometheus.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["GROUP_LABEL", "check_grouping", "default_grouping", "parse_grouping"]

# The grouping key: one label by default, named for what it tells apart.
GROUP_LABEL = "suite"
MAX_GROUP_LABELS = 8
MAX_GROUP_VALUE = 200
MAX_GROUP_TEXT = 2000  # the text form, all pairs together
# Labels a grouping key may not use: the job (its own argument), the labels the metrics
# carry (the Pushgateway refuses a push whose series disagree with the group), the shard's.
RESERVED_LABELS = frozenset(
    {"job", "scenario", "metric", "status", "outcome", "kind", "le", "shard"}
)
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")


def default_grouping(rootdir: Path | str) -> dict[str, str]:
    """``{"suite": <the rootdir's name>}``: stable from run to run of one suite, and apart
    from another suite's (another repository checks out under another name)."""
    return {GROUP_LABEL: Path(rootdir).name or "root"}


def check_grouping(grouping: Mapping[str, str], *, shard: bool = False) -> str | None:
    """Why ``grouping`` is not a usable grouping key, or None when it is. ``shard``: the
    key may hold the ``shard`` label the plugin adds to a shard's push."""
    if len(grouping) > MAX_GROUP_LABELS:
        return f"at most {MAX_GROUP_LABELS} labels, not {len(grouping)}"
    for name, value in grouping.items():
        if not isinstance(name, str) or not _LABEL_NAME.match(name) or name.startswith("__"):
            return (
                f"{_shown(name)} is not a label name (letters, digits and _, not starting "
                "with a digit or __)"
            )
        if name in RESERVED_LABELS and not (shard and name == "shard"):
            return f"the label {name} is the plugin's own: pick another name (e.g. {GROUP_LABEL})"
        if not isinstance(value, str) or not value:
            return f"the label {name} needs a value ({name}=NAME)"
        if len(value) > MAX_GROUP_VALUE:
            return f"the value of {name} is longer than {MAX_GROUP_VALUE} characters"
        if not value.isprintable():
            return f"the value of {name} holds a control or invisible character"
    return None


def parse_grouping(text: str) -> dict[str, str]:
    """``"suite=nightly,team=search"`` as a mapping; ValueError saying what is wrong and
    how to write it. Pairs are separated by commas; an empty text is no grouping key."""
    if len(text) > MAX_GROUP_TEXT:
        raise ValueError(f"longer than {MAX_GROUP_TEXT} characters")
    grouping: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep:
            raise ValueError(f"{_shown(part)} is not LABEL=VALUE (e.g. {GROUP_LABEL}=nightly)")
        if name in grouping:
            raise ValueError(f"the label {_shown(name)} is given twice")
        grouping[name] = value
    problem = check_grouping(grouping)
    if problem is not None:
        raise ValueError(problem)
    return grouping


def _shown(value: object, limit: int = 40) -> str:
    """A value for a message: repr'd (control and invisible characters escaped), cut."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 4]}...{text[-1]}"
