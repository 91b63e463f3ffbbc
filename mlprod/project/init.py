"""``mlprod init``: a project for the user's own data, drafted from one read of the data file.

Order of work: read the data and decide everything in memory (label, date column, key, features, split
cutoffs, schema, the params.yaml/dvc.yaml text); refuse to replace params.yaml, dvc.yaml or schema.yaml
unless ``force``; only then create the folder (``git init``, ``dvc init`` for a fresh one) and write the files,
each atomically. A user mistake (a missing column, a label that is not binary) changes nothing.

The stage sections come from the project's own params.yaml when it has one (its tuned settings are kept),
else from the packaged template, in both cases without the shared facts, which live in ``project:`` only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..atomic import write_bytes, write_text
from ..errors import ConfigError
from . import columns as cols
from . import template
from .draft import PLACEHOLDER, FactsDraft, demo_columns, edit_dvc, edit_params, stage_sections, yaml_engine
from .notebook_defaults import stage_defaults, with_defaults

GUARDED = ("params.yaml", "dvc.yaml", "schema.yaml")
RAW_DIR = "data/raw"


@dataclass(frozen=True)
class InitResult:
    root: Path
    written: tuple[str, ...]  # project paths written
    kept: tuple[str, ...]  # project paths left as they were
    decisions: tuple[str, ...]
    review: tuple[str, ...]


def init_project(root: str | Path, *, data: str | Path, target: str, positive: str | None = None,
                 date: str | None = None, key: str | None = None, name: str | None = None, force: bool = False,
                 fresh: bool = False) -> InitResult:
    """Draft a project in ``root`` for ``data`` (see the module docstring); ``fresh`` also runs git/dvc init."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root} is a file; give a folder for the project")
    existing = [f for f in GUARDED if (root / f).exists()]
    if existing and not force:
        raise ConfigError(f"{', '.join(existing)} already exist in {root.resolve()} and may hold reviewed changes; "
                          "nothing was written. Pass --force to replace them (stage settings in params.yaml are kept, "
                          "the shared facts, the card text and the schema are drafted anew)")
    data_path = Path(data)
    frame = _read(data_path)
    cols.require_columns(frame, {"--target": target, "--date": date, "--key": key}, str(data_path))
    label = cols.analyse_label(frame, target, positive)
    labelled = frame[frame[target].notna()].reset_index(drop=True)
    decisions, review = [], []
    share = label.positives / max(label.positives + label.negatives, 1)
    decisions.append(f"target {target!r}: positive = {label.values[1]!r} ({share:.1%} of labelled rows), negative = "
                     f"{label.values[0]!r}" + (f"; ingest maps {label.values[1]!r} to 1" if label.positive_label
                                               is not None else ""))
    if label.missing:
        review.append(f"{label.missing:,} rows have no label in {data_path.name}; ingest drops them (and counts them)")

    found_dates = [c for c in cols.date_columns(labelled) if c not in (target, key)]
    date = date or next(iter(sorted(found_dates, key=_date_preference)), None)
    prepared = labelled.copy()
    prepared[target] = cols.binary_target(frame, label).to_numpy()
    split = cols.Split(None, None)
    if date is not None:
        prepared[date] = cols.parse_dates(labelled[date])
        unparsed = int((prepared[date].isna() & labelled[date].notna()).sum())
        if unparsed > 0.05 * max(int(labelled[date].notna().sum()), 1):
            raise ConfigError(f"--date {date!r}: {unparsed:,} values are not dates (e.g. "
                              f"{labelled[date][prepared[date].isna() & labelled[date].notna()].iloc[0]!r}); "
                              "name a date column, or fix the file")
        missing_dates = int(prepared[date].isna().sum())
        if missing_dates:
            review.append(f"{missing_dates:,} labelled rows have no {date!r}; the split by time needs a date in every row")
        split = cols.choose_split(prepared[date], prepared[target])
        low, high = prepared[date].min(), prepared[date].max()
        decisions.append(f"date column {date!r}: {low.date()} .. {high.date()}"
                         + (" (found: the only date column)" if len(found_dates) == 1 and date in found_dates else ""))
    else:
        review.append("no date column found: the rows are split by position (fractions); pass --date COL if the "
                      "data has one")
    if split.holdout_start:
        decisions.append(f"split: train < {split.holdout_start} <= holdout < {split.current_start} <= current: "
                         f"{' / '.join(f'{r:,}' for r in split.rows)} rows, "
                         f"{' / '.join(f'{p:,}' for p in split.positives)} positives")
    elif date is not None:
        review.append(f"no cutoff dates give every split {cols.MIN_SPLIT_ROWS} rows with {cols.MIN_SPLIT_CLASS} of "
                      "each class: ingest splits by the fractions in params.yaml [ingest]; check the split sizes "
                      "in metrics/data.json")

    if key is None:
        candidates = [c for c in labelled.columns if c not in (target, date) and cols.identifier_like(labelled, c)]
        key = next(iter(sorted(candidates, key=lambda c: not cols._ID_NAME.search(str(c)))), None)
        if key is not None:
            decisions.append(f"key {key!r}: every value distinct (pass --key COL to choose another)")
    columns = cols.classify(labelled, skip={target, date, key} - {None}, dates=found_dates)
    categorical = [c.name for c in columns if c.kind == "categorical"]
    numeric = [c.name for c in columns if c.kind == "numeric"]
    left_out = tuple((c.name, c.reason) for c in columns if c.kind is None)
    if not categorical and not numeric:
        raise ConfigError(f"{data_path}: no column is usable as a feature ({'; '.join(f'{n}: {r}' for n, r in left_out)})")
    slices = cols.slice_candidates(labelled, columns)[:1]
    model_name = name or _slug(data_path.stem)
    decisions.append(f"features: {len(categorical)} categorical, {len(numeric)} numeric; slice column: "
                     + (repr(slices[0]) if slices else "none (no categorical feature with 2..12 values)"))
    decisions += [f"left out {n!r}: {r}" for n, r in left_out]
    decisions.append(f"model name {model_name!r}" + ("" if name else " (from the file name; --name NAME to choose)"))

    in_root = _inside(data_path, root)
    data_ref = in_root.as_posix() if in_root is not None else f"{RAW_DIR}/{data_path.name}"
    facts = FactsDraft(values={"model_name": model_name, "target": target, "positive_label": label.positive_label,
                               "date_column": date, "key": key, "categorical_features": categorical,
                               "numeric_features": numeric, "slice_columns": slices},
                       left_out=left_out, source=data_ref)
    base_params = _base(root, "params.yaml", review)
    stage_values = {"source": data_ref, "holdout_start": split.holdout_start, "current_start": split.current_start,
                    "exclude": [key] if key else [],
                    "description": f"Scores the probability that {target} is {label.values[1]!r}."}
    params = edit_params(base_params, facts, stage_values=stage_values, card=_card(model_name, data_ref, split),
                         columns=[str(c) for c in frame.columns])
    review += params.review
    _verify(params.text, facts)
    base_doc = yaml_engine().load(base_params) or {}
    old_slices = demo_columns(base_doc) - {str(c) for c in frame.columns}
    dvc_text = edit_dvc(_base(root, "dvc.yaml", review), data_stage=_data_stage(base_doc), data_file=data_ref,
                        old_slices=old_slices, slice_column=slices[0] if slices else None)
    schema_text = _schema_text(prepared, root, data_ref, target=target, date=date, key=key, label=label)

    # everything is decided: now write
    written, kept = [], []
    if fresh:
        _fresh(root)
    if in_root is None:
        copy = root / data_ref
        if copy.exists() and copy.read_bytes() != data_path.read_bytes() and not force:
            raise ConfigError(f"{copy} exists and differs from {data_path}; remove it or pass --force")
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_path, copy)
        written.append(data_ref)
        review.append(f"{data_ref} is a copy of {data_path}: track it with `dvc add {data_ref}` (large files) or git")
    for path, text in (("params.yaml", params.text), ("dvc.yaml", dvc_text), ("schema.yaml", schema_text)):
        write_text(root / path, text)
        written.append(path)
    stages = set(stage_sections(yaml_engine().load(params.text) or {}))
    plots = list(template.PLOTS) if (root / ".dvc").is_dir() else []  # offline `dvc plots show` (docs/plots.md)
    for path in [*template.notebooks(), ".gitignore", ".dvcignore", "pipelines/monitoring/dvc.yaml", *plots]:
        target_path, source = root / path, template.template_path(path)
        if target_path.exists():
            if path.endswith(".ipynb") and target_path.read_bytes() != source.read_bytes():
                review.append(f"{path} differs from mlprod's version and was kept; `mlprod check` tells whether its "
                              "parameters still match params.yaml")
            kept.append(path)
            continue
        target_path.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith(".ipynb"):  # the project's values as the notebook's defaults, not the demo's
            stage = Path(path).stem
            values = stage_defaults(source, stage, root / "params.yaml") if stage in stages else {}
            write_bytes(target_path, with_defaults(source.read_bytes(), values))
        else:
            shutil.copyfile(source, target_path)
        written.append(path)
    if plots and _use_plots_page(root):
        written.append(".dvc/config")
    if (root / ".dvc").is_dir() and (remote := _use_default_remote(root)):
        if ".dvc/config" not in written:
            written.append(".dvc/config")
        decisions.append(f"DVC remote {template.REMOTE_NAME!r} (the default of dvc push/pull): the folder {remote}; "
                         "share it, or add a team remote (docs/team.md)")
    review += [f"params.yaml [card]: replace every {PLACEHOLDER} text (the model card shows them)",
               "params.yaml [project]: check the feature lists (the columns left out are listed above them, with "
               "the reason)",
               "schema.yaml: drafted from the data; tighten the bounds (observed ranges in the comments), check "
               "the categories, add business rules"]
    return InitResult(root=root, written=tuple(written), kept=tuple(kept), decisions=tuple(decisions),
                      review=tuple(review))


