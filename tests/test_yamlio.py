from __future__ import annotations

from pathlib import Path

import pytest

from mlprod import yamlio
from mlprod.errors import ConfigError


def test_plain_yaml_is_read() -> None:
    assert yamlio.loads("a: 1\nb: [x, 2.5, true, null]\nc: {d: '007'}\n") == {
        "a": 1, "b": ["x", 2.5, True, None], "c": {"d": "007"}}


def test_duplicate_keys_are_rejected_with_both_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 0.1\n  epochs: 3\n  lr: 0.2\n")
    with pytest.raises(ConfigError) as err:
        yamlio.load_file(path)
    assert str(err.value) == (
        f"{path} line 4: invalid YAML: duplicate key 'lr' (first defined on line 2); keep only one of them")


def test_duplicate_top_level_sections_are_rejected() -> None:
    with pytest.raises(ConfigError, match=r"cfg line 3: .*duplicate key 'train' \(first defined on line 1\)"):
        yamlio.loads("train:\n  a: 1\ntrain:\n  a: 2\n", source="cfg")


def test_merge_keys_are_allowed_and_local_keys_win() -> None:
    text = (
        "base: &base\n"
        "  lr: 0.1\n"
        "  epochs: 3\n"
        "train:\n"
        "  <<: *base\n"
        "  lr: 0.5\n"
        "tune:\n"
        "  <<: [*base]\n"
        "  seed: 1\n"
    )
    data = yamlio.loads(text)
    assert data["train"] == {"lr": 0.5, "epochs": 3}
    assert data["tune"] == {"lr": 0.1, "epochs": 3, "seed": 1}


def test_invalid_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 0.1\n  epochs: [1, 2\nother: 1\n")
    with pytest.raises(ConfigError) as err:
        yamlio.load_file(path)
    message = str(err.value)
    assert message.startswith(f"{path} line 4: invalid YAML: ")


def test_bad_indentation_names_line() -> None:
    with pytest.raises(ConfigError, match=r"^x.yaml line 3: invalid YAML: "):
        yamlio.loads("a:\n  b: 1\n c: 2\n", source="x.yaml")


def test_python_object_tags_are_not_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(ConfigError, match="invalid YAML"):
        yamlio.loads(f"x: !!python/object/apply:os.system ['touch {marker}']\n")
    assert not marker.exists()


def test_unhashable_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^s line 1: invalid YAML: "):
        yamlio.loads("? [a, b]\n: 1\n", source="s")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError, match=r"nope.yaml: file not found$"):
        yamlio.load_file(path)


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="cannot read file"):
        yamlio.load_file(path)
