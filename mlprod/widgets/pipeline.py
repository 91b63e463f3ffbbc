"""The pipeline status view: the stages of a ``dvc.yaml`` in dependency order, which are stale and why, and
running one stage in a subprocess with its output streamed while the kernel stays responsive.

- :func:`pipeline_graph` reads ``dvc.yaml`` (no DVC import): a stage depends on another when one of its ``deps``
  overlaps one of the other's outputs (``outs``, ``metrics``, ``plots``): the same path, or one inside the other,
  as DVC decides it. Stages are ordered so that every stage comes after the ones it depends on (ties keep the
  file's order).
- :func:`stale_stages` runs ``dvc status --json`` in a subprocess and turns its answer into reasons per stage.
- :func:`start_stage` runs ``dvc repro --single-item STAGE`` in a subprocess; a daemon thread reads its output
  line by line and hands each line to a callback (the widget appends it to an Output widget), so the cell
  returns at once.

Inside a pipeline stage (``MLPROD_STAGE`` set) :func:`pipeline_status` never starts DVC: the view is for
interactive use, and a stage must not ask DVC about the pipeline that is running it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

from .. import yamlio
from ..errors import ConfigError, MlprodError

ENV_STAGE = "MLPROD_STAGE"


@dataclass(frozen=True)
class Stage:
    name: str
    upstream: tuple[str, ...]  # stages this one depends on (in pipeline order)
    deps: tuple[str, ...]
    outs: tuple[str, ...]
    cmd: str = ""


@dataclass(frozen=True)
class Pipeline:
    dvc_file: Path
    stages: tuple[Stage, ...]  # every stage after the stages it depends on

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.stages]

    def edges(self) -> list[tuple[str, str]]:
        return [(up, s.name) for s in self.stages for up in s.upstream]


@dataclass(frozen=True)
class PipelineStatus:
    pipeline: Pipeline
    stale: dict[str, tuple[str, ...]] | None  # stage -> reasons; None: not checked
    note: str = ""


def _paths(entries: Any) -> list[str]:
    out = []
    for entry in entries or ():
        path = entry if isinstance(entry, str) else next(iter(entry), None) if isinstance(entry, dict) else None
        if isinstance(path, str):
            out.append(os.path.normpath(path))
    return out


def _overlaps(dep: str, out: str) -> bool:
    return dep == out or dep.startswith(out + os.sep) or out.startswith(dep + os.sep)


def pipeline_graph(dvc_file: str | Path = "dvc.yaml") -> Pipeline:
    """The stages of ``dvc_file`` and their upstream stages, in dependency order (see the module docstring)."""
    path = Path(dvc_file)
    try:
        data = yamlio.load_file(path)
    except (OSError, ConfigError) as exc:
        raise MlprodError(f"pipeline view: cannot read {path} ({exc}); expected a DVC pipeline file; run it from the "
                          f"project root or pass its dvc.yaml") from exc
    stages = (data or {}).get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict) or not stages:
        raise MlprodError(f"pipeline view: {path} has no 'stages:' mapping; expected DVC stages (dvc.yaml)")
    specs = {name: spec for name, spec in stages.items() if isinstance(spec, dict)}
    outs = {name: [p for key in ("outs", "metrics", "plots") for p in _paths(spec.get(key))]
            for name, spec in specs.items()}
    deps = {name: _paths(spec.get("deps")) for name, spec in specs.items()}
    upstream = {name: [other for other in specs if other != name
                       and any(_overlaps(d, o) for d in deps[name] for o in outs[other])] for name in specs}
    ordered: list[str] = []
    pending = list(specs)
    while pending:
        ready = next((n for n in pending if all(u in ordered for u in upstream[n])), None)
        if ready is None:  # a cycle (DVC refuses it too): keep the file's order for the rest
            ordered += pending
            break
        ordered.append(ready)
        pending.remove(ready)
    position = {n: i for i, n in enumerate(ordered)}
    return Pipeline(path, tuple(Stage(n, tuple(sorted(upstream[n], key=position.get)), tuple(deps[n]),
                                      tuple(outs[n]), str(specs[n].get("cmd", ""))) for n in ordered))


def _reason(item: Any) -> list[str]:
    if isinstance(item, str):
        return [item]
    out = []
    for kind, changes in (item or {}).items() if isinstance(item, dict) else ():
        what = str(kind).replace("changed ", "")
        if isinstance(changes, dict):
            for name, status in changes.items():
                if isinstance(status, dict):  # params: {file: {key: status}}
                    out += [f"param {key} ({name}): {value}" for key, value in status.items()]
                else:
                    out.append(f"{what.rstrip('s')} {name}: {status}")
        else:
            out.append(f"{kind}: {changes}")
    return out


def parse_status(data: Any) -> dict[str, tuple[str, ...]]:
    """``dvc status --json``'s answer as {stage: reasons}; stage addresses keep only the stage name."""
    if not isinstance(data, dict):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for stage, items in data.items():
        name = str(stage).rpartition(":")[2]
        out[name] = tuple(r for item in (items if isinstance(items, list) else [items]) for r in _reason(item))
    return out