def _read(path: Path):
    from ..data.io import read_table

    return read_table(path)


def _date_preference(name: str) -> tuple[bool, str]:
    lowered = str(name).lower()
    return (not any(word in lowered for word in ("date", "time", "created", "_at", " at")), "")


def _slug(stem: str) -> str:
    import re

    ascii_text = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "model"


def _inside(path: Path, root: Path) -> Path | None:
    try:
        return path.resolve().relative_to(root.resolve())
    except ValueError:
        return None


def _base(root: Path, name: str, review: list[str]) -> str:
    """The project's own file when it can be read as YAML, else the packaged template's."""
    own = root / name
    if own.is_file():
        text = own.read_text(encoding="utf-8")
        try:
            yaml_engine().load(text)
            return text
        except Exception as exc:  # noqa: BLE001 - any parse failure: start from the template
            review.append(f"{name}: the existing file could not be read ({str(exc).splitlines()[0]}); drafted "
                          "from mlprod's template instead")
    return template.template_path(name).read_text(encoding="utf-8")


def _data_stage(params: Any) -> str | None:
    """The stage whose section names the data source (``source:``)."""
    return next((k for k, v in params.items() if isinstance(v, dict) and "source" in v), None)


def _card(model_name: str, data_ref: str, split: cols.Split) -> dict[str, Any]:
    todo = PLACEHOLDER
    if split.holdout_start:
        training = f"{todo}: how the data was collected. Rows of {data_ref} dated before {split.holdout_start}."
        evaluation = (f"Rows of {data_ref} from {split.holdout_start} to {split.current_start}, held out by time.")
    else:
        training = f"{todo}: how the data was collected. The earliest rows of {data_ref}."
        evaluation = f"The rows of {data_ref} after the training rows, held out by time."
    return {
        "title": model_name,
        "purpose": f"{todo}: what the model is for, in one paragraph: who uses its scores, for which decision.",
        "intended_users": [f"{todo}: who reads or acts on the scores"],
        "intended_use": [f"{todo}: what the scores are used for"],
        "out_of_scope_use": [f"{todo}: uses the model is not meant for"],
        "factors": [f"{todo}: groups or conditions in which the model may work differently"],
        "training_data": training,
        "evaluation_data": evaluation,
        "ethical_considerations": [f"{todo}: who could be harmed by a wrong score, and how that is prevented"],
        "caveats": [f"{todo}: known limitations"],
        "owners": [f"{todo}: team <email>"],
        "contact": f"{todo}: email",
        "license": f"{todo}: license",
    }


