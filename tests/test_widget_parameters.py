"""The parameter panel: type-aware controls, the live diff against params.yaml, saving, the static table."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as w
import pytest
from conftest import Project

from mlprod.stages.interactive import init_stage
from mlprod.widgets.parameters import StaticPanel, parameter_panel

PARAMS = """\
train:                # the train stage
  fast: true
  epochs: 10          # rounds
  rate: 0.1
  name: "lead"
  cols: [a, b]
  balanced: null
"""
CELL = 'fast = True\nepochs = 10\nrate = 0.1\nname = "lead"\ncols = ["a", "b"]\nbalanced: bool | None = None\n'


def run_cell(source: str = CELL) -> dict:
    namespace: dict = {"__name__": "__main__", "In": ["", source + 'init_stage(globals(), "train")']}
    exec(compile(source, "<parameters cell>", "exec"), namespace)  # noqa: S102 - our own fixture text
    init_stage(namespace, "train")
    return namespace


@pytest.fixture
def demo(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    project.params(PARAMS)
    monkeypatch.delenv("MLPROD_RUN", raising=False)
    return project


def controls(display) -> dict[str, w.Widget]:
    rows = [child for child in display.widget.children
            if isinstance(child, w.HBox) and isinstance(child.children[0], w.Label)]
    return {row.children[0].value: row.children[1] for row in rows}


def test_controls_follow_the_declared_types(demo: Project) -> None:
    display = parameter_panel(run_cell(), "train")
    kinds = {name: type(control).__name__ for name, control in controls(display).items()}
    assert kinds == {"fast": "Checkbox", "epochs": "IntText", "rate": "FloatText", "name": "Text", "cols": "Text",
                     "balanced": "Dropdown"}
    assert controls(display)["cols"].value == "[a, b]"
    assert list(controls(display)["balanced"].options) == [("null", None), ("true", True), ("false", False)]


def test_the_diff_is_live_and_save_writes_params_yaml(demo: Project) -> None:
    display = parameter_panel(run_cell(CELL.replace("epochs = 10", "epochs = 12")), "train")
    panel_diff = display.widget.children[-2]
    assert "1 differ from params.yaml" in panel_diff.value and "epochs" in panel_diff.value  # the cell's edit
    boxes = controls(display)
    boxes["rate"].value = 0.3
    boxes["cols"].value = "[a, b, c]"
    assert "3 differ from params.yaml" in panel_diff.value
    boxes["cols"].value = "[a, "  # not valid YAML for a list: flagged, and nothing can be saved
    assert "<b>not a valid list</b>" in panel_diff.value
    save = display.widget.children[-1].children[0]
    assert save.disabled
    boxes["cols"].value = "[a, b, c]"
    assert not save.disabled
    assert "<td><code>rate</code></td><td><code>0.3</code></td><td><code>0.1 [train]</code></td><td>yes</td>" \
        in display._repr_mimebundle_()["text/html"]  # the static rendering follows the widget
    save.click()
    assert (demo.root / "params.yaml").read_text() == PARAMS.replace("epochs: 10          #", "epochs: 12          #") \
        .replace("rate: 0.1", "rate: 0.3").replace("cols: [a, b]", "cols: [a, b, c]")
    assert "saved 3 value(s)" in display.widget.children[-1].children[1].value
    assert "same values as params.yaml" in panel_diff.value and save.disabled


def test_save_refuses_a_params_yaml_changed_since_the_panel_was_shown(demo: Project) -> None:
    display = parameter_panel(run_cell(), "train")
    changed = PARAMS.replace("rate: 0.1", "rate: 0.2")
    (demo.root / "params.yaml").write_text(changed)
    controls(display)["epochs"].value = 3
    display.widget.children[-1].children[0].click()
    assert "changed since its values were read" in display.widget.children[-1].children[1].value
    assert (demo.root / "params.yaml").read_text() == changed


def test_under_mlprod_run_the_panel_is_only_the_static_table(demo: Project,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(CELL)
    cell.metadata["tags"] = ["parameters"]
    notebook.cells.append(cell)
    Path("notebooks").mkdir()
    nbformat.write(notebook, "notebooks/train.ipynb")
    monkeypatch.setenv("MLPROD_STAGE", "train")
    namespace = {"fast": False, "epochs": 10, "rate": 0.1, "name": "<b>lead</b>", "cols": ["a", "b"], "balanced": None}
    panel = parameter_panel(namespace, "train")
    assert isinstance(panel, StaticPanel)
    table = panel._repr_html_()
    assert "<th>parameter</th><th>value</th><th>params.yaml value</th><th>differs</th>" in table
    assert "<td><code>fast</code></td><td><code>false</code></td><td><code>true [train]</code></td><td>yes</td>" in table
    assert "&lt;b&gt;lead&lt;/b&gt;" in table and "<b>lead</b>" not in table  # values are escaped
    assert "<td><code>epochs</code></td><td><code>10</code></td><td><code>10 [train]</code></td><td></td>" in table
