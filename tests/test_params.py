from __future__ import annotations

from pathlib import Path

import pytest
from conftest import NOTEBOOKS, Project

from mlprod.errors import ConfigError, ParamsError
from mlprod.stages.notebook import read_notebook
from mlprod.stages.params import find_params_file, load_params_file, parse_overrides, resolve_params
from mlprod.stages.runner import run_notebook

SIMPLE = read_notebook(NOTEBOOKS / "params_simple.ipynb")
NO_PARAMS_CELL = read_notebook(NOTEBOOKS / "no_parameters_cell.ipynb")


def resolve(project: Project, yaml_text: str | None, *overrides: str, info=SIMPLE, stage: str = "params_simple"):
    path = project.params(yaml_text) if yaml_text is not None else None
    return resolve_params(info, stage, path, parse_overrides(overrides))


# --- values that are accepted ---------------------------------------------------------------------------

def test_section_values_and_overrides_are_merged_overrides_win(project: Project) -> None:
    resolved = resolve(project, """
        params_simple:
          alpha: 0.1
          epochs: 5
          features: [x, y]
        other_stage:
          alpha: not checked here
        """, "epochs=7", "name=run-1")
    assert resolved.values == {"alpha": 0.1, "epochs": 7, "features": ["x", "y"], "name": "run-1"}
    assert resolved.defaults_used == ("weights", "limit", "threshold", "verbose")
    assert resolved.overrides == ("epochs", "name")
    assert resolved.params_file == project.root / "params.yaml"
    assert resolved.stage == "params_simple"


def test_project_facts_reach_stages_that_declare_them_and_the_stage_section_and_p_win(project: Project) -> None:
    text = """
        project:
          target: converted
          numeric_features: [age, income]
          key: lead_id
        params_simple:
          alpha: 0.1
        """
    info = read_notebook(NOTEBOOKS / "params_simple.ipynb")
    # params_simple declares `features` and `name`, not the project's keys: nothing is injected, nothing fails
    assert resolve(project, text).values == {"alpha": 0.1}
    from dataclasses import replace

    from mlprod.stages.notebook import Parameter
    from mlprod.stages.types import spec_from_value

    declared = dict(info.parameters)
    for name, default in (("target", "y"), ("numeric_features", ["x"]), ("key", "id")):
        declared[name] = Parameter(name=name, default=default, type=spec_from_value(default), line=0)
    facts_nb = replace(info, parameters=declared)
    resolved = resolve(project, text, info=facts_nb)
    assert resolved.values == {"alpha": 0.1, "target": "converted", "numeric_features": ["age", "income"],
                               "key": "lead_id"}
    assert resolved.shared == ("target", "numeric_features", "key")
    overridden = resolve(project, text.replace("alpha: 0.1", "alpha: 0.1\n          key: id2"), "target=label",
                         info=facts_nb)
    assert (overridden.values["target"], overridden.values["key"]) == ("label", "id2")
    assert overridden.shared == ("numeric_features",)
    with pytest.raises(ConfigError, match=r"\[project\]\.numeric_features: expected a list of column names"):
        resolve(project, text.replace("[age, income]", "age"), info=facts_nb)


def test_shared_facts_gives_readers_of_a_section_the_facts_it_uses(tmp_path: Path) -> None:
    from mlprod.stages.params import shared_facts

    params = {"project": {"target": "churned", "key": "id", "positive_label": None}, "register": {"threshold": 0.4}}
    assert shared_facts(params, tmp_path / "params.yaml", ("target", "positive_label", "date_column")) == \
        {"target": "churned", "positive_label": None}
    assert shared_facts({"register": {}}, tmp_path / "params.yaml", ("target",)) == {}


def test_the_project_section_is_parsed_strictly(project: Project) -> None:
    with pytest.raises(ConfigError, match=r"\[project\]: unknown key 'targte'; did you mean 'target'\?"):
        resolve(project, "project:\n  targte: y\nparams_simple: {}\n")
    with pytest.raises(ConfigError, match=r"'age' listed as both categorical and numeric"):
        resolve(project, "project:\n  categorical_features: [age]\n  numeric_features: [age]\nparams_simple: {}\n")
    with pytest.raises(ConfigError, match=r"project\]\.target: 'y' is also listed as a feature"):
        resolve(project, "project:\n  target: y\n  numeric_features: [y]\nparams_simple: {}\n")


def test_int_for_float_is_converted_everywhere(project: Project) -> None:
    resolved = resolve(project, """
        params_simple:
          alpha: 1
          weights: {a: 2, b: 0.5}
          threshold: 3
        """)
    assert resolved.values == {"alpha": 1.0, "weights": {"a": 2.0, "b": 0.5}, "threshold": 3.0}
    assert type(resolved.values["alpha"]) is float
    assert type(resolved.values["weights"]["a"]) is float
    assert type(resolved.values["threshold"]) is float


def test_optional_values_accept_null_and_the_type(project: Project) -> None:
    resolved = resolve(project, "params_simple:\n  limit: null\n  threshold: null\n")
    assert resolved.values == {"limit": None, "threshold": None}
    resolved = resolve(project, "params_simple:\n  limit: 4\n  threshold: 0.75\n")
    assert resolved.values == {"limit": 4, "threshold": 0.75}


