"""The hostile-input corpora under tests/fuzz/<parser>/ (configs, datasets, prompts): each
file, and in the corpus's expected.json what the parser must make of it, either a value
(a summary of what was read) or {"error": "the one-line message"}. The parser tests run
every file; tests/runs/test_bad_input.py runs some through a whole pytest run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_llmbench.benchmark.config import load_config
from pytest_llmbench.benchmark.dataset import Sample, load_dataset
from pytest_llmbench.benchmark.prompts import load_prompt, render_messages
from pytest_llmbench.errors import UserError
from support.project import PROMPT, make_samples

FUZZ = Path(__file__).parents[1] / "fuzz"
CONFIG = "benchmarks/llmbench.yaml"
DATASET = "data/digest.jsonl"
PROMPT_FILE = "prompts/digest_judge/v1.yaml"
# Rendered by every corpus prompt that loads: its fields stay data, never templates.
SAMPLE = Sample(
    id="s-01",
    item_id="s-01",
    position=0,
    line=1,
    input="{{ 7 * 7 }} {% raw %}",
    output="the summary",
    fields={"id": "s-01", "input": "{{ 7 * 7 }} {% raw %}", "output": "the summary"},
)


def names(corpus: str) -> list[str]:
    return sorted(p.name for p in (FUZZ / corpus).iterdir() if p.name != "expected.json")


def expected(corpus: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FUZZ / corpus / "expected.json").read_text("utf-8"))
    return data


def install(root: Path, corpus: str, name: str) -> None:
    """A benchmark project in `root` (config, dataset, prompt) with the corpus file in place
    of the one its corpus is about."""
    files = {
        CONFIG: (FUZZ / "configs" / "plain.yaml").read_bytes(),
        DATASET: "".join(
            json.dumps(s, ensure_ascii=False) + "\n" for s in make_samples([(0.9, 0.9)] * 4)
        ).encode("utf-8"),
        PROMPT_FILE: PROMPT.encode("utf-8"),
    }
    target = {"configs": CONFIG, "datasets": DATASET, "prompts": PROMPT_FILE}[corpus]
    files[target] = (FUZZ / corpus / name).read_bytes()
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)


def outcome(root: Path, corpus: str, name: str) -> dict[str, Any]:
    """What the parser of `corpus` makes of file `name`, installed in the project `root`:
    a summary of what it read, or {"error": message} for a UserError (any other exception
    propagates: that is the bug the corpus is there to catch)."""
    install(root, corpus, name)
    try:
        if corpus == "configs":
            config = load_config(root / CONFIG, root, {})
            found: dict[str, Any] = {"scenarios": sorted(config.scenarios)}
            variants = {
                name: {
                    "order": [v.name for v in s.variants],
                    "params": {v.name: dict(v.params) for v in s.variants},
                    "reference": s.reference,
                    "gate": list(s.gate),
                }
                for name, s in sorted(config.scenarios.items())
                if s.variants
            }
            if variants:
                found["variants"] = variants
            return found
        if corpus == "datasets":
            dataset = load_dataset(root / DATASET, DATASET)
            return {"ids": [s.id for s in dataset.samples]}
        prompt = load_prompt(root / "prompts", "digest_judge@v1", rootdir=root)
    except UserError as error:
        return {"error": str(error)}
    try:
        messages = render_messages(prompt, SAMPLE, "the summary")
    except UserError as error:
        return {"metrics": list(prompt.metrics), "render_error": str(error)}
    return {"metrics": list(prompt.metrics), "user": messages[1]["content"]}
