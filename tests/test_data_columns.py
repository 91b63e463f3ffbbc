"""Column and label checks of the built-in notebooks: each failure names the file, the column and the params.yaml key."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from mlprod.data import binary_target, require_columns, require_numeric, table_columns, write_table
from mlprod.errors import DataError


@pytest.fixture(autouse=True)
def outside_a_stage(monkeypatch: pytest.MonkeyPatch) -> None:
    """No run context: a shared fact's key is project.<name>."""
    from mlprod.stages import interactive

    monkeypatch.delenv("MLPROD_RUN", raising=False)
    monkeypatch.setattr(interactive, "_applied", {})


@pytest.fixture
def leads() -> pd.DataFrame:
    return pd.DataFrame({"lead_id": [1, 2, 3, 4], "Region (sales)": ["n", "s", "n", "s"], "age": [30, 40, 50, 60],
                         "Converted?": ["yes", "no", None, "yes"]})


# --- require_columns -------------------------------------------------------------------------------------

def test_a_missing_column_names_the_file_the_key_and_the_columns(leads) -> None:
    with pytest.raises(DataError) as err:
        require_columns(leads, {"project.target": "converted"}, source="data/prepared/train.parquet")
    assert str(err.value) == (
        "data/prepared/train.parquet: no column 'converted' (project.target in params.yaml); did you mean "
        "'Converted?'?; columns: lead_id, Region (sales), age, Converted?. Set project.target to one of these columns "
        "(or fix the file).")


def test_every_missing_column_is_listed_once_with_a_close_match(leads) -> None:
    with pytest.raises(DataError) as err:
        require_columns(leads, {"project.target": "Converted", "project.categorical_features": ["Region (sales)",
                                                                                                 "Region(sales)"],
                                "project.numeric_features": ["age", "income"], "project.key": None},
                        source="leads.csv")
    message = str(err.value)
    assert message.startswith("leads.csv: 3 columns named in params.yaml are missing:\n")
    assert "  - no column 'Converted' (project.target); did you mean 'Converted?'?" in message
    assert "  - no column 'Region(sales)' (project.categorical_features); did you mean 'Region (sales)'?" in message
    assert "  - no column 'income' (project.numeric_features)\n" in message
    assert "Set project.target, project.categorical_features, project.numeric_features in params.yaml" in message


def test_present_columns_and_null_keys_pass(leads) -> None:
    require_columns(leads, {"project.target": "Converted?", "project.key": None, "project.slice_columns": []},
                    source="x")
    require_columns(["a", "b"], {"k": ["a", "b"]}, source="x")


@pytest.mark.parametrize("name", ["leads.csv", "leads.parquet"])
def test_a_file_is_checked_from_its_header(tmp_path: Path, leads, name: str) -> None:
    path = write_table(leads, tmp_path / name)
    assert table_columns(path) == list(leads.columns)
    require_columns(path, {"project.target": "Converted?"})
    with pytest.raises(DataError, match=re.escape(f"{path}: no column 'y' (project.target in params.yaml)")):
        require_columns(path, {"project.target": "y"})
    with pytest.raises(DataError, match="does not exist"):
        require_columns(tmp_path / "absent.csv", {"project.target": "y"})


def test_a_long_header_is_listed_up_to_a_limit() -> None:
    with pytest.raises(DataError, match=r"c39 … and 60 more\."):
        require_columns([f"c{i}" for i in range(100)], {"project.target": "y"}, source="wide.csv")


def test_a_numeric_feature_holding_text_says_to_move_it(leads) -> None:
    require_numeric(leads, {"project.numeric_features": ["age", "lead_id"]}, source="train.parquet")
    with pytest.raises(DataError) as err:
        require_numeric(leads, {"project.numeric_features": ["age", "Region (sales)"]}, source="train.parquet")
    assert str(err.value).startswith("train.parquet: column 'Region (sales)' in project.numeric_features holds "
                                     "values that are not numbers ('n', 's'). A numeric feature must hold numbers: "
                                     "move the column to project.categorical_features")


# --- binary_target ----------------------------------------------------------------------------------------

