"""The parameter panel of a stage: type-aware controls for the ``parameters`` cell, a live diff against
params.yaml, and a button that saves the edited values there (:func:`mlprod.save_params`).

In a notebook, after the parameters cell::

    from mlprod.widgets.parameters import parameter_panel
    parameter_panel(globals(), "train")

JupyterLab shows the controls (bool: a checkbox; int and float: number boxes; str: a text box; ``bool | None``:
a choice; lists, mappings and other unions: YAML text, checked as you type). Under ``mlprod run`` / papermill
(``MLPROD_STAGE`` set) no widget is built: the cell shows the static table (parameter, value, params.yaml value,
differs), as does the HTML of an executed notebook. :func:`panel_rows` computes what both show.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, MutableMapping

from .. import yamlio
from ..errors import ConfigError, MlprodError
from ..project.facts import SECTION as SHARED_SECTION
from ..stages.notebook import Parameter
from ..stages.paramdiff import same_value
from ..stages.types import TypeSpec, check_value

MISSING = object()  # a parameter params.yaml does not set (the cell's default is used)


@dataclass(frozen=True)
class PanelRow:
    name: str
    type: TypeSpec
    value: Any  # the parameters cell's value
    params_yaml: Any  # MISSING when params.yaml does not set it
    section: str  # where params.yaml sets it (or would: the stage's section)

    @property
    def differs(self) -> bool:
        return self.params_yaml is not MISSING and not same_value(self.value, self.params_yaml)


@dataclass(frozen=True)
class PanelState:
    stage: str
    params_file: Path | None
    params_sha256: str | None
    rows: tuple[PanelRow, ...]


def panel_rows(namespace: Mapping[str, Any], stage: str, *, params_file: str | Path | None = None) -> PanelState:
    """The declared parameters with the cell's values and params.yaml's, from the last ``init_stage`` (JupyterLab)
    or from the stage notebook's parameters cell (``mlprod run``)."""
    import hashlib

    from ..stages.interactive import applied_stage
    from ..stages.params import find_params_file, shared_facts

    applied = applied_stage() or {}
    applied = applied if applied.get("stage") == stage else {}
    declared: dict[str, Parameter] = applied.get("declared") or _declared_by_notebook(stage)
    cell = {**{n: namespace[n] for n in declared if n in namespace}, **applied.get("cell", {})}
    path = Path(params_file) if params_file else Path(applied["params_file"]) if applied else find_params_file()
    data, sha = {}, None
    if path is not None and path.is_file():
        raw = path.read_bytes()
        sha = hashlib.sha256(raw).hexdigest()
        loaded = yamlio.loads(raw.decode("utf-8"), source=str(path))
        data = loaded if isinstance(loaded, dict) else {}
    section = data.get(stage) if isinstance(data.get(stage), dict) else {}
    try:
        shared = shared_facts(data, path or "params.yaml", declared)
    except ConfigError:
        shared = {}
    rows = []
    for name, param in declared.items():
        where = stage if name in section or name not in shared else SHARED_SECTION
        yaml_value = section[name] if name in section else shared.get(name, MISSING)
        rows.append(PanelRow(name=name, type=param.type, value=cell.get(name, param.default),
                             params_yaml=yaml_value, section=where))
    return PanelState(stage=stage, params_file=path, params_sha256=sha, rows=tuple(rows))


def render_table(state: PanelState, values: Mapping[str, Any] | None = None) -> str:
    """The static rendering: one row per parameter (``values`` overrides the cell's, e.g. the widget's state)."""
    values = values or {}
    body = []
    for row in state.rows:
        value = values.get(row.name, row.value)
        differs = row.params_yaml is not MISSING and not same_value(value, row.params_yaml)
        yaml_text = "(not set)" if row.params_yaml is MISSING else f"{_text(row.params_yaml)} [{row.section}]"
        style = ' style="background:#fff4ce"' if differs else ""
        body.append(f"<tr{style}><td><code>{_esc(row.name)}</code></td><td><code>{_esc(_text(value))}</code></td>"
                    f"<td><code>{_esc(yaml_text)}</code></td><td>{'yes' if differs else ''}</td></tr>")
    changed = sum(1 for r in state.rows if r.params_yaml is not MISSING
                  and not same_value(values.get(r.name, r.value), r.params_yaml))
    caption = (f"Parameters of stage <code>{_esc(state.stage)}</code>: {changed} differ from "
               f"<code>{_esc(state.params_file.name if state.params_file else 'params.yaml')}</code>")
    return ('<div class="mlprod-parameters" style="max-width:100%;overflow-x:auto">'
            '<table style="border-collapse:collapse;word-break:break-word">'
            f"<caption style=\"text-align:left\">{caption}</caption>"
            "<thead><tr><th>parameter</th><th>value</th><th>params.yaml value</th><th>differs</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>")


class StaticPanel:
    """What a batch run shows: the table only (no ipywidgets import, nothing a reader needs a kernel for)."""

    def __init__(self, state: PanelState) -> None:
        self.state = state

    def _repr_html_(self) -> str:
        return render_table(self.state)


def parameter_panel(namespace: MutableMapping[str, Any], stage: str, *, params_file: str | Path | None = None) -> Any:
    """The panel for ``stage`` (see the module docstring); display it as a cell's last expression."""
    state = panel_rows(namespace, stage, params_file=params_file)
    if os.environ.get("MLPROD_STAGE"):
        return StaticPanel(state)
    from .display import with_fallback

    panel = _Panel(state)
    return with_fallback(panel.widget, panel.html)


