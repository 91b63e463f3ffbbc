from __future__ import annotations

import ast

import pytest

from mlprod.errors import NotebookError
from mlprod.stages.types import ANY, TypeSpec, check_value, spec_from_annotation, spec_from_value, yaml_type_name


def spec(annotation: str) -> TypeSpec:
    return spec_from_annotation(ast.parse(annotation, mode="eval").body, where="test")


@pytest.mark.parametrize(
    ("annotation", "rendered"),
    [
        ("int", "int"),
        ("float", "float"),
        ("bool", "bool"),
        ("str", "str"),
        ("None", "None"),
        ("list", "list"),
        ("dict", "dict"),
        ("list[str]", "list[str]"),
        ("List[int]", "list[int]"),
        ("tuple[int, ...]", "list[int]"),
        ("dict[str, float]", "dict[str, float]"),
        ("Dict[str, list[int]]", "dict[str, list[int]]"),
        ("Optional[int]", "int | None"),
        ("typing.Optional[str]", "str | None"),
        ("float | None", "float | None"),
        ("Union[int, str]", "int | str"),
        ("Union[int, Optional[int]]", "int | None"),
        ("'int'", "int"),
        ("Any", "any"),
        ("Optional[Any]", "any"),
    ],
)
def test_annotations_translate_to_the_yaml_type_language(annotation: str, rendered: str) -> None:
    assert str(spec(annotation)) == rendered


@pytest.mark.parametrize(
    "annotation", ["set[int]", "np.ndarray", "pd.DataFrame", "Callable[[int], int]", "bytes", "int[str]", "dict[str]"])
def test_unsupported_annotation_is_a_notebook_error_naming_it(annotation: str) -> None:
    with pytest.raises(NotebookError) as err:
        spec(annotation)
    message = str(err.value)
    assert message.startswith("test: unsupported type annotation")
    assert repr(annotation) in message
    assert "list[...], dict[str, ...]" in message


def test_unsupported_element_type_is_named_itself() -> None:
    with pytest.raises(NotebookError, match=r"unsupported type annotation 'set\[int\]'"):
        spec("list[set[int]]")


@pytest.mark.parametrize(
    ("value", "rendered"),
    [(3, "int"), (0.5, "float"), (True, "bool"), ("s", "str"), ([1, 2], "list"), ({"a": 1}, "dict"), (None, "any")],
)
def test_type_is_inferred_from_a_default_without_annotation(value: object, rendered: str) -> None:
    assert str(spec_from_value(value)) == rendered


def test_int_is_accepted_for_float_and_converted() -> None:
    ok, value = check_value(3, spec("float"))
    assert ok and value == 3.0 and type(value) is float


def test_conversion_reaches_into_containers() -> None:
    ok, value = check_value([1, 2.5], spec("list[float]"))
    assert ok and value == [1.0, 2.5] and all(type(v) is float for v in value)
    ok, value = check_value({"a": 1, "b": 0.5}, spec("dict[str, float]"))
    assert ok and value == {"a": 1.0, "b": 0.5} and type(value["a"]) is float
    ok, value = check_value(2, spec("float | None"))
    assert ok and type(value) is float


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ("int", "3"),
        ("int", True),  # bool is not an int in params.yaml, even though it is in Python
        ("int", 3.0),
        ("float", True),
        ("float", "0.5"),
        ("bool", 1),
        ("str", 7),
        ("int", None),
        ("list[str]", ["a", 1]),
        ("list[str]", "a"),
        ("list", {"a": 1}),
        ("dict[str, float]", {"a": "x"}),
        ("dict[str, float]", {1: 1.0}),
        ("dict[str, float]", [1.0]),
        ("Optional[int]", 1.5),
        ("float | None", "none"),
        ("None", 0),
    ],
)
def test_ill_typed_values_are_rejected(annotation: str, value: object) -> None:
    ok, returned = check_value(value, spec(annotation))
    assert not ok
    assert returned == value


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        ("Optional[int]", None),
        ("Optional[int]", 4),
        ("int | None", None),
        ("list[str]", []),
        ("list[str]", ["a", "b"]),
        ("list[int | str]", [1, "a"]),
        ("dict[str, list[int]]", {"a": [1, 2]}),
        ("Any", object()),
        ("bool", False),
    ],
)
def test_well_typed_values_are_accepted_unchanged(annotation: str, value: object) -> None:
    ok, returned = check_value(value, spec(annotation))
    assert ok
    assert returned is value or returned == value


def test_any_accepts_everything() -> None:
    assert check_value({"nested": [1, None]}, ANY) == (True, {"nested": [1, None]})


def test_yaml_type_names() -> None:
    assert [yaml_type_name(v) for v in (None, True, 1, 1.5, "s", [], {})] == [
        "null", "bool", "int", "float", "str", "list", "dict"]
