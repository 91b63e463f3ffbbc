"""The analysis' input: one row per unit (its first exposure) with its arm, outcome and optional KPI, score and
strata, from a plain table or from the prediction log joined with the label files.

Units are counted once: the first exposure (by time where the input has one, else file order) decides the row; a
unit exposed in two arms is reported and left out of every figure (its outcome cannot be given to either arm).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import ExperimentError


@dataclass
class Exposures:
    frame: pd.DataFrame  # unit, arm, outcome (0/1 or NaN), kpi?, score?, model_version?, strata...
    source: str
    experiment: str | None
    strata: list[str]
    has_kpi: bool
    has_score: bool
    rows_read: int
    repeat_exposures: int  # later rows of a unit already seen in the same arm (dropped)
    units_in_two_arms: int  # left out
    examples_in_two_arms: list[str] = field(default_factory=list)
    rows_without_unit: int = 0
    data_until: str | None = None  # the newest exposure's date, when the rows carry a time (the report's date)

    def to_dict(self) -> dict:
        out = {"source": self.source, "rows_read": self.rows_read, "units": int(len(self.frame)),
               "repeat_exposures_dropped": self.repeat_exposures, "units_in_two_arms_excluded": self.units_in_two_arms,
               "examples_in_two_arms": self.examples_in_two_arms, "rows_without_unit": self.rows_without_unit}
        if self.data_until:
            out["data_until"] = self.data_until
        return out


def from_table(path: str | Path, *, unit: str = "unit_id", arm: str = "arm", outcome: str = "outcome",
               kpi: str | None = None, strata: Sequence[str] = (), score: str | None = "score",
               time: str | None = "logged_at", experiment: str | None = None,
               experiment_column: str = "experiment", positive_label=None) -> Exposures:
    """A CSV/Parquet table with a row per exposure. ``score`` and ``time`` are used when the table has them."""
    from ...data.io import read_table

    table = read_table(path)
    source = str(path)
    _require(table, [unit, arm, outcome, *([kpi] if kpi else []), *strata], source)
    experiment = _pick_experiment(table, experiment_column, experiment, source)
    if experiment is not None:
        table = table[table[experiment_column].astype(str) == experiment]
    if time and time in table.columns:
        table = table.assign(**{time: pd.to_datetime(table[time], utc=True, errors="coerce")})
        table = table.sort_values(time, kind="mergesort")
    frame = pd.DataFrame({"unit": table[unit], "arm": table[arm], "outcome": _binary(table[outcome], outcome,
                                                                                    positive_label, source)})
    if kpi:
        frame["kpi"] = _numeric(table[kpi], kpi, source)
    if score and score in table.columns:
        frame["score"] = _numeric(table[score], score, source)
    for name in strata:
        frame[f"stratum:{name}"] = table[name].astype("string").fillna("(missing)").to_numpy()
    result = _first_exposures(frame, source=source, experiment=experiment, strata=list(strata), has_kpi=bool(kpi))
    if time and time in table.columns:
        result.data_until = _newest_date(table[time])
    return result


def from_log(log_dir: str | Path, labels_dir: str | Path, *, key: str, target: str, positive_label=None,
             kpi: str | None = None, strata: Sequence[str] = (), experiment: str | None = None) -> Exposures:
    """The prediction log's rows of ``experiment`` (unit_id, arm, score, model_version) joined with the label
    files (``key``, ``target``, optional ``kpi`` and ``strata`` columns; a later file by name wins)."""
    from ...serving.predictionlog import read_log

    log = read_log(log_dir)
    source = f"prediction log {log_dir} with labels in {labels_dir}"
    if len(log) == 0:
        raise ExperimentError(f"the prediction log {log_dir} has no rows; expected the served rows of an experiment "
                              "(check prediction_log.dir in params.yaml, or analyze a table with --table)")
    log = log[log["arm"].notna()]
    experiment = _pick_experiment(log, "experiment", experiment, f"prediction log {log_dir}")
    if experiment is not None:
        log = log[log["experiment"] == experiment]
    without_unit = int(log["unit_id"].isna().sum())
    log = log[log["unit_id"].notna()]
    labels = label_table(Path(labels_dir), key=key, target=target, positive_label=positive_label, kpi=kpi,
                     strata=strata)
    joined = pd.DataFrame({"unit": log["unit_id"].astype(str).to_numpy()}).merge(labels, on="unit", how="left")
    frame = pd.DataFrame({"unit": joined["unit"], "arm": log["arm"].astype(str).to_numpy(),
                          "outcome": joined["outcome"].to_numpy(dtype=float),
                          "score": log["score"].to_numpy(dtype=float),
                          "model_version": log["model_version"].astype(str).to_numpy()})
    if kpi:
        frame["kpi"] = joined["kpi"].to_numpy(dtype=float)
    for name in strata:
        frame[f"stratum:{name}"] = joined[f"stratum:{name}"].astype("string").fillna("(missing)").to_numpy()
    result = _first_exposures(frame, source=source, experiment=experiment, strata=list(strata), has_kpi=bool(kpi))
    result.rows_without_unit += without_unit
    result.data_until = _newest_date(log["logged_at"]) if "logged_at" in log else None
    return result


def _newest_date(times: pd.Series) -> str | None:
    newest = pd.to_datetime(times, utc=True, errors="coerce").max()
    return None if pd.isna(newest) else newest.date().isoformat()


def label_table(folder: Path, *, key: str, target: str, positive_label, kpi: str | None, strata: Sequence[str]):
    """Every label file in ``folder`` as one table keyed by ``key``: the binary target, and the ``kpi`` and ``strata``
    columns when asked for (the experiment analysis and the canary guardrails read labels this way)."""
    from ...data.io import read_table
    from ...data.labels import binary_target

    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".csv", ".parquet")) \
        if folder.is_dir() else []
    if not files:
        raise ExperimentError(f"no label files (CSV or Parquet) in {folder}; expected the files the monitoring "
                              f"history reads (columns {key!r} and {target!r}); check monitor.labels_dir")
    frames = []
    for path in files:
        table = read_table(path)
        _require(table, [key, target, *([kpi] if kpi else []), *strata], str(path))
        table, _ = binary_target(table, target, positive_label=positive_label, source=str(path), one_class_ok=True)
        part = pd.DataFrame({"unit": table[key].astype(str), "outcome": table[target].astype(float)})
        if kpi:
            part["kpi"] = _numeric(table[kpi], kpi, str(path)).to_numpy()
        for name in strata:
            part[f"stratum:{name}"] = table[name].astype("string").to_numpy()
        frames.append(part)
    return pd.concat(frames, ignore_index=True).drop_duplicates("unit", keep="last")


def _first_exposures(frame: pd.DataFrame, *, source: str, experiment, strata, has_kpi: bool) -> Exposures:
    rows = len(frame)
    frame = frame[frame["unit"].notna() & frame["arm"].notna()].copy()
    without_unit = rows - len(frame)
    frame["unit"], frame["arm"] = frame["unit"].astype(str), frame["arm"].astype(str)
    arms_per_unit = frame.groupby("unit", sort=False)["arm"].nunique()
    mixed = arms_per_unit.index[arms_per_unit.to_numpy() > 1]
    single = frame[~frame["unit"].isin(mixed)]
    kept = single.drop_duplicates("unit", keep="first").reset_index(drop=True)
    repeats = len(single) - len(kept)
    if len(kept) == 0:
        raise ExperimentError(f"{source}: no units to analyse ({rows:,} rows read, {len(mixed):,} units seen in two "
                              "arms); expected rows with a unit id and an arm")
    return Exposures(frame=kept, source=source, experiment=experiment, strata=list(strata), has_kpi=has_kpi,
                     has_score="score" in kept and bool(kept["score"].notna().any()), rows_read=rows,
                     repeat_exposures=int(repeats), units_in_two_arms=int(len(mixed)),
                     examples_in_two_arms=sorted(map(str, mixed))[:5], rows_without_unit=without_unit)


def _pick_experiment(table: pd.DataFrame, column: str, wanted: str | None, source: str) -> str | None:
    if column not in table.columns:
        if wanted is not None:
            raise ExperimentError(f"{source}: --experiment {wanted!r} given, but there is no {column!r} column")
        return None
    names = sorted(table[column].dropna().astype(str).unique())
    if wanted is not None:
        if wanted not in names:
            raise ExperimentError(f"{source}: no rows of experiment {wanted!r}; experiments found: "
                                  f"{', '.join(names) or 'none'}")
        return wanted
    if len(names) > 1:
        raise ExperimentError(f"{source}: rows of {len(names)} experiments ({', '.join(names)}); choose one with "
                              "--experiment NAME")
    if not names:
        raise ExperimentError(f"{source}: no rows with an experiment and an arm; expected rows served in an "
                              "experiment (deployment: in params.yaml), or analyze a table with --table")
    return names[0]


def _require(table: pd.DataFrame, columns: Sequence[str], source: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ExperimentError(f"{source}: no column(s) {', '.join(map(repr, missing))}; columns: "
                              f"{', '.join(map(str, table.columns))}; name the right ones with the column options")


def _binary(values: pd.Series, name: str, positive_label, source: str) -> np.ndarray:
    from ...data.labels import binary_target

    present = values.notna()
    if not present.any():
        return np.full(len(values), np.nan)
    frame, _ = binary_target(pd.DataFrame({name: values[present]}), name, positive_label=positive_label,
                             source=source, one_class_ok=True)
    out = np.full(len(values), np.nan)
    out[present.to_numpy()] = frame[name].to_numpy(dtype=float)
    return out


def _numeric(values: pd.Series, name: str, source: str) -> pd.Series:
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna() & values.notna()
    if bad.any():
        raise ExperimentError(f"{source}: column {name!r} must be numeric; got {values[bad].iloc[0]!r} "
                              f"({int(bad.sum()):,} such rows)")
    return converted.astype(float)