class _Panel:
    """The live widget: controls, the diff as you edit, the save button."""

    def __init__(self, state: PanelState) -> None:
        import ipywidgets as w

        self.state = state
        self.controls: dict[str, tuple[Any, Callable[[], tuple[bool, Any]]]] = {}
        rows = []
        for row in state.rows:
            control, read = _control(row)
            control.observe(lambda _change: self.refresh(), names="value")
            self.controls[row.name] = (control, read)
            rows.append(w.HBox([w.Label(row.name, layout=w.Layout(width="12em")), control]))
        self.diff = w.HTML()
        self.status = w.HTML()
        self.save = w.Button(description="save to params.yaml", icon="save")
        self.save.on_click(lambda _button: self.save_values())
        self.widget = w.VBox([*rows, self.diff, w.HBox([self.save, self.status])])
        self.refresh()

    def values(self) -> tuple[dict[str, Any], list[str]]:
        values, invalid = {}, []
        for name, (_control, read) in self.controls.items():
            ok, value = read()
            if ok:
                values[name] = value
            else:
                invalid.append(name)
        return values, invalid

    def changed(self) -> dict[str, Any]:
        values, _ = self.values()
        return {r.name: values[r.name] for r in self.state.rows if r.name in values
                and (r.params_yaml is MISSING and not same_value(values[r.name], r.value)
                     or r.params_yaml is not MISSING and not same_value(values[r.name], r.params_yaml))}

    def refresh(self) -> None:
        values, invalid = self.values()
        changed = self.changed()
        rows = {r.name: r for r in self.state.rows}
        items = [f"<li><code>{_esc(n)}</code>: {_esc(_text(v))} (params.yaml [{_esc(rows[n].section)}]: "
                 f"{_esc('not set' if rows[n].params_yaml is MISSING else _text(rows[n].params_yaml))})</li>"
                 for n, v in changed.items()]
        items += [f"<li><code>{_esc(n)}</code>: <b>not a valid {_esc(rows[n].type)}</b></li>" for n in invalid]
        self.diff.value = (f"<b>{len(changed)} differ from params.yaml</b><ul>{''.join(items)}</ul>" if items
                           else "same values as params.yaml")
        self.save.disabled = not changed or bool(invalid)

    def html(self) -> str:
        return render_table(self.state, self.values()[0])

    def save_values(self) -> None:
        from ..stages.saveparams import save_params

        try:
            result = save_params(self.state.stage, self.changed(), params_file=self.state.params_file,
                                 expected_sha256=self.state.params_sha256, quiet=True)
        except MlprodError as exc:
            self.status.value = f'<span style="color:#a00">{_esc(exc)}</span>'
            return
        self.state = panel_rows({r.name: r.value for r in self.state.rows}, self.state.stage,
                                params_file=self.state.params_file)
        self.status.value = _esc(result)
        self.refresh()


def _control(row: PanelRow) -> tuple[Any, Callable[[], tuple[bool, Any]]]:
    import ipywidgets as w

    kind, value = row.type.kind, row.value
    if kind == "bool" and isinstance(value, bool):
        box = w.Checkbox(value=value, indent=False)
        return box, lambda: (True, box.value)
    if kind == "int" and type(value) is int:
        number = w.IntText(value=value)
        return number, lambda: (True, number.value)
    if kind == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        number = w.FloatText(value=float(value))
        return number, lambda: (True, float(number.value))
    if kind == "str" and isinstance(value, str):
        text = w.Text(value=value)
        return text, lambda: (True, text.value)
    options = _choices(row.type)
    if options is not None and any(same_value(value, o) for o in options):
        choice = w.Dropdown(options=[(_text(o), o) for o in options], value=value)
        return choice, lambda: (True, choice.value)
    from ..stages.yamledit import render

    text = w.Text(value=render(value), placeholder=f"YAML, {row.type}")
    return text, lambda: _parse(text.value, row.type)


def _choices(spec: TypeSpec) -> list[Any] | None:
    """The finite values a type allows (``bool``, ``bool | None``), None when it allows more."""
    kinds = {a.kind for a in spec.args} if spec.kind == "union" else {spec.kind}
    if kinds <= {"bool", "none"}:
        return ([None] if "none" in kinds else []) + ([True, False] if "bool" in kinds else [])
    return None


def _parse(text: str, spec: TypeSpec) -> tuple[bool, Any]:
    """YAML text typed for a list/dict/union parameter; plain text counts as a string where a string is allowed."""
    try:
        value = yamlio.loads(text, source="the value") if text.strip() else ""
    except ConfigError:
        value = text
    ok, converted = check_value(value, spec)
    if not ok:
        ok, converted = check_value(text, spec)
    return ok, converted


def _text(value: Any) -> str:
    from ..stages.yamledit import render

    try:
        return render(value)
    except ConfigError:
        return repr(value)


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _declared_by_notebook(stage: str) -> dict[str, Parameter]:
    """Under ``mlprod run``: the notebook being run (its run context names it); else notebooks/<stage>.ipynb."""
    import json

    from ..stages.notebook import read_notebook
    from ..stages.params import find_params_file

    try:
        context = json.loads(os.environ.get("MLPROD_RUN") or "{}")
    except ValueError:
        context = {}
    found = find_params_file()
    root = found.parent if found else Path.cwd()
    candidates = [root / str(context["notebook"])] if isinstance(context, dict) and context.get("notebook") else []
    candidates += [root / "notebooks" / f"{stage}.ipynb", *sorted(root.glob(f"pipelines/*/notebooks/{stage}.ipynb"))]
    for candidate in candidates:
        if candidate.is_file():
            return read_notebook(candidate).parameters
    return {}
