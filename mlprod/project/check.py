"""``mlprod check``: the whole project checked before any kernel starts, every finding in one run.

What is checked, in this order (each finding names the file, the key and the fix):

1. dvc.yaml: every stage that runs ``mlprod run`` names a notebook that exists and has a ``parameters`` cell;
2. params.yaml: the ``project:`` section parses, every stage section matches its notebook's parameters (names
   and types, as ``mlprod run`` resolves them), and no stage overrides a shared fact (a warning);
3. dvc.yaml again: each stage's deps list its notebook and the files its parameters read, and its params list
   the shared facts it uses (else changing one would not rerun it);
4. the data (:mod:`.checkdata`): the facts name columns of the data file (its header and a sample of rows):
   the label has two classes and maps with ``positive_label``, the date column parses; the schema describes
   this data and these columns;
5. the registry (:mod:`.checkregistry`, optional): a champion registered under the model name could score
   the configured features.

A project that cannot be checked at all (no dvc.yaml or params.yaml, invalid YAML) raises
:class:`~mlprod.errors.ConfigError` (exit 2); otherwise the result holds the findings (exit 1 when one is an
error, else 0).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .. import yamlio
from ..errors import ConfigError, NotebookError
from .facts import ALLOWED, SECTION, ProjectFacts, read_facts
from .stagecheck import strings as _strings

PARAMS_FILE = "params.yaml"
DVC_FILE = "dvc.yaml"
_VALUE_OPTIONS = {"--stage", "--params-file", "-p", "--param", "--reports-dir", "--timeout", "--start-timeout",
                  "--wait"}


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" or "warning"
    file: str
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file} {self.key}".strip()
        return f"{where}: {self.message}" + (f"\n  fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class CheckResult:
    root: Path
    findings: tuple[Finding, ...]
    checked: tuple[str, ...]  # what was looked at, for the summary line
    seconds: float

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def exit_code(self) -> int:
        return 1 if self.errors else 0


class Findings(list):
    def add(self, severity: str, file: str, key: str, message: str, fix: str = "") -> None:
        finding = Finding(severity, file, key, message, fix)
        if finding not in self:
            self.append(finding)


@dataclass
class Stage:
    """A dvc.yaml stage that runs ``mlprod run``, with its notebook and resolved parameters (when they resolve)."""

    name: str
    section: str  # the params.yaml section it reads (``--stage``, default: the notebook's name)
    notebook: str
    spec: dict
    info: Any = None  # NotebookInfo
    resolved: Any = None  # ResolvedParams
    values: dict = field(default_factory=dict)  # resolved values plus the notebook's defaults

    def effective(self, key: str) -> tuple[Any, str] | None:
        """The value of parameter ``key`` and where it comes from ("[stage]", "[project]", "notebook default")."""
        if self.info is None or key not in self.info.parameters:
            return None
        if self.resolved is not None and key in self.resolved.values:
            return self.resolved.values[key], f"[{self.resolved.section_of(key)}]"
        return self.info.parameters[key].default, "notebook default"


def check_project(root: str | Path = ".", *, registry: bool = True) -> CheckResult:
    """Check the project in ``root`` (see the module docstring); ``registry=False`` skips the registry."""
    started = time.monotonic()
    root = Path(root)
    params_path, dvc_path = root / PARAMS_FILE, root / DVC_FILE
    for path in (dvc_path, params_path):
        if not path.is_file():
            raise ConfigError(f"{path}: not found; run `mlprod check` in a project folder (one with dvc.yaml and "
                              "params.yaml), or create one with `mlprod init DIR --data FILE --target COL`")
    from ..stages.params import load_params_file

    params = load_params_file(params_path)
    pipeline = yamlio.load_file(dvc_path)
    stages_spec = pipeline.get("stages") if isinstance(pipeline, dict) else None
    if not isinstance(stages_spec, dict):
        raise ConfigError(f"{dvc_path}: expected a 'stages:' mapping of stage names to stages")
    out = Findings()
    facts_ok = True
    try:
        facts = read_facts(params, PARAMS_FILE)
    except ConfigError as exc:
        facts, facts_ok = ProjectFacts(), False
        out.add("error", PARAMS_FILE, f"[{SECTION}]", str(exc).removeprefix(f"{PARAMS_FILE} [{SECTION}]").lstrip(": "),
                f"fix the {SECTION}: section (allowed keys: {', '.join(ALLOWED)})")
    stages = [s for s in (_stage(name, spec, root, out) for name, spec in stages_spec.items()) if s is not None]
    outputs = {s.name: _outputs(s.spec) for s in stages}
    for stage in stages:
        _resolve(stage, root, params_path, facts_ok, out)
        if stage.info is None:
            continue
        _check_deps(stage, root, outputs, out)
        _check_overrides(stage, params, facts, out)
        _check_listed(stage, params, out)
    from . import checkdata

    data = checkdata.check_data(root, stages, facts, out)
    _check_card(params, out)
    checked = [f"{len(stages)} stages"] + ([f"data {data.source}"] if data is not None else [])
    if registry and data is not None:
        from .checkregistry import check_registry

        where = check_registry(root, stages, facts, data, out)
        if where:
            checked.append(where)
    return CheckResult(root=root, findings=tuple(out), checked=tuple(checked),
                       seconds=round(time.monotonic() - started, 3))


def mlprod_run_args(cmd: Any) -> list[str] | None:
    """The arguments after ``mlprod run`` in a dvc.yaml ``cmd`` (a string or a list), None when it runs none."""
    for line in cmd if isinstance(cmd, list) else [cmd]:
        try:
            words = shlex.split(str(line))
        except ValueError:
            continue
        for index in range(len(words) - 1):
            if words[index].rsplit("/", 1)[-1] == "mlprod" and words[index + 1] == "run":
                return words[index + 2:]
    return None


def _stage(name: str, spec: Any, root: Path, out: Findings) -> Stage | None:
    args = mlprod_run_args(spec.get("cmd", "")) if isinstance(spec, dict) else None
    if args is None:
        return None
    notebook, options, index = None, {}, 0
    while index < len(args):
        word = args[index]
        if word in _VALUE_OPTIONS and index + 1 < len(args):
            options.setdefault(word, args[index + 1])
            index += 2
            continue
        if not word.startswith("-") and notebook is None:
            notebook = word
        index += 1
    if notebook is None:
        out.add("error", DVC_FILE, f"stages.{name}.cmd", "`mlprod run` names no notebook",
                f"write the notebook's path, e.g. mlprod run notebooks/{name}.ipynb")
        return None
    stage = Stage(name=name, section=options.get("--stage") or PurePosixPath(notebook).stem,
                  notebook=_norm(notebook), spec=spec)
    from ..stages.notebook import read_notebook

    path = root / notebook
    if not path.is_file():
        out.add("error", DVC_FILE, f"stages.{name}.cmd", f"notebook {notebook} not found",
                "restore it (`mlprod init` writes the stage notebooks) or fix the path in cmd")
        return stage
    try:
        stage.info = read_notebook(path)
    except NotebookError as exc:
        out.add("error", notebook, "", str(exc).removeprefix(f"{path}: "), "re-save the notebook from JupyterLab")
        return stage
    if stage.info.parameters_cell is None:
        out.add("error", notebook, "", "no cell is tagged 'parameters', so params.yaml cannot reach it",
                "tag the cell that assigns the parameter defaults with 'parameters' "
                "(JupyterLab: Property Inspector > Cell Tags)")
    return stage


def _resolve(stage: Stage, root: Path, params_path: Path, facts_ok: bool, out: Findings) -> None:
    from ..errors import ParamsError
    from ..stages.params import resolve_params

    if stage.info is None or stage.info.parameters_cell is None or not facts_ok:
        return
    try:
        stage.resolved = resolve_params(stage.info, stage.section, params_path)
    except ParamsError as exc:
        text = str(exc).replace(str(params_path), PARAMS_FILE).replace(str(stage.info.path), stage.notebook)
        out.add("error", PARAMS_FILE, f"[{stage.section}]", text.split(": ", 1)[-1] if text.startswith(PARAMS_FILE)
                else text, f"make [{stage.section}] match the parameters cell of {stage.notebook}")
    except ConfigError as exc:
        out.add("error", PARAMS_FILE, f"[{stage.section}]", str(exc), "fix the section")


def _check_deps(stage: Stage, root: Path, outputs: dict[str, list[str]], out: Findings) -> None:
    deps = [_norm(d) for d in stage.spec.get("deps") or [] if isinstance(d, str)]
    key = f"stages.{stage.name}.deps"
    if stage.notebook not in deps:
        out.add("error", DVC_FILE, key, f"does not list the stage's notebook {stage.notebook}, so editing it would "
                "not rerun the stage", f"add {stage.notebook} to {key}")
    if stage.resolved is None:
        return
    own = outputs.get(stage.name, [])
    others = [o for name, outs in outputs.items() if name != stage.name for o in outs]
    for param, value in stage.resolved.values.items():
        for text in _strings(value):
            path = _norm(text)
            if path in ("", ".") or path.startswith(("/", "..")) or any(_related(path, o) for o in own):
                continue
            if not (_exists(root / path) or any(_under(path, o) for o in others)):
                continue
            if not any(_related(path, d) for d in deps):
                out.add("error", DVC_FILE, key, f"parameter {param!r} reads {path}, which the deps do not list: "
                        f"`dvc repro` would not rerun {stage.name} when it changes", f"add {path} to {key}")


def _check_overrides(stage: Stage, params: dict, facts: ProjectFacts, out: Findings) -> None:
    section = params.get(stage.section)
    if not isinstance(section, dict):
        return
    for key in section:
        if key not in ALLOWED or key not in stage.info.parameters:
            continue
        where = f"[{stage.section}] {key}"
        if key in facts.given:
            shared = facts.as_params()[key]
            same = "repeats" if section[key] == shared else f"overrides ({section[key]!r} instead of {shared!r})"
            out.add("warning", PARAMS_FILE, where, f"{same} the shared fact {SECTION}.{key}",
                    f"remove {key} from [{stage.section}]; the stage gets {SECTION}.{key}")
        else:
            out.add("warning", PARAMS_FILE, where, f"a shared fact set in a stage section, not in {SECTION}: ({section[key]!r})",
                    f"move it to the {SECTION}: section, so every stage agrees")


def _check_listed(stage: Stage, params: dict, out: Findings) -> None:
    listed = _listed_params(stage.spec.get("params"))
    key = f"stages.{stage.name}.params"
    for name in listed:
        if _lookup(params, name) is _MISSING:
            out.add("error", DVC_FILE, key, f"lists {name}, which {PARAMS_FILE} does not have: `dvc repro` stops",
                    f"add {name} to {PARAMS_FILE}, or remove it from {key}")
    if stage.resolved is None:
        return
    if stage.section in params and stage.section not in listed and any(
            k in stage.resolved.values for k in params.get(stage.section) or {}):
        out.add("warning", DVC_FILE, key, f"does not list the section {stage.section}: changing it would not rerun "
                f"the stage", f"add {stage.section} to {key}")
    for fact in stage.resolved.shared:
        if SECTION not in listed and f"{SECTION}.{fact}" not in listed:
            out.add("warning", DVC_FILE, key, f"does not list {SECTION}.{fact}, which the stage uses: changing it "
                    "would not rerun the stage", f"add {SECTION}.{fact} to {key}")


def _check_card(params: dict, out: Findings) -> None:
    from .draft import CARD, PLACEHOLDER

    card = params.get(CARD)
    if not isinstance(card, dict):
        return
    todo = [k for k, v in card.items() if any(PLACEHOLDER in s for s in _strings(v))]
    if todo:
        out.add("warning", PARAMS_FILE, f"[{CARD}]", f"{', '.join(todo)} still hold {PLACEHOLDER} placeholders, "
                "which the model card shows", "write what only people know about the model in their place")


_MISSING = object()


def _lookup(params: dict, dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _listed_params(entries: Any) -> set[str]:
    listed: set[str] = set()
    for entry in entries or []:
        if isinstance(entry, str):
            listed.add(entry)
        elif isinstance(entry, dict):
            for file, keys in entry.items():
                if _norm(str(file)) == PARAMS_FILE:
                    listed.update(k for k in keys or [] if isinstance(k, str))
    return listed


def _outputs(spec: dict) -> list[str]:
    found = []
    for kind in ("outs", "metrics", "plots"):
        for entry in spec.get(kind) or []:
            if isinstance(entry, str):
                found.append(_norm(entry))
            elif isinstance(entry, dict):
                found += [_norm(str(k)) for k in entry]
    return found


def _norm(path: str) -> str:
    text = str(path).strip().replace("\\", "/")
    return str(PurePosixPath(text)) if text else ""


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a long text or one with a NUL byte is no path
        return False


def _under(path: str, folder: str) -> bool:
    return path == folder or PurePosixPath(folder) in PurePosixPath(path).parents


def _related(a: str, b: str) -> bool:
    return _under(a, b) or _under(b, a)
