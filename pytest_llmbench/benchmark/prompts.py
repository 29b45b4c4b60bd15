"""The prompt registry: prompts/<name>/<version>.yaml, rendered with Jinja2 StrictUndefined."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_llmbench.benchmark import limits
from pytest_llmbench.benchmark.yaml_reader import NAME_RE, Reader, read_limited, read_yaml
from pytest_llmbench.config_file import is_dir, is_file
from pytest_llmbench.errors import PromptError, PromptNotFoundError, PromptRefError

if TYPE_CHECKING:
    import jinja2

    from pytest_llmbench.benchmark.dataset import Sample

_PART_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")  # no "..", no "/": stays inside the dir
_SAMPLE_OBJECT_RE = re.compile(r"'[\w.]*Sample object'")
_KEYS = ("description", "metrics", "scale", "system", "temperature", "user")
_REQUIRED = ("metrics", "system", "user")


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    version: str
    path: Path
    description: str
    metrics: tuple[str, ...]
    system: str
    user: str
    sha256: str  # of the file's bytes: a changed file under an old version name is reported
    temperature: float | None = None  # overrides the judge's temperature when set
    display: str = ""  # the path for messages (relative to the rootdir when possible)
    # `scale: {min, max}`: the range the judge answers on, normalised to 0..1 when read;
    # None: the judge answers in 0..1.
    scale: tuple[float, float] | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def shown(self) -> str:
        return self.display or str(self.path)


def split_ref(ref: str) -> tuple[str, str]:
    """`name@version` -> (name, version); PromptError when it is not of that form."""
    name, at, version = ref.partition("@")
    if not at or not _PART_RE.match(name) or not _PART_RE.match(version):
        raise PromptRefError(
            f"expected name@version, got {ref!r}; write <name>@<version> for the file "
            "prompts/<name>/<version>.yaml (letters, digits, '_', '.', '-')"
        )
    return name, version


def prompt_versions(prompts_dir: Path, name: str) -> list[str]:
    """The versions of prompt `name` that exist, sorted."""
    folder = prompts_dir / name
    if not is_dir(folder):
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())


def load_prompt(prompts_dir: Path, ref: str, *, rootdir: Path | None = None) -> JudgePrompt:
    """Load and check `<prompts_dir>/<name>/<version>.yaml`; templates compile once here."""
    name, version = split_ref(ref)
    path = prompts_dir / name / f"{version}.yaml"
    if not is_file(path):
        versions = prompt_versions(prompts_dir, name)
        if versions:
            fix = f"versions of {name!r} that exist: {', '.join(versions)}"
        else:
            names = (
                sorted(p.name for p in prompts_dir.glob("*") if p.is_dir())
                if is_dir(prompts_dir)
                else []
            )
            fix = f"no prompt named {name!r} in {prompts_dir}" + (
                f"; prompts there: {', '.join(names)}" if names else ""
            )
        raise PromptNotFoundError(f"prompt file not found: {path}; {fix}")
    display = str(path)
    if rootdir is not None and path.is_relative_to(rootdir):
        display = str(path.relative_to(rootdir))
    try:
        raw = read_limited(path, limits.PROMPT_BYTES)
    except OSError as exc:
        raise PromptError(f"{display}: cannot read ({exc.strerror}); check the file") from None
    loaded = read_yaml(raw, display, PromptError, limits.PROMPT_BYTES)
    reader = Reader(display, loaded, PromptError)
    data = reader.mapping(
        loaded.data, (), _KEYS, {k: f"add {k}: to the prompt file" for k in _REQUIRED}
    )
    description, system, user = (
        reader.string(data.get(key, ""), (key,)) for key in ("description", "system", "user")
    )
    metrics = data["metrics"]
    if (
        not isinstance(metrics, list)
        or not metrics
        or not all(isinstance(m, str) and NAME_RE.match(m) for m in metrics)
    ):
        raise reader.error(
            ("metrics",), "expected a non-empty list of metric names", "e.g. [coverage]"
        )
    if len({m.lower() for m in metrics}) != len(metrics):
        # A reply's keys match metrics case-insensitively, so two such names are one.
        raise reader.error(
            ("metrics",),
            "a metric is listed twice (names match case-insensitively)",
            "list each metric once",
        )
    temperature = data.get("temperature")
    if temperature is not None:
        temperature = reader.number(temperature, ("temperature",))
    scale = _scale(reader, data["scale"]) if "scale" in data else None

    prompt = JudgePrompt(
        name=name,
        version=version,
        path=path,
        description=description,
        metrics=tuple(metrics),
        system=system,
        user=user,
        sha256=hashlib.sha256(raw).hexdigest(),
        temperature=temperature,
        display=display,
        scale=scale,
    )
    _templates(prompt, loaded.value_lines)
    return prompt


def _scale(reader: Reader, value: Any) -> tuple[float, float]:
    fix = {"min": "add min: (the lowest score), e.g. scale: {min: 1, max: 5}"}
    fix["max"] = "add max: (the highest score), e.g. scale: {min: 1, max: 5}"
    data = reader.mapping(value, ("scale",), ("min", "max"), fix)
    low = reader.number(data["min"], ("scale", "min"))
    high = reader.number(data["max"], ("scale", "max"))
    if not low < high:
        raise reader.error(
            ("scale", "max"),
            f"must be more than min ({low:g}), got {high:g}",
            "give the lowest score as min and the highest as max, e.g. {min: 1, max: 5}",
        )
    return low, high


_ENV: jinja2.Environment | None = None
_CACHE: dict[JudgePrompt, tuple[jinja2.Template, jinja2.Template]] = {}
_LOCK = threading.Lock()
# Each compiled template's globals as one dict (see _render_bounded).
_GLOBALS: dict[jinja2.Template, dict[str, Any]] = {}


class _RenderedNone(Exception):
    pass


def _finalize(value: Any) -> Any:
    # "None" in a prompt is always a bug (a field the sample lacks); fail instead of sending it.
    if value is None:
        raise _RenderedNone
    return value


# What a template may compute: a `*` or `**` past this many bits or characters is refused
# (`{{ 10 ** 10 ** 10 }}` would run for hours; `{{ "x" * 10 ** 12 }}` would need 1 TB).
_MAX_BITS = 1_000_000


def _bounded_sandbox() -> type[jinja2.sandbox.SandboxedEnvironment]:
    import jinja2.exceptions
    import jinja2.sandbox

    class BoundedSandbox(jinja2.sandbox.SandboxedEnvironment):
        intercepted_binops = frozenset(["*", "**"])

        def call_binop(
            self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
        ) -> Any:
            if _too_large(operator, left, right):
                raise jinja2.exceptions.SecurityError(
                    f"{operator} would make a result over "
                    f"{limits.size(limits.RENDERED_PROMPT_BYTES)}"
                )
            return super().call_binop(context, operator, left, right)

    return BoundedSandbox


def _too_large(operator: str, left: Any, right: Any) -> bool:
    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if operator == "**":
        return whole(left) and whole(right) and int(right) * abs(left).bit_length() > _MAX_BITS
    if whole(left) and whole(right):
        return int(left).bit_length() + int(right).bit_length() > _MAX_BITS
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, (str, list, tuple)) and whole(count):
            return bool(len(sequence) * count > limits.RENDERED_PROMPT_BYTES)
    return False


def _templates(
    prompt: JudgePrompt, value_lines: Mapping[tuple[str, ...], int] | None = None
) -> tuple[jinja2.Template, jinja2.Template]:
    """The compiled (system, user) templates of `prompt`, compiled once per process."""
    global _ENV
    cached = _CACHE.get(prompt)
    if cached is not None:
        return cached
    import jinja2  # lazily: the plugin loads in every pytest run
    import jinja2.sandbox

    with _LOCK:
        if _ENV is None:
            # Sandboxed: a prompt file is not code, and must not reach os.system through
            # cycler.__init__.__globals__ or any other object's internals.
            _ENV = _bounded_sandbox()(
                undefined=jinja2.StrictUndefined,
                autoescape=False,
                keep_trailing_newline=True,
                finalize=_finalize,
            )
        compiled = []
        for key in ("system", "user"):
            try:
                compiled.append(_ENV.from_string(getattr(prompt, key)))
            except jinja2.TemplateSyntaxError as exc:
                start = (value_lines or {}).get((key,))
                where = f":{start + (exc.lineno or 1) - 1}" if start else ""
                raise PromptError(
                    f"{prompt.shown}{where}: {key}: bad Jinja2 syntax ({exc.message}); "
                    "fix the template"
                ) from None
            except RecursionError:  # Jinja2's parser recurses once per nested expression
                start = (value_lines or {}).get((key,))
                raise PromptError(
                    f"{prompt.shown}{f':{start}' if start else ''}: {key}: the template nests "
                    "expressions too deeply to compile; flatten it"
                ) from None
        result = (compiled[0], compiled[1])
        _CACHE[prompt] = result
    return result


def render_messages(prompt: JudgePrompt, sample: Sample, output: str) -> list[dict[str, str]]:
    """The chat messages for one judge call: [system, user]."""
    import jinja2

    system, user = _templates(prompt)
    variables = {"sample": sample, "output": output, "metrics": list(prompt.metrics)}
    messages = []
    budget = limits.RENDERED_PROMPT_BYTES  # characters left (at least one UTF-8 byte each)
    for role, template in (("system", system), ("user", user)):
        static = getattr(prompt, role)
        if "{" not in static:
            # No Jinja syntax at all: the text is the rendering (a system prompt, usually).
            messages.append({"role": role, "content": static})
            continue
        try:
            content = _render_bounded(template, variables, budget)
        except _TooLong:
            raise PromptError(
                f"{prompt.shown}: {role}: the rendered prompt for sample {sample.id!r} is over "
                f"{limits.size(limits.RENDERED_PROMPT_BYTES)} (the limit for what is sent to "
                "the judge); shorten the sample or the template"
            ) from None
        except jinja2.UndefinedError as exc:
            # Jinja says "'pytest_llmbench.benchmark.dataset.Sample object' has no attribute 'x'".
            message = _SAMPLE_OBJECT_RE.sub("sample", exc.message or "")
            raise PromptError(
                f"{prompt.shown}: {role}: undefined variable ({message}) rendering sample "
                f"{sample.id!r}; the template sees sample (fields: "
                f"{', '.join(sorted(sample.fields))}), output and metrics"
            ) from None
        except jinja2.exceptions.SecurityError as exc:
            raise PromptError(
                f"{prompt.shown}: {role}: the template reaches what a prompt may not "
                f"({exc}); a prompt renders sample, output and metrics only"
            ) from None
        except MemoryError:  # "%09999999999d" % 1: a template can ask for any amount
            raise PromptError(
                f"{prompt.shown}: {role}: rendering for sample {sample.id!r} needs more memory "
                "than there is; fix the template"
            ) from None
        except (jinja2.TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
            raise PromptError(
                f"{prompt.shown}: {role}: cannot render for sample {sample.id!r} "
                f"({type(exc).__name__}: {exc}); fix the template"
            ) from None
        except _RenderedNone:
            raise PromptError(
                f"{prompt.shown}: {role}: an expression rendered None for sample "
                f"{sample.id!r} (a field the sample lacks?); give the sample that field, or "
                "guard it: {% if sample.reference %}...{% endif %}"
            ) from None
        budget -= len(content)
        messages.append({"role": role, "content": content})
    # Measured as sent (JSON-escaped UTF-8: a control character is 6 bytes), only when the
    # characters are enough that it could matter.
    if (limits.RENDERED_PROMPT_BYTES - budget) * 6 > limits.RENDERED_PROMPT_BYTES:
        size = sum(len(_as_sent(m["content"])) for m in messages)
        if size > limits.RENDERED_PROMPT_BYTES:
            raise PromptError(
                f"{prompt.shown}: the rendered prompt for sample {sample.id!r} is "
                f"{size:,} bytes, over {limits.size(limits.RENDERED_PROMPT_BYTES)} (the "
                "limit for what is sent to the judge); shorten the sample or the template"
            )
    return messages


def _as_sent(text: str) -> bytes:
    return json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")[1:-1]


class _TooLong(Exception):
    pass


def _render_bounded(template: jinja2.Template, variables: dict[str, Any], budget: int) -> str:
    """The rendering, stopped as soon as it is longer than `budget` characters.

    What `template.generate(variables)` does (an error inside the template goes through
    the environment's handle_exception, as there), with the context built from the
    template's globals flattened once: jinja2 flattens their ChainMap twice per render,
    about half of rendering a short prompt."""
    import jinja2.runtime

    flat = _GLOBALS.get(template)
    if flat is None:
        flat = _GLOBALS.setdefault(template, dict(template.globals))
    context = jinja2.runtime.new_context(
        template.environment, template.name, template.blocks, variables, False, flat
    )
    parts = []
    try:
        for part in template.root_render_func(context):
            budget -= len(part)
            if budget < 0:
                break  # the generator is dropped, as generate()'s is
            parts.append(part)
    except Exception:
        template.environment.handle_exception()
    if budget < 0:
        raise _TooLong
    return "".join(parts)


def messages_sha256(messages: Sequence[Mapping[str, str]]) -> str:
    """A stable hash of rendered messages (a cache key part)."""
    digest = hashlib.sha256()
    for message in messages:
        # Length-prefixed, so no content can imitate a boundary.
        for part in (message["role"], message["content"]):
            data = part.encode("utf-8")
            digest.update(b"%d:" % len(data))
            digest.update(data)
    return digest.hexdigest()
