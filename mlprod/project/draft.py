"""The text of the files ``mlprod init`` writes: params.yaml and dvc.yaml edited from a base (the project's own
file or the packaged template) with ruamel.yaml, so their comments and layout survive, and schema.yaml drafted
from the data.

Strings are quoted whenever PyYAML (what mlprod reads params with) would read them as something else than the
same text (``yes``, ``2024-01-01``, ``null``, ...), so column names and labels arrive as written.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

import yaml

from .facts import ALLOWED, COLUMN_FACTS, SECTION

PLACEHOLDER = "TODO(mlprod init)"
CARD = "card"
_COMMENTS = {
    "model_name": "the model's name in manifests and the registry",
    "target": "the label column",
    "positive_label": "the label value that means positive (ingest maps it to 1, every other label to 0)",
    "date_column": "orders rows in time: splits, drift windows",
    "key": "identifies a row; never a model input",
    "slice_columns": "segments reported separately (evaluation, model card)",
}


@dataclass(frozen=True)
class FactsDraft:
    """The values of the ``project:`` section and the columns left out of the features, with the reasons."""

    values: dict[str, Any]
    left_out: tuple[tuple[str, str], ...] = ()
    source: str = ""


@dataclass
class Edited:
    """An edited YAML text and what the edit noticed for the reviewer."""

    text: str
    review: list[str] = field(default_factory=list)


def yaml_engine() -> Any:
    from ruamel.yaml import YAML

    engine = YAML()
    engine.width = 4096
    engine.indent(mapping=2, sequence=4, offset=2)
    engine.preserve_quotes = True
    engine.representer.add_representer(
        type(None), lambda representer, _: representer.represent_scalar("tag:yaml.org,2002:null", "null"))
    return engine


def quoted(value: Any) -> Any:
    """``value`` as ruamel should write it: double-quoted when plain text would read back differently."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if not isinstance(value, str):
        return value
    try:
        plain = yaml.safe_load(value) == value and "\n" not in value
    except yaml.YAMLError:
        plain = False
    return value if plain else DoubleQuotedScalarString(value)


def dump(engine: Any, doc: Any) -> str:
    buffer = io.StringIO()
    engine.dump(doc, buffer)
    return _blank_line_between_sections(buffer.getvalue())


def stage_sections(doc: Any) -> list[str]:
    return [k for k, v in doc.items() if isinstance(v, dict) and k not in (SECTION, CARD)]


def demo_columns(doc: Any) -> set[str]:
    """Column names the base params name as facts (its project section, or stage keys of the older layout)."""
    names: set[str] = set()
    for section_name, section in doc.items():
        if not isinstance(section, dict) or section_name == CARD:
            continue
        for key, value in section.items():
            if key in COLUMN_FACTS or key == "slice_column":
                names.update(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
    return names


def edit_params(base_text: str, facts: FactsDraft, *, stage_values: dict[str, Any], card: dict[str, Any],
                columns: Iterable[str]) -> Edited:
    """``base_text`` with the drafted ``project:`` section, the shared facts removed from the stage sections,
    ``stage_values`` set where a stage section has that key, and ``card:`` replaced by ``card``."""
    from ruamel.yaml.comments import CommentedMap

    engine = yaml_engine()
    doc = engine.load(base_text) or CommentedMap()
    demo = demo_columns(doc) - set(columns)
    review: list[str] = []
    for name in stage_sections(doc):
        section = doc[name]
        for key in [k for k in section if k in ALLOWED]:
            del section[key]
        for key, value in stage_values.items():
            if key in section:
                section[key] = _quoted_tree(value, flow=True)
        for key, value in section.items():
            stale = sorted(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str) and v in demo)
            if stale:
                review.append(f"params.yaml [{name}] {key}: {', '.join(map(repr, stale))} is a column of the demo "
                              "data, not of yours; set it for your data")
    _put(doc, SECTION, _facts_map(facts), before=_first_stage(doc), comment=(
        f"The dataset's facts, drafted by `mlprod init` from {facts.source}: every stage gets the ones its notebook\n"
        "declares (a stage's own section and `mlprod run -p` override them; `mlprod check` warns about that)."))
    _put(doc, CARD, _card_map(card), before=None, comment=(
        f"What only people know about the model, shown in its model card: replace every {PLACEHOLDER} text."))
    return Edited(dump(engine, doc), review)