def _verify(text: str, facts: FactsDraft) -> None:
    """The written params read back (with mlprod's own YAML reader) to exactly the drafted facts."""
    from .. import yamlio
    from .facts import read_facts

    read = read_facts(yamlio.loads(text, source="drafted params.yaml"), "drafted params.yaml").as_params()
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in facts.values.items()}
    if read != expected:
        raise ConfigError(f"mlprod init: the drafted params.yaml reads back differently ({read} != {expected}); "
                          "please report this")


def _schema_text(prepared, root: Path, data_ref: str, *, target: str, date: str | None, key: str | None,
                 label: cols.Label) -> str:
    """The data contract of the prepared splits (what ingest writes): inferred, with the target as 0/1, the
    date and key out of the statistical comparison, and the statistics and policy of the base schema."""
    from ..validation.infer import infer_with_notes
    from ..validation.schema_yaml import schema_to_yaml
    from ..validation.spec import ColumnSpec, load_schema

    schema, notes = infer_with_notes(prepared)
    changed = []
    for column in schema.columns:
        if column.name == target:
            column = ColumnSpec(name=target, type="int", categories=(0, 1))
            notes[target] = (f"the label: 1 = {label.values[1]!r}" if label.positive_label is not None
                             else "the label (0/1)")
        elif column.name in (date, key):
            column = replace(column, statistics=False)
        changed.append(column)
    schema = replace(schema, columns=tuple(changed), description=(
        f"{Path(data_ref).name}, one row per {key or 'record'}; {target} is the 0/1 label."))
    base = root / "schema.yaml"
    for candidate in (base, template.template_path("schema.yaml")):
        try:
            reviewed = load_schema(candidate)
        except Exception:  # noqa: BLE001 - an unreadable or missing schema: keep the defaults
            continue
        schema = replace(schema, statistics=reviewed.statistics, policy=reviewed.policy)
        break
    header = (f"Data contract of {data_ref} after ingest (labelled rows, {target} as 0/1), drafted by `mlprod init`\n"
              f"from {len(prepared):,} rows. REVIEW: tighten the bounds (observed values are in the comments), check\n"
              "the categories, add business rules. Check edits with `mlprod schema check schema.yaml`.")
    return schema_to_yaml(schema, header=header, notes=notes)