@pytest.mark.parametrize(
    ("override", "name", "expected"),
    [
        ("epochs=3", "epochs", 3),
        ("alpha=2", "alpha", 2.0),
        ("verbose=true", "verbose", True),
        ("features=[p, q]", "features", ["p", "q"]),
        ("weights={a: 1}", "weights", {"a": 1.0}),
        ("limit=null", "limit", None),
        ("name=007", "name", "007"),  # YAML reads an int; a str parameter keeps what was typed
        ("name=yes", "name", "yes"),  # YAML 1.1 reads a bool
        ("name=", "name", ""),
        ("name=[unclosed", "name", "[unclosed"),  # not YAML at all: the text itself
        ("name=a=b", "name", "a=b"),
    ],
)
def test_command_line_values_are_read_as_yaml(project: Project, override: str, name: str, expected: object) -> None:
    resolved = resolve(project, "params_simple: {}\n", override)
    assert resolved.values == {name: expected}
    assert type(resolved.values[name]) is type(expected)


def test_empty_section_uses_all_defaults(project: Project) -> None:
    resolved = resolve(project, "params_simple:\n")
    assert resolved.values == {}
    assert resolved.defaults_used == tuple(SIMPLE.parameters)


def test_notebook_without_parameters_cell_needs_no_section(project: Project) -> None:
    resolved = resolve(project, "other: {a: 1}\n", info=NO_PARAMS_CELL, stage="no_parameters_cell")
    assert resolved.values == {} and resolved.defaults_used == ()
    resolved = resolve(project, None, info=NO_PARAMS_CELL, stage="no_parameters_cell")
    assert resolved.values == {} and resolved.params_file is None


def test_params_file_is_found_in_a_parent_folder(project: Project) -> None:
    project.params("a: {}\n")
    sub = project.root / "notebooks" / "deep"
    sub.mkdir(parents=True)
    assert find_params_file(sub) == project.root / "params.yaml"
    assert find_params_file() == project.root / "params.yaml"  # the working directory


# --- values that are rejected ---------------------------------------------------------------------------

def test_unknown_parameter_suggests_the_close_name(project: Project) -> None:
    with pytest.raises(ParamsError) as err:
        resolve(project, "params_simple:\n  epoch: 3\n")
    message = str(err.value)
    assert f"{project.root / 'params.yaml'} [params_simple] 'epoch': not a parameter of the notebook; " \
           "did you mean 'epochs'?" in message
    assert "parameters cell (cell 3 (id 'params-simple-3'))" in message
    assert "declared parameters: alpha: float, epochs: int, name: str, features: list[str]" in message


def test_unknown_parameter_without_close_match_has_no_suggestion(project: Project) -> None:
    with pytest.raises(ParamsError) as err:
        resolve(project, "params_simple: {}\n", "zzz=1")
    assert "-p zzz=1: not a parameter of the notebook\n" in str(err.value)
    assert "did you mean" not in str(err.value)


@pytest.mark.parametrize(
    ("yaml_text", "override", "expected"),
    [
        ("params_simple:\n  epochs: '10'\n", None,
         "[params_simple] 'epochs': expected int (declared on line 4 of the parameters cell), got str '10'"),
        ("params_simple:\n  epochs: true\n", None,
         "'epochs': expected int (declared on line 4 of the parameters cell), got bool True"),
        ("params_simple:\n  alpha: fast\n", None, "'alpha': expected float (declared on line 3"),
        ("params_simple:\n  features: [a, 1]\n", None, "'features': expected list[str] (declared on line 6"),
        ("params_simple:\n  weights: {a: x}\n", None, "'weights': expected dict[str, float]"),
        ("params_simple:\n  limit: 1.5\n", None, "'limit': expected int | None (declared on line 8"),
        ("params_simple:\n  verbose: 1\n", None, "'verbose': expected bool"),
        ("params_simple: {}\n", "epochs=1.5",
         "-p epochs=1.5: expected int (declared on line 4 of the parameters cell), got float 1.5"),
        ("params_simple: {}\n", "epochs=abc", "-p epochs=abc: expected int"),
    ],
)
def test_ill_typed_values_are_rejected(project: Project, yaml_text: str, override: str | None, expected: str) -> None:
    with pytest.raises(ParamsError) as err:
        resolve(project, yaml_text, *([override] if override else []))
    assert expected in str(err.value)


def test_all_problems_are_reported_at_once(project: Project) -> None:
    with pytest.raises(ParamsError) as err:
        resolve(project, "params_simple:\n  epoch: 3\n  alpha: x\n  3: y\n", "nme=a")
    problems = [line for line in str(err.value).splitlines() if line.startswith("  - ")]
    assert len(problems) == 4
    assert any("[params_simple] 3: 3 is not a valid Python name" in p for p in problems)


