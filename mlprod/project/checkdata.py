"""``mlprod check``, the data part: the facts against the data file (its header and a sample of rows) and the
schema. The data file is the one a stage's ``source`` parameter names (the ingest stage), or the demo data."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DataError
from .facts import COLUMN_FACTS, SECTION, ProjectFacts

if TYPE_CHECKING:
    from .check import Findings, Stage

SAMPLE_ROWS = 2000
PARAMS_FILE = "params.yaml"


@dataclass(frozen=True)
class DataSample:
    source: str  # the project path of the data file, or "demo"
    columns: tuple[str, ...]
    frame: Any  # the first SAMPLE_ROWS rows (pandas DataFrame)
    complete: bool  # the sample holds every row of the file

    def dtypes(self, names: list[str]) -> list[tuple[str, str]]:
        return [(n, str(self.frame[n].dtype)) for n in names if n in self.frame.columns]


def check_data(root: Path, stages: list[Stage], facts: ProjectFacts, out: Findings) -> DataSample | None:
    """Check the facts against the data and the schema; returns the sample (None: no data to check)."""
    located = [(s, s.effective("source")) for s in stages]
    located = [(s, e) for s, e in located if e is not None and isinstance(e[0], str)]
    if not located:
        return None
    stage, (value, origin) = located[0]
    where = f"[{stage.section}] source" if origin != "notebook default" else f"{stage.notebook} source"
    try:
        sample = read_sample(root, value)
    except DataError as exc:
        out.add("error", PARAMS_FILE, where, str(exc), "point source at your CSV or Parquet file (relative to the "
                "project root), or 'demo'")
        return None
    _check_columns(stages, facts, sample, out)
    _check_label(stage, facts, sample, out)
    _check_kinds(stage, facts, sample, out)
    _check_schema(root, stages, facts, sample, out)
    return sample


def read_sample(root: Path, source: str) -> DataSample:
    if source == "demo":
        from ..data.demo import make_leads

        frame = make_leads(n_rows=SAMPLE_ROWS, seed=0)
        return DataSample("demo", tuple(map(str, frame.columns)), frame, complete=False)
    from .headers import column_names

    path = root / source
    if not path.is_file():
        raise DataError(f"{source} not found" + (" (it is a folder)" if path.is_dir() else ""))
    names = column_names(path)
    if path.suffix.lower() == ".csv":
        import pandas as pd

        try:
            frame = pd.read_csv(path, nrows=SAMPLE_ROWS, index_col=False)
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DataError(f"{source}: cannot be read as CSV: {str(exc).splitlines()[0]}") from exc
        return DataSample(source, tuple(map(str, frame.columns)), frame, complete=len(frame) < SAMPLE_ROWS)
    import pyarrow.parquet as pq

    try:
        handle = pq.ParquetFile(path)
        batch = next(handle.iter_batches(batch_size=SAMPLE_ROWS), None)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a damaged file
        raise DataError(f"{source}: cannot be read as Parquet: {exc}") from exc
    frame = batch.to_pandas() if batch is not None else handle.schema_arrow.empty_table().to_pandas()
    return DataSample(source, tuple(names), frame, complete=handle.metadata.num_rows <= SAMPLE_ROWS)


def _where(stage: Stage, key: str) -> tuple[Any, str, str] | None:
    """(value, params location, fix prefix) of fact ``key`` as ``stage`` gets it."""
    found = stage.effective(key)
    if found is None:
        return None
    value, origin = found
    if origin == "notebook default":
        return value, f"{stage.notebook} parameter {key}", f"set {SECTION}.{key} in {PARAMS_FILE}"
    return value, f"{origin} {key}", f"set {origin} {key}"


def _check_columns(stages: list[Stage], facts: ProjectFacts, sample: DataSample, out: Findings) -> None:
    columns = list(sample.columns)
    places: list[tuple[Any, str, str]] = []
    given = facts.as_params()
    places += [(given[k], f"[{SECTION}] {k}", f"set [{SECTION}] {k}") for k in COLUMN_FACTS if k in given]
    for stage in stages:
        places += [found for k in COLUMN_FACTS if (found := _where(stage, k)) is not None]
    for value, where, fix in places:
        names = value if isinstance(value, list) else [value]
        for name in names:
            if not isinstance(name, str) or name in columns:
                continue
            close = difflib.get_close_matches(name, columns, n=1)
            out.add("error", _file(where), where, f"{name!r} is not a column of {sample.source}" + (f" (did you mean {close[0]!r}?)"
                                                                            if close else ""),
                    f"{fix} to a column of the data: {_listing(columns)}")


def _fact(stage: Stage, facts: ProjectFacts, key: str) -> tuple[Any, str] | None:
    if key in facts.given:
        return getattr(facts, key), f"[{SECTION}] {key}"
    found = _where(stage, key)
    return (found[0], found[1]) if found else None


def _check_label(stage: Stage, facts: ProjectFacts, sample: DataSample, out: Findings) -> None:
    target = _fact(stage, facts, "target")
    if target is None or target[0] not in sample.frame.columns:
        return
    column, where = target
    values = sample.frame[column].dropna().unique().tolist()
    values = [v.item() if hasattr(v, "item") else v for v in values]
    rows = "" if sample.complete else f" in the first {len(sample.frame):,} rows"
    shown = ", ".join(repr(v) for v in sorted(values, key=str)[:10])
    if len(values) > 2:
        out.add("error", _file(where), where, f"{column!r} holds {len(values)} distinct values{rows} ({shown}); the "
                "pipeline trains a binary classifier", "name a yes/no label column, or derive one first")
        return
    if len(values) < 2:
        out.add("error" if sample.complete else "warning", _file(where), where,
                f"{column!r} holds one class{rows} ({shown or 'no labels'}); a model needs both",
                "name the label column, or use data with both outcomes")
    positive = _fact(stage, facts, "positive_label")
    label, label_where = positive if positive is not None else (None, f"[{SECTION}] positive_label")
    if label is None:
        if not set(values) <= {0, 1, True, False}:
            out.add("error", _file(label_where), label_where, f"is not set, but {column!r} holds {shown}, not 0/1",
                    f"set {label_where.split()[0]} positive_label to the value that means positive, e.g. "
                    f"{sorted(values, key=str)[-1]!r}")
    elif not any(str(v) == str(label) or v == label for v in values):
        out.add("error", _file(label_where), label_where, f"{label!r} is not a value of {column!r}{rows} (values: {shown})",
                "use one of the values exactly as written (case matters)")


def _check_kinds(stage: Stage, facts: ProjectFacts, sample: DataSample, out: Findings) -> None:
    import pandas as pd

    frame = sample.frame
    date = _fact(stage, facts, "date_column")
    if date is not None and date[0] in frame.columns:
        from .columns import parse_dates

        present = frame[date[0]].dropna()
        parsed = parse_dates(present)
        bad = present[parsed.isna()]
        if len(present) and len(bad) > 0.05 * len(present):
            out.add("error", _file(date[1]), date[1], f"{date[0]!r} holds values that are not dates, e.g. "
                    f"{bad.iloc[0]!r} ({len(bad):,} of {len(present):,})",
                    "name the date column, or store dates as ISO text like 2024-07-01")
    numeric = _fact(stage, facts, "numeric_features")
    for name in (numeric[0] or []) if numeric else []:
        if name in frame.columns and not pd.api.types.is_numeric_dtype(frame[name].dtype):
            values = frame[name].dropna()
            as_numbers = pd.to_numeric(values, errors="coerce")
            if len(values) and as_numbers.isna().any():
                out.add("error", _file(numeric[1]), numeric[1], f"{name!r} holds text, e.g. "
                        f"{values[as_numbers.isna()].iloc[0]!r}", "move it to categorical_features, or clean the column")


def _check_schema(root: Path, stages: list[Stage], facts: ProjectFacts, sample: DataSample, out: Findings) -> None:
    from ..validation.spec import load_schema

    located = [(s, s.effective("schema_file")) for s in stages]
    located = [(s, e[0]) for s, e in located if e is not None and isinstance(e[0], str)]
    if not located:
        return
    stage, name = located[0]
    path = root / name
    if not path.is_file():
        out.add("error", PARAMS_FILE, f"[{stage.section}] schema_file", f"{name} not found",
                f"draft one: mlprod schema infer {sample.source} -o {name}")
        return
    try:
        schema = load_schema(path)
    except ConfigError as exc:
        out.add("error", name, "", str(exc).removeprefix(f"{path}: "), f"fix it; `mlprod schema check {name}`")
        return
    declared = [c.name for c in schema.columns]
    data = list(sample.columns)
    foreign = [c for c in declared if c not in data]
    if foreign and len(foreign) * 2 >= len(declared):
        out.add("error", name, "columns", f"describes other data: {len(foreign)} of its {len(declared)} columns are "
                f"not in {sample.source} ({_listing(foreign)})",
                f"draft one for this data: `mlprod init --force` (or `mlprod schema infer DATA -o {name} --force` on "
                "the prepared data)")
        return
    for column in foreign:
        out.add("error", name, f"columns.{column}", f"not a column of {sample.source}",
                "remove it, or rename it to the data's column")
    missing = [c for c in data if c not in declared]
    if missing and schema.table.extra_columns == "error":
        out.add("error", name, "columns", f"does not declare {_listing(missing)} of {sample.source} "
                "(table.extra_columns: error)", "add them (mlprod schema infer drafts entries)")
    target = _fact(stage, facts, "target")
    positive = _fact(stage, facts, "positive_label")
    spec = schema.column(target[0]) if target else None
    if spec is not None and positive is not None and positive[0] is not None and spec.type == "str":
        out.add("error", name, f"columns.{target[0]}", f"type str, but ingest writes the label as 0/1 (positive_label "
                f"{positive[0]!r} -> 1)", "declare it as {type: int, categories: [0, 1]}")


def _file(where: str) -> str:
    """params.yaml for a section key ("[project] target"); nothing when ``where`` names a notebook itself."""
    return PARAMS_FILE if where.startswith("[") else ""


def _listing(names: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