def _use_plots_page(root: Path) -> bool:
    """Name the offline page as ``plots.html_template`` in .dvc/config unless one is set; True when set here."""
    command = [sys.executable, "-m", "dvc", "config", "plots.html_template"]
    current = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if current.returncode == 0 and current.stdout.strip():
        return False
    done = subprocess.run([*command, template.HTML_TEMPLATE], cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"mlprod init: `dvc config plots.html_template {template.HTML_TEMPLATE}` failed in {root}: "
                          f"{(done.stderr or done.stdout).strip()}")
    return True


def _use_default_remote(root: Path) -> str | None:
    """Add the folder remote ``shared`` as DVC's default unless one is set; its URL when added here."""
    command = [sys.executable, "-m", "dvc", "remote", "default"]
    current = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if current.returncode == 0 and current.stdout.strip():
        return None
    url = template.remote_url(root)
    # DVC stores the path relative to .dvc/ (../../<folder>-dvc-remote): it names the same folder from any clone
    done = subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", template.REMOTE_NAME, url], cwd=root,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConfigError(f"mlprod init: `dvc remote add -d {template.REMOTE_NAME} {url}` failed in {root}: "
                          f"{(done.stderr or done.stdout).strip()}; set a default remote with `dvc remote default NAME` "
                          "and rerun")
    return url


def _fresh(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for command, marker in ((["git", "init", "-q"], ".git"), ([sys.executable, "-m", "dvc", "init", "-q"], ".dvc")):
        if (root / marker).exists():
            continue
        try:
            done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
        except OSError as exc:
            raise ConfigError(f"mlprod init: could not run {command[0]} ({exc}); install it, or create the "
                              "project in an existing git repository") from exc
        if done.returncode != 0:
            raise ConfigError(f"mlprod init: `{' '.join(command[-3:])}` failed in {root}: "
                              f"{(done.stderr or done.stdout).strip()}")