def test_missing_section_lists_sections_and_how_to_fix(project: Project) -> None:
    with pytest.raises(ParamsError) as err:
        resolve(project, "train: {}\nevaluate: {}\n")
    message = str(err.value)
    assert "no section 'params_simple' for notebook" in message
    assert "(sections: evaluate, train)" in message
    assert "--stage NAME" in message


def test_empty_params_file_has_no_sections(project: Project) -> None:
    with pytest.raises(ParamsError, match=r"no section 'params_simple' .*\(sections: none\)"):
        resolve(project, "")


def test_section_must_be_a_mapping(project: Project) -> None:
    with pytest.raises(ParamsError, match=r"section 'params_simple' must be a mapping .*got list \['a'\]"):
        resolve(project, "params_simple: [a]\n")


def test_params_file_must_be_a_mapping(project: Project) -> None:
    with pytest.raises(ConfigError, match=r"expected a mapping of sections .*got list"):
        load_params_file(project.params("- a\n- b\n"))


def test_no_params_file_for_a_notebook_with_parameters(project: Project) -> None:
    with pytest.raises(ParamsError, match=r"no params.yaml found .*'params_simple:' section, or pass --params FILE"):
        resolve(project, None)


def test_parameters_for_a_notebook_without_parameters_cell(project: Project) -> None:
    with pytest.raises(ParamsError) as err:
        resolve(project, "no_parameters_cell:\n  b: 1\n", "a=2", info=NO_PARAMS_CELL, stage="no_parameters_cell")
    assert "has no cell tagged 'parameters', but parameters were given (a, b)" in str(err.value)


@pytest.mark.parametrize("item", ["epochs", "=3", " =3"])
def test_malformed_override_is_rejected(item: str) -> None:
    with pytest.raises(ParamsError, match=r"expected KEY=VALUE"):
        parse_overrides([item])


# --- every parameter mistake is caught before a kernel starts -----------------------------------------------

@pytest.mark.parametrize(
    ("notebook", "yaml_text", "overrides", "error", "expected"),
    [
        ("params_simple", "params_simple:\n  alpah: 1.0\n", [], ParamsError, "did you mean 'alpha'?"),
        ("params_simple", "params_simple:\n  epochs: ten\n", [], ParamsError, "expected int"),
        ("params_simple", "params_simple:\n  epochs: false\n", [], ParamsError, "got bool False"),
        ("params_simple", "params_simple: {}\n", ["epochs=true"], ParamsError, "-p epochs=true: expected int"),
        ("params_simple", "train: {}\n", [], ParamsError, "no section 'params_simple'"),
        ("params_simple", "params_simple:\n  alpha: 1.0\n  alpha: 2.0\n", [], ConfigError,
         "line 3: invalid YAML: duplicate key 'alpha' (first defined on line 2)"),
        ("no_parameters_cell", "no_parameters_cell:\n  x: 1\n", [], ParamsError, "has no cell tagged 'parameters'"),
        ("no_parameters_cell", "", ["x=1"], ParamsError, "has no cell tagged 'parameters'"),
    ],
)
def test_parameter_errors_are_raised_before_any_kernel_starts(
        project: Project, notebook: str, yaml_text: str, overrides: list[str], error: type, expected: str) -> None:
    nb = project.notebook(notebook)
    project.params(yaml_text)
    with pytest.raises(error) as err:
        run_notebook(nb, overrides=overrides)
    assert expected in str(err.value)
    project.assert_no_kernel_started()


def test_marker_cell_really_runs_when_parameters_are_fine(project: Project) -> None:
    """Control for the test above: the same notebook, valid values, does start a kernel and write the marker."""
    nb = project.notebook("no_parameters_cell")
    run_notebook(nb, html=False)
    assert (project.root / "kernel_started.marker").is_file()
    assert (project.root / "reports" / "notebooks" / "no_parameters_cell" / "run.json").is_file()


def test_explicit_params_file_and_stage(project: Project) -> None:
    project.write("conf/other.yaml", "shared_name:\n  epochs: 2\n  epochz: 1\n")
    nb = project.notebook("params_simple")
    with pytest.raises(ParamsError, match=r"conf/other.yaml \[shared_name\] 'epochz'"):
        run_notebook(nb, stage="shared_name", params_file="conf/other.yaml")
    project.assert_no_kernel_started()


def test_a_params_file_never_moves_the_project_root(project: Project, tmp_path_factory: pytest.TempPathFactory) -> None:
    from mlprod.stages.params import project_root

    project.params("x: {}\n")
    (project.root / "notebooks").mkdir()
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "params.yaml"
    elsewhere.write_text("x: {}\n", encoding="utf-8")
    root = project.root.resolve()
    assert project_root() == (root, root / "params.yaml")
    assert project_root(params_file=elsewhere) == (root, elsewhere)  # only read from there
    assert project_root(params_file="notebooks/other.yaml") == (root, Path("notebooks/other.yaml"))
    assert project_root(cwd=project.root / "notebooks") == (project.root / "notebooks", root / "params.yaml")
    (project.root / "params.yaml").unlink()
    assert project_root(params_file=elsewhere) == (Path.cwd(), elsewhere)  # no params.yaml: the working directory
