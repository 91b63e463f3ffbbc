"""``mlprod drift REFERENCE CURRENT``: drift report of a current batch against a reference."""

from __future__ import annotations

import argparse
import sys
import time

PATH_KEYS = ("reference_profile", "current_path", "baseline_path", "model_dir", "output_dir", "metrics_file",
             "features_csv", "windows_csv", "fail_on_retrain", "batch_rows")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "drift", help="compare a current batch with a reference: drift report and retrain decision",
        description="Compare CURRENT (CSV/Parquet, streamed in batches) with REFERENCE (a saved profile .json or "
                    "a data file). Writes drift.json, drift_features.csv, drift_windows.csv, drift.html and "
                    "drift.prom to --output-dir. Exit codes: 0 done, 1 retraining is due (with --fail-on-retrain), "
                    "2 bad input.")
    p.add_argument("reference", help="reference profile (.json, e.g. models/model/reference_profile.json) or data file")
    p.add_argument("current", help="current data file (.csv, .parquet) or partitioned Parquet folder/glob")
    p.add_argument("--model", help="model folder (or .skops file) to score rows that have no prediction column")
    p.add_argument("--baseline", help="labelled data from before the current period (e.g. the holdout): the "
                                      "reference for scores, concept drift and performance")
    p.add_argument("--params-file", help="read settings from this YAML file's drift_report section (see --section)")
    p.add_argument("--section", default="drift_report", help="section of --params-file (default: drift_report)")
    p.add_argument("--target", help="label column (0/1)")
    p.add_argument("--prediction", help="score column (default: prediction)")
    p.add_argument("--date-column", help="column that orders the rows in time")
    p.add_argument("--exclude", nargs="+", default=None, metavar="COLUMN", help="columns not to compare")
    p.add_argument("--test", help="stat test for every column instead of the defaults (e.g. psi, ks)")
    p.add_argument("-o", "--output-dir", default="drift_report",
                   help="folder to write the outputs to (default: drift_report; a symlinked folder is refused)")
    p.add_argument("--batch-rows", type=int, default=250_000, help="rows per batch when streaming files")
    p.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address (e.g. tcp://127.0.0.1:8786): partitions are processed on its workers (docs/dask.md); default: --params-file's dask.address")
    p.add_argument("--fail-on-retrain", action="store_true", help="exit with code 1 when retraining is due")
    p.add_argument("--no-progress", action="store_true", help="do not show progress on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..drift import DriftSettings, detect_drift
    from ..drift.outputs import DEFAULT_NAMES
    from ..errors import RetrainRequired
    from ..outpaths import check_dir

    check_dir(args.output_dir, what="--output-dir", files=DEFAULT_NAMES.values())  # before the data is read
    from ..project.scheduler import dask_address

    values, row_key, dask = {}, None, dask_address({}, given=args.dask)
    if args.params_file:
        values, dask = _section(args.params_file, args.section, args.dask)
        row_key = values.pop("key", None)
    for key, value in (("target", args.target), ("prediction", args.prediction), ("date_column", args.date_column),
                       ("exclude", args.exclude), ("stat_test", args.test)):
        if value is not None:
            values[key] = value
    if row_key is not None and row_key not in values.get("exclude", []):  # a row's key is never compared
        values["exclude"] = [*values.get("exclude", []), row_key]
    settings = DriftSettings.from_mapping(values, where=f"{args.params_file} [{args.section}]" if args.params_file
                                          else "drift settings", ignore=PATH_KEYS)
    model = _model(args.model) if args.model else None
    progress = None if args.no_progress else _Progress()
    report = detect_drift(args.reference, args.current, settings=settings, model=model, baseline=args.baseline,
                          progress=progress, batch_rows=args.batch_rows, dask=dask)
    if progress:
        progress.done()
    written = report.write(args.output_dir)
    decision = report.retrain
    print(f"drift: {len(report.features.drifted)} of {len(report.features.columns)} features drifted"
          + (f" ({', '.join(report.features.drifted)})" if report.features.drifted else ""))
    if report.findings:
        counts = {}
        for finding in report.findings:
            counts[finding.kind] = counts.get(finding.kind, 0) + 1
        print("findings: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    print(f"retrain: {'yes' if decision.required else 'no'}")
    for reason in decision.reasons:
        print(f"  - {reason.trigger}: {reason.message}")
    print(f"report: {written['html_file']}  metrics: {written['metrics_file']}")
    if decision.required and args.fail_on_retrain:
        raise RetrainRequired(f"retraining is due ({len(decision.reasons)} reason(s)); see {written['html_file']}")
    return 0


def _section(path: str, section: str, given: str | None = None) -> tuple[dict, str | None]:
    """The section with the project's shared facts below it, as the drift_report stage sees them (``key``
    included: the caller adds it to ``exclude``)."""
    from ..errors import ConfigError
    from ..stages.params import shared_facts
    from ..yamlio import load_file

    data = load_file(path)
    if not isinstance(data, dict) or section not in data:
        raise ConfigError(f"{path}: no section {section!r}; add one or pick another with --section")
    values = data[section]
    if not isinstance(values, dict):
        raise ConfigError(f"{path} [{section}]: expected a mapping of settings")
    from ..project.scheduler import dask_address

    return ({**shared_facts(data, path, ("target", "date_column", "key")), **values},
            dask_address(data, path, given))


def _model(path: str):
    from pathlib import Path

    from ..manifest.schema import MANIFEST_FILE

    location = Path(path)
    if location.is_dir() and (location / MANIFEST_FILE).exists():
        import mlprod

        return mlprod.load_model(location)
    from ..modelfile.skops_io import load_model

    return load_model(location / "model.skops" if location.is_dir() else location)


class _Progress:
    """One stderr line per stage, updated at most twice a second (in place on a terminal)."""

    def __init__(self) -> None:
        self.last = 0.0
        self.stage = None
        self.tty = sys.stderr.isatty()

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if stage == self.stage and now - self.last < 0.5 and (total is None or done < total):
            return
        if stage != self.stage and self.stage is not None and self.tty:
            sys.stderr.write("\n")
        self.stage, self.last = stage, now
        text = f"mlprod drift: {stage}"
        if done:
            text += f": {done:,}" + (f" / {total:,} rows ({done / total:.0%})" if total else " rows")
        sys.stderr.write(("\r" + text) if self.tty else text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.tty and self.stage is not None:
            sys.stderr.write("\n")