def edit_dvc(base_text: str, *, data_stage: str | None, data_file: str | None, old_slices: set[str],
             slice_column: str | None) -> str:
    """``base_text`` with ``data_file`` a dependency of ``data_stage`` and plots of the demo's slice columns
    switched to ``slice_column`` (dropped when there is none)."""
    from ruamel.yaml.comments import CommentedMap

    engine = yaml_engine()
    doc = engine.load(base_text)
    stages = doc.get("stages") or {}
    if data_stage in stages and data_file:
        deps = stages[data_stage].setdefault("deps", [])
        if data_file not in deps:
            deps.insert(1 if deps else 0, quoted(data_file))
    plots = doc.get("plots") or []
    for index in reversed(range(len(plots))):
        entry = plots[index]
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        title, spec = next(iter(entry.items()))
        fields = (spec or {}).get("y") if isinstance(spec, dict) else None
        if not isinstance(fields, dict) or not any(v in old_slices for v in fields.values()):
            continue
        if slice_column is None:
            del plots[index]
            continue
        for file, value in list(fields.items()):
            if value in old_slices:
                fields[file] = quoted(slice_column)
        new_title = title
        for old in old_slices:
            new_title = re.sub(rf"\b{re.escape(old)}\b", slice_column, new_title)
        if new_title != title:
            plots[index] = CommentedMap([(quoted(new_title), spec)])
    return dump(engine, doc)


def _facts_map(facts: FactsDraft) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    section = CommentedMap()
    width = max(len(f"  {k}: {_flow(v)}") for k, v in facts.values.items() if not isinstance(v, (list, tuple)))
    for key in ALLOWED:
        if key not in facts.values:
            continue
        value = facts.values[key]
        section[key] = CommentedSeq(quoted(v) for v in value) if isinstance(value, (list, tuple)) else quoted(value)
        if key in _COMMENTS:
            section.yaml_add_eol_comment(_COMMENTS[key], key, column=width + 2)
    if facts.left_out and "categorical_features" in section:
        lines = ["left out of the features (move a column into a list below to use it):"]
        lines += [f"  {_flow(name)}: {reason}" for name, reason in facts.left_out]
        section.yaml_set_comment_before_after_key("categorical_features", before="\n".join(lines), indent=2)
    return section


def _card_map(card: dict[str, Any]) -> Any:
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap((k, _quoted_tree(v)) for k, v in card.items())


def _quoted_tree(value: Any, flow: bool = False) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    if isinstance(value, (list, tuple)):
        seq = CommentedSeq(quoted(v) for v in value)
        if flow:
            seq.fa.set_flow_style()
        return seq
    return quoted(value)


def _put(doc: Any, key: str, value: Any, *, before: str | None, comment: str) -> None:
    if key in doc:
        doc[key] = value
    else:
        keys = list(doc)
        doc.insert(keys.index(before) if before in keys else len(keys), key, value)
    doc.yaml_set_comment_before_after_key(key, before=comment, indent=0)


def _first_stage(doc: Any) -> str | None:
    names = stage_sections(doc)
    return next((n for n in names if n != "model_files"), None)


def _flow(value: str) -> str:
    return yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=2**30).strip().removesuffix(
        "\n...").removesuffix("...").strip()


def _blank_line_between_sections(text: str) -> str:
    """One blank line before each top-level key (and its comment block) that follows other content."""
    lines = text.split("\n")
    out: list[str] = []
    for index, line in enumerate(lines):
        starts_block = line[:1] not in ("", " ", "#", "-") or (
            line.startswith("#") and index + 1 < len(lines) and _top_level_after_comments(lines, index))
        if starts_block and out and out[-1].strip() and not out[-1].startswith("#"):
            out.append("")
        out.append(line)
    return "\n".join(out)


def _top_level_after_comments(lines: list[str], index: int) -> bool:
    for line in lines[index:]:
        if not line.startswith("#"):
            return bool(line) and line[:1] not in (" ", "-")
    return False
