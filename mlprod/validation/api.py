"""``validate``: run the schema, business-rule and statistical layers on one or more datasets."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any, Iterable, Mapping

from mlprod.errors import ConfigError, DataError

from .policy import apply_policy
from .results import MAX_EXAMPLES, DatasetResult, ValidationResult
from .rules import NotStreamable, RuleChecks, check_rules
from .schema_layer import SchemaChecks, check_schema
from .spec import PolicySpec, Schema, default_statistics, load_schema
from .statistical import Observed, check_statistics

DEFAULT_BATCH_ROWS = 250_000

logger = logging.getLogger(__name__)


def validate(
    data: Any,
    schema: Schema | str | Path,
    *,
    reference: Any = None,
    statistical: Iterable[str] | None = None,
    policy: PolicySpec | None = None,
    name: str | None = None,
    reference_label: str | None = None,
    max_examples: int = MAX_EXAMPLES,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    dask: Any = None,
) -> ValidationResult:
    """Validate ``data`` against ``schema`` and return every check's result with the policy's decision.

    data: a DataFrame, a CSV/Parquet path, or a mapping of dataset names to either.
    schema: a :class:`Schema` or the path of a schema file.
    reference: the reference for the statistical checks: a :class:`mlprod.profile.Profile`, a profile
    JSON file, a CSV/Parquet file or a DataFrame (profiled on the fly); ``None`` skips that layer.
    statistical: the dataset names that get the statistical checks (default: all of them).
    policy: overrides the schema file's ``policy`` section.
    reference_label: how reports name the reference (default: its file name, or "profile").
    batch_rows: a Parquet file with more rows is validated in batches of this many rows, in bounded
    memory, with the same results as reading it whole (see :func:`_streamed`).
    A path may also be a partitioned Parquet dataset (a folder or a glob), validated as one table.
    dask: a Dask scheduler address or client: each Parquet dataset's partitions are validated on its workers
    and the results tree-reduced (:mod:`mlprod.scale.validate`), with the same findings as without.

    Bad input raises (:class:`~mlprod.errors.DataError`, :class:`~mlprod.errors.ConfigError`); failed
    checks do not: call ``result.raise_for_status()`` to turn a failed gate into an exception.
    """
    if not isinstance(schema, Schema):
        schema = load_schema(schema)
    datasets = _datasets(data, name)
    profile, label = _reference(reference, schema, batch_rows, dask)
    reference_label = reference_label or label
    wanted = set(datasets) if statistical is None else set(statistical)
    unknown = sorted(wanted - set(datasets))
    if unknown:
        raise ConfigError(f"statistical={sorted(wanted)} names dataset(s) {unknown} that are not validated; "
                          f"datasets: {list(datasets)}")
    statistics = schema.statistics if schema.statistics is not None else default_statistics()
    results = []
    for dataset, (frame, source) in datasets.items():
        compared = profile is not None and dataset in wanted
        reference_profile = profile if compared else None
        if source is not None and dask is not None:
            from mlprod.scale.validate import validate_partitions

            streamed = validate_partitions(source, schema, reference_profile, statistics, max_examples, batch_rows,
                                           dask)
        else:
            streamed = None if source is None else _streamed(source, schema, reference_profile, statistics,
                                                              max_examples, batch_rows)
        if streamed is not None:
            found, n_rows, n_columns = streamed
        else:
            if source is not None:
                frame = read_data(source, schema)
            logger.debug("validating %s (%d rows)", dataset, len(frame))
            found, unusable = check_schema(frame, schema, max_examples=max_examples)
            found += check_rules(frame, schema, unusable=unusable, max_examples=max_examples)
            if compared:
                found += check_statistics(frame, schema, profile, statistics, unusable=unusable)
            n_rows, n_columns = len(frame), len(frame.columns)
        results.append(DatasetResult(name=dataset, n_rows=n_rows, n_columns=n_columns,
                                     results=tuple(found), source=source,
                                     reference=reference_label if compared else None))
    result = apply_policy(results, policy or schema.policy)
    if schema.source != "<schema>":
        result = dataclasses.replace(result, schema=schema.source)
    if profile is None:
        return result
    used = {s.name: {"warning": s.warning, "error": s.error} for s in statistics}
    return dataclasses.replace(result, statistics=used)


def _streamed(path: str | Path, schema: Schema, profile, statistics, max_examples: int, batch_rows: int):
    """(results, rows, columns) of a Parquet file validated batch by batch, or ``None`` to read it whole.

    Memory holds one batch, the first ``max_examples`` failing rows per check, the sums behind the
    statistical checks, and 1/64 of the keys of each unique check (the keys go to temporary files, see
    :mod:`mlprod.validation.keys`). Whole instead: CSV files (their types come from all rows), files of
    at most ``batch_rows`` rows, and whatever a batch cannot decide for the whole table (a stored
    index, dictionary columns, a column whose values have the declared type in some batches only, a
    rule that cannot be evaluated); the results are the same either way.
    """
    batches = _batches(path, batch_rows=batch_rows)
    if batches is None:
        return None
    if batches.rows <= batch_rows or not batches.exact:
        if not batches.exact:
            logger.info("validating %s in one piece: %s", path, batches.reason)
        return None
    checks = SchemaChecks(schema, max_examples=max_examples)
    try:
        rules, observed, n_columns = check_batches(batches, checks, schema, profile, max_examples)
        found = checks.results(fetch=lambda positions, columns: _rows_at(path, positions, columns, batch_rows))
    except NotStreamable as exc:
        logger.info("validating %s in one piece: %s", path, exc)
        return None
    finally:
        checks.close()
    found += rules.results()
    if observed is not None:
        found += observed.check(statistics)
    return found, checks.plan.n_rows, n_columns


def check_batches(batches, checks: SchemaChecks, schema: Schema, profile, max_examples: int):
    """Feed ``batches`` (DataFrames) to the schema ``checks`` and to the rule and statistical layers built after
    the first batch (they need the columns the schema layer found unusable). Returns ``(rules, observed or None,
    number of columns)``; rules is None when there was no batch. Raises NotStreamable as the layers do."""
    rules = observed = None
    n_columns = 0
    for frame in batches:
        checks.add(frame)
        if rules is None:
            unusable = checks.unusable
            rules = RuleChecks(schema, unusable=unusable, max_examples=max_examples)
            observed = Observed(schema, profile, unusable) if profile is not None else None
            n_columns = len(frame.columns)
        rules.add(frame)
        if observed is not None:
            observed.add(frame)
    return rules, observed, n_columns


def _batches(path, *, columns=None, batch_rows: int):
    """The batches of a Parquet file or a partitioned dataset (folder, glob); ``None`` for other files."""
    from mlprod.data.io import check_table
    from mlprod.data.partitions import dataset_batches, is_dataset
    from mlprod.data.stream import parquet_batches

    if is_dataset(path):
        return dataset_batches(path, columns=columns, batch_rows=batch_rows)
    if Path(path).suffix.lower() not in (".parquet", ".pq"):
        return None
    check_table(path)
    return parquet_batches(path, columns=columns, batch_rows=batch_rows)


def _rows_at(path, positions: list[int], columns: list[str], batch_rows: int):
    """The rows at ``positions`` (0-based, sorted) of a Parquet file or dataset, read batch by batch."""
    import pandas as pd

    parts, start = [], 0
    for frame in _batches(path, columns=columns, batch_rows=batch_rows):
        inside = [p - start for p in positions if start <= p < start + len(frame)]
        if inside:
            parts.append(frame.iloc[inside])
        start += len(frame)
        if start > positions[-1]:
            break
    return pd.concat(parts)


def read_data(path: str | Path, schema: Schema | None = None, *, columns: list[str] | None = None):
    """Read a CSV/Parquet file for validation (only ``columns``, if given). CSV has no types, so text columns
    the schema declares as numbers, booleans or dates are parsed when every value parses (otherwise the
    dtype check reports the values that do not), and whole-number float columns declared int become
    nullable ints."""
    from mlprod.data.io import read_table
    from mlprod.data.partitions import is_dataset, read_dataset

    if is_dataset(path):
        return read_dataset(path, columns=columns)
    frame = read_table(path, columns=columns)
    if schema is not None and Path(path).suffix.lower() == ".csv":
        frame = _parse_text_columns(frame, schema)
    return frame


def _parse_text_columns(frame, schema: Schema):
    import pandas as pd

    for column in schema.columns:
        if column.name not in frame.columns or column.type == "str":
            continue
        series = frame[column.name]
        parsed = series
        if pd.api.types.is_string_dtype(series.dtype) or pd.api.types.is_object_dtype(series.dtype):
            if column.type in ("int", "float"):
                parsed = pd.to_numeric(series, errors="coerce")
            elif column.type == "datetime":
                parsed = pd.to_datetime(series, errors="coerce", format="mixed")
            else:
                words = {"true": True, "false": False, "1": True, "0": False}
                parsed = series.astype("str").str.strip().str.lower().map(words).astype("boolean")
            if (parsed.isna() & series.notna()).any():
                continue  # some values do not parse: keep the text, the dtype check reports those values
        if column.type == "int" and pd.api.types.is_float_dtype(parsed.dtype):
            whole = parsed.dropna()
            if (whole == whole.round()).all() and whole.abs().max(skipna=True) < 2**53:
                parsed = parsed.astype("Int64")  # read_csv turns an int column with gaps into floats
        frame[column.name] = parsed
    return frame


def _datasets(data: Any, name: str | None) -> dict[str, tuple[Any, str | None]]:
    import pandas as pd

    if isinstance(data, Mapping):
        if not data:
            raise ConfigError("validate: no datasets given; pass a DataFrame, a file path or a {name: data} mapping")
        items = list(data.items())
    else:
        label = name or (Path(data).stem if isinstance(data, (str, Path)) else "data")
        items = [(label, data)]
    out: dict[str, tuple[Any, str | None]] = {}
    for label, item in items:
        if isinstance(item, pd.DataFrame):
            out[str(label)] = (item, None)
        elif isinstance(item, (str, Path)):
            out[str(label)] = (item, str(item))
        else:
            raise DataError(f"validate: dataset {label!r} is a {type(item).__name__}; expected a pandas DataFrame "
                            "or the path of a CSV/Parquet file")
    return out


def _reference(reference: Any, schema: Schema, batch_rows: int = DEFAULT_BATCH_ROWS, dask: Any = None):
    """(profile, label) for ``reference``: a Profile, a profile JSON file, a data file or a DataFrame."""
    if reference is None:
        return None, None
    import pandas as pd

    from mlprod.profile import Profile, build_profile, read_profile

    if isinstance(reference, Profile):
        return reference, "profile"
    if isinstance(reference, pd.DataFrame):
        return build_profile(reference), "data frame"
    if isinstance(reference, (str, Path)):
        path = Path(reference)
        if path.suffix.lower() == ".json":
            return read_profile(path), str(path)
        from mlprod.data.partitions import dataset_batches, is_dataset

        if is_dataset(path) and (dask is not None or dataset_batches(path).exact):
            from mlprod.profile import profile_file

            return profile_file(path, batch_rows=batch_rows, dask=dask), str(path)
        if path.suffix.lower() in (".parquet", ".pq") and dask is not None:
            from mlprod.profile import profile_file

            return profile_file(path, batch_rows=batch_rows, dask=dask), str(path)
        if path.suffix.lower() in (".parquet", ".pq"):
            from mlprod.data.io import check_table
            from mlprod.data.stream import parquet_batches
            from mlprod.profile import profile_file

            check_table(path)
            if parquet_batches(path).exact:  # in batches, bounded memory; the same profile as read whole
                return profile_file(path, batch_rows=batch_rows), str(path)
        return build_profile(read_data(path, schema)), str(path)
    raise DataError(f"validate: reference is a {type(reference).__name__}; expected a Profile, a profile .json "
                    "file, a CSV/Parquet file or a DataFrame")