def test_0_1_labels_are_kept_as_they_are() -> None:
    frame = pd.DataFrame({"y": [0, 1, 1], "x": [1.0, 2.0, 3.0]})
    same, summary = binary_target(frame, "y", source="s")
    assert same is frame and not summary.mapped
    assert summary.to_dict() == {"rows_read": 3, "unlabelled_dropped": 0, "positive_label": 1, "negative_label": 0}


def test_a_text_label_is_mapped_with_positive_label_and_unlabelled_rows_are_dropped_and_counted(leads) -> None:
    mapped, summary = binary_target(leads, "Converted?", positive_label="yes", source="leads.csv")
    assert mapped["Converted?"].tolist() == [1, 0, 1] and mapped["Converted?"].dtype == "int64"
    assert mapped["lead_id"].tolist() == [1, 2, 4] and mapped.index.tolist() == [0, 1, 2]
    assert summary.to_dict() == {"rows_read": 4, "unlabelled_dropped": 1, "positive_label": "yes",
                                 "negative_label": "no"}
    assert leads["Converted?"].fillna("-").tolist() == ["yes", "no", "-", "yes"]  # the input is not changed


def test_yaml_reads_an_unquoted_yes_as_true_and_it_still_matches_a_text_yes(leads) -> None:
    mapped, summary = binary_target(leads, "Converted?", positive_label=True, source="leads.csv")
    assert mapped["Converted?"].tolist() == [1, 0, 1] and summary.positive == "yes"


def test_booleans_and_float_labels_with_missing_values_become_0_1() -> None:
    mapped, _ = binary_target(pd.DataFrame({"y": [True, False]}), "y", source="s")
    assert mapped["y"].tolist() == [1, 0] and mapped["y"].dtype == "int64"
    mapped, summary = binary_target(pd.DataFrame({"y": [1.0, None, 0.0]}), "y", source="s")  # a CSV with gaps
    assert mapped["y"].tolist() == [1, 0] and summary.unlabelled == 1


def test_a_numeric_positive_label_matches_labels_read_as_text() -> None:
    mapped, _ = binary_target(pd.DataFrame({"y": ["2", "1", "2"]}), "y", positive_label=2, source="s")
    assert mapped["y"].tolist() == [1, 0, 1]


def test_a_text_label_without_positive_label_names_the_key_to_set(leads) -> None:
    with pytest.raises(DataError) as err:
        binary_target(leads, "Converted?", source="leads.csv", keys=lambda name: f"project.{name}")
    assert str(err.value) == ("leads.csv: target column 'Converted?' holds 'no', 'yes', not 0/1 labels; set "
                              "project.positive_label in params.yaml to the value that means positive (one of "
                              "'no', 'yes'); it becomes 1, the other 0")


def test_more_than_two_classes_is_an_error() -> None:
    with pytest.raises(DataError, match=r"target column 'status' has 3 classes \('lost', 'open', 'won'\); the pipeline "
                                        r"trains a binary classifier: set project.target"):
        binary_target(pd.DataFrame({"status": ["won", "lost", "open"]}), "status", positive_label="won", source="s")


def test_a_positive_label_that_is_not_a_value_lists_the_values(leads) -> None:
    with pytest.raises(DataError, match=r"project.positive_label 'Yes' is not a value of target column 'Converted\?' "
                                        r"\(values: 'no', 'yes'\)"):
        binary_target(leads, "Converted?", positive_label="Yes", source="leads.csv")


def test_one_class_only_is_an_error() -> None:
    with pytest.raises(DataError, match=r"target column 'y' has one class only \(1.0 after dropping unlabelled rows\)"):
        binary_target(pd.DataFrame({"y": [1, None, 1]}), "y", source="s")


def test_drop_unlabelled_false_fails_on_rows_without_a_label_naming_them(leads) -> None:
    with pytest.raises(DataError) as err:
        binary_target(leads, "Converted?", positive_label="yes", drop_unlabelled=False, source="leads.csv",
                      keys={"drop_unlabelled": "ingest.drop_unlabelled"}.get)
    assert str(err.value) == ("leads.csv: 1 of 4 rows have no label in target column 'Converted?' (row 3); fill them "
                              "in, or set ingest.drop_unlabelled: true to leave them out")


def test_a_missing_target_column_names_the_key(leads) -> None:
    with pytest.raises(DataError, match=re.escape("leads.csv: no column 'converted' (project.target in params.yaml)")):
        binary_target(leads, "converted", source="leads.csv")