def _dvc() -> list[str]:
    found = Path(sys.executable).parent / "dvc"
    return [str(found)] if found.exists() else [sys.executable, "-m", "dvc"]


def stale_stages(dvc_file: str | Path = "dvc.yaml", *, timeout: float = 120.0) -> dict[str, tuple[str, ...]]:
    """Stale stages of ``dvc_file`` with their reasons, from ``dvc status --json`` run in its folder."""
    path = Path(dvc_file).resolve()
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    try:
        done = subprocess.run([*_dvc(), "status", "--json", path.name], cwd=path.parent, capture_output=True,
                              text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MlprodError(f"pipeline view: `dvc status --json` did not answer ({exc}); run it in a terminal in "
                          f"{path.parent} to see why") from exc
    if done.returncode != 0:
        raise MlprodError(f"pipeline view: `dvc status --json` failed (exit {done.returncode}): "
                          f"{done.stderr.strip()[-500:]}; run it in a terminal in {path.parent} to see why")
    text = done.stdout.strip()
    try:
        return parse_status(json.loads(text[text.find("{"):]) if "{" in text else {})
    except ValueError as exc:
        raise MlprodError(f"pipeline view: `dvc status --json` printed no JSON ({text[:200]!r})") from exc


def pipeline_status(dvc_file: str | Path = "dvc.yaml", *, check: bool = True) -> PipelineStatus:
    """The graph, and its stale stages unless ``check`` is false or this runs inside a pipeline stage."""
    pipeline = pipeline_graph(dvc_file)
    if os.environ.get(ENV_STAGE):
        return PipelineStatus(pipeline, None, "not checked: this runs inside a pipeline stage")
    if not check:
        return PipelineStatus(pipeline, None, "not checked")
    try:
        return PipelineStatus(pipeline, stale_stages(dvc_file))
    except MlprodError as exc:
        return PipelineStatus(pipeline, None, str(exc))


# --- running one stage --------------------------------------------------------------------------------------------

@dataclass
class StageRun:
    """One ``dvc repro`` subprocess and the thread reading its output."""

    stage: str
    process: subprocess.Popen
    thread: threading.Thread
    lines: list[str] = field(default_factory=list)

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def wait(self, timeout: float | None = None) -> int | None:
        self.thread.join(timeout)
        return None if self.thread.is_alive() else self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()


def start_stage(stage: str, dvc_file: str | Path = "dvc.yaml", *, on_line: Callable[[str], None] | None = None,
                on_exit: Callable[[int], None] | None = None, command: list[str] | None = None) -> StageRun:
    """Start ``dvc repro --single-item STAGE`` (or ``command``) in ``dvc_file``'s folder and return at once;
    ``on_line`` gets each output line (stdout and stderr merged), ``on_exit`` the exit code."""
    path = Path(dvc_file).resolve()
    pipeline = pipeline_graph(path)
    if command is None and stage not in pipeline.names:
        raise MlprodError(f"pipeline view: no stage {stage!r} in {path}; its stages: {', '.join(pipeline.names)}")
    target = stage if path.name == "dvc.yaml" and command is None else f"{path.name}:{stage}"
    argv = command or [*_dvc(), "repro", "--single-item", target]
    env = {k: v for k, v in os.environ.items() if k != ENV_STAGE} | {"DVC_NO_ANALYTICS": "1",
                                                                    "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(argv, cwd=path.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, bufsize=1, env=env)
    run = StageRun(stage, process, threading.Thread())

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line)
            if on_line is not None:
                on_line(line)
        code = process.wait()
        if on_exit is not None:
            on_exit(code)

    run.thread = threading.Thread(target=pump, name=f"mlprod-stage-{stage}", daemon=True)
    run.thread.start()
    return run


# --- rendering ----------------------------------------------------------------------------------------------------

STYLE = """<style>
.mlprod-pipeline { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; max-width: 760px; }
.mlprod-pipeline ol { padding-left: 22px; margin: 6px 0; } .mlprod-pipeline li { margin: 3px 0; overflow-wrap: anywhere; }
.mlprod-pipeline .stale { color: #9a6700; font-weight: 600; } .mlprod-pipeline .fresh { color: #1a7f37; }
.mlprod-pipeline .muted { color: #59636e; font-size: 12px; } .mlprod-pipeline ul { margin: 2px 0; padding-left: 18px; }
</style>"""


def render_pipeline(status: PipelineStatus) -> str:
    """The stages in order, each with the stages it follows (←) and, when checked, stale or up to date and why."""
    items = []
    for s in status.pipeline.stages:
        after = f' <span class="muted">← {escape(", ".join(s.upstream))}</span>' if s.upstream else \
            ' <span class="muted">(first)</span>'
        state = ""
        if status.stale is not None:
            reasons = status.stale.get(s.name)
            if reasons is None:
                state = ' <span class="fresh">up to date</span>'
            else:
                listed = "".join(f"<li>{escape(r)}</li>" for r in reasons)
                state = f' <span class="stale">stale</span>{"<ul>" + listed + "</ul>" if listed else ""}'
        items.append(f'<li data-stage="{escape(s.name)}"><b>{escape(s.name)}</b>{after}{state}</li>')
    n_stale = None if status.stale is None else sum(1 for s in status.pipeline.names if s in status.stale)
    head = (f"{n_stale} of {len(status.pipeline.stages)} stage(s) stale" if n_stale is not None
            else f"{len(status.pipeline.stages)} stage(s); staleness {status.note or 'not checked'}")
    return (f'{STYLE}<div class="mlprod-pipeline"><b>Pipeline {escape(str(status.pipeline.dvc_file))}</b>: '
            f'{escape(head)}<ol>{"".join(items)}</ol>'
            '<div class="muted">Each stage runs after the stages listed after ←, whose outputs it reads.</div></div>')


def pipeline_view(dvc_file: str | Path = "dvc.yaml", *, check: bool = True):
    """The status (a refresh button re-runs ``dvc status``), a stage chooser and a run button whose output streams
    into an Output widget from a reader thread."""
    from .display import Static, in_stage, with_fallback

    state = {"status": pipeline_status(dvc_file, check=check), "run": None}
    if in_stage():
        return Static(render_pipeline(state["status"]))
    import ipywidgets as w

    html = w.HTML(render_pipeline(state["status"]))
    chooser = w.Dropdown(options=state["status"].pipeline.names, description="stage")
    run_button = w.Button(description="Run stage", button_style="primary", icon="play")
    refresh = w.Button(description="Check status", icon="refresh")
    out = w.Output(layout=w.Layout(max_height="320px", overflow="auto", border="1px solid #d8dee4"))
    label = w.HTML("")

    def check_now() -> None:
        state["status"] = pipeline_status(dvc_file, check=True)
        html.value = render_pipeline(state["status"])

    def show_status(_=None) -> None:  # dvc status takes a second or more: never in the kernel's thread
        threading.Thread(target=check_now, name="mlprod-dvc-status", daemon=True).start()

    def finished(code: int) -> None:
        run_button.disabled = False
        label.value = escape(f"{chooser.value}: {'done' if code == 0 else f'failed (exit {code})'}")
        show_status()

    def run(_=None) -> None:
        if state["run"] is not None and state["run"].running:
            return
        out.clear_output()
        run_button.disabled = True
        label.value = escape(f"{chooser.value}: running dvc repro …")
        state["run"] = start_stage(chooser.value, dvc_file, on_line=out.append_stdout, on_exit=finished)

    refresh.on_click(show_status)
    run_button.on_click(run)
    box = w.VBox([html, w.HBox([chooser, run_button, refresh]), label, out])
    return with_fallback(box, lambda: render_pipeline(state["status"]))
