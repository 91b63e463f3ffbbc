"""``mlprod experiment plan | analyze``: sample size for the always-valid test; the analysis of an experiment."""

from __future__ import annotations

import argparse
import sys

EXIT_CODES = "Exit codes: 0 done; 2 bad input (options, the table, the prediction log or label files; nothing written)."


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "experiment", help="plan an A/B experiment's sample size, analyze its results",
        description="Plan and analyze A/B experiments on a binary outcome with a test that stays valid however often "
                    "the results are looked at (mSPRT always-valid p-values; docs/experiments.md). " + EXIT_CODES)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    pl = actions.add_parser("plan", help="units per arm for a baseline rate and a minimum detectable effect",
                            description="Units per arm at which the always-valid test analyze uses reaches the "
                                        "power at the minimum detectable effect. " + EXIT_CODES)
    pl.add_argument("--baseline", type=float, required=True, metavar="RATE", help="the control's outcome rate")
    pl.add_argument("--mde", type=float, required=True, metavar="DIFF",
                    help="minimum detectable effect: a difference of rates (0.02), or a share of the baseline "
                         "with --relative (0.1 = +10%%)")
    pl.add_argument("--relative", action="store_true", help="--mde is relative to the baseline")
    pl.add_argument("--alpha", type=float, default=0.05, help="false-positive rate, two-sided (default 0.05)")
    pl.add_argument("--power", type=float, default=0.8, help="power at the MDE (default 0.8)")
    pl.add_argument("--arms", type=int, default=2, help="arms including the control (default 2)")
    pl.add_argument("--json", metavar="FILE", help="also write the plan as JSON (- for standard output); "
                                                    "analyze reads it with --plan")
    an = actions.add_parser(
        "analyze", help="per arm and stratum results, sample-ratio mismatch, always-valid test; HTML + JSON",
        description="Analyze an experiment: a table (--table: a row per exposure with unit id, arm, outcome, "
                    "optional KPI, score and strata columns) or, without --table, the prediction log joined with "
                    "the label files (params.yaml: prediction_log.dir, monitor.labels_dir, project.key/target). "
                    "Writes experiment.json and experiment.html. " + EXIT_CODES)
    an.add_argument("--plan", metavar="FILE", help="the plan's JSON (mlprod experiment plan --json): its mixing "
                                                   "variance tau2 and alpha")
    an.add_argument("--tau2", type=float, help="the mSPRT's mixing variance, without --plan")
    an.add_argument("--alpha", type=float, help="false-positive rate (default: the plan's, else 0.05)")
    an.add_argument("--table", metavar="FILE", help="a CSV or Parquet table of exposures and outcomes")
    an.add_argument("--log", metavar="DIR", help="the prediction log folder (default: prediction_log.dir)")
    an.add_argument("--labels", metavar="DIR", help="the label files folder (default: monitor.labels_dir)")
    an.add_argument("--experiment", metavar="NAME", help="the experiment to analyze (needed when there are several)")
    an.add_argument("--shares", metavar="ARM=SHARE,...", help="planned shares (default: equal over the arms seen)")
    an.add_argument("--control", metavar="ARM", help="the control arm (default: 'control', else the first arm)")
    an.add_argument("--unit-col", default="unit_id", help="table: unit id column (default unit_id)")
    an.add_argument("--arm-col", default="arm", help="table: arm column (default arm)")
    an.add_argument("--outcome-col", default="outcome", help="table: 0/1 outcome column (default outcome)")
    an.add_argument("--score-col", default="score", help="table: model score column, used if present (default score)")
    an.add_argument("--time-col", default="logged_at", help="table: exposure time, orders first exposures if present")
    an.add_argument("--kpi", metavar="COLUMN", help="a numeric business KPI column (table or label files)")
    an.add_argument("--strata", metavar="COL,...", help="columns to report results per level of")
    an.add_argument("--metrics", default=",".join(("roc_auc", "average_precision", "brier", "log_loss")),
                    help="model metrics where scores and labels exist")
    an.add_argument("--threshold", type=float, default=0.5, help="decision threshold for threshold metrics")
    an.add_argument("--srm-threshold", type=float, default=0.001, help="flag a sample-ratio mismatch below this p")
    an.add_argument("-o", "--out", default="reports/experiment", metavar="DIR",
                    help="where experiment.json and experiment.html go (default reports/experiment)")
    sh = actions.add_parser(
        "shadow", help="compare the shadow model's logged rows with the champion's: agreement, correlation, changes",
        description="Pair the champion's and the shadow model's rows of the prediction log (same request_id and row) "
                    "and report n paired, decision agreement, the decisions that would change (0 -> 1, 1 -> 0), "
                    "Pearson and Spearman score correlation and the mean score difference, overall and per segment. "
                    "Writes shadow.json and shadow.html. " + EXIT_CODES)
    sh.add_argument("--log", metavar="DIR", help="the prediction log folder (default: params.yaml prediction_log.dir)")
    sh.add_argument("--segment", action="append", default=[], metavar="COL",
                    help="report per level of COL (repeatable): a logged feature (prediction_log.log_features) or a "
                         "column of --table")
    sh.add_argument("--table", metavar="FILE", help="a CSV or Parquet table with unit_id and the segment columns, "
                                                     "joined on the log's unit_id")
    sh.add_argument("--unit-col", default="unit_id", help="--table: the unit id column (default unit_id)")
    sh.add_argument("--since", metavar="TIME", help="only rows logged at or after TIME (UTC)")
    sh.add_argument("-o", "--out", default="reports/shadow", metavar="DIR",
                    help="where shadow.json and shadow.html go (default reports/shadow)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "shadow":
        return _shadow(args)
    return _plan(args) if args.action == "plan" else _analyze(args)


def _shadow(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ExperimentError
    from ..outpaths import check_dir
    from ..serving.predictionlog import PredictionLogSettings, read_log
    from ..stages.params import load_params_file, project_root
    from ..traffic import shadow

    check_dir(args.out, what="--out folder", files=(shadow.JSON_FILE, shadow.HTML_FILE))
    if args.log:
        log_dir = Path(args.log)
    else:
        root, params_file = project_root()
        params = load_params_file(params_file) if params_file else {}
        log_dir = root / PredictionLogSettings.from_mapping(params.get("prediction_log")).dir
    if not log_dir.is_dir():
        raise ExperimentError(f"--log {log_dir}: no such folder; expected the prediction log folder (give --log DIR)")
    table = None
    if args.table:
        from ..data.io import read_table

        table = read_table(args.table)
    result = shadow.analyze_shadow(read_log(log_dir, since=args.since), args.segment, table=table,
                                   unit_col=args.unit_col)
    json_path, html_path = shadow.write(result, args.out)
    o = result["overall"]
    agreement = "n/a" if o["agreement"] is None else f"{100 * o['agreement']:.2f} %"
    pearson = "n/a" if o["pearson"] is None else f"{o['pearson']:.3f}"
    print(f"mlprod experiment: {o['n_paired']:,} paired rows; decision agreement {agreement}; {o['changed']:,} "
          f"decision(s) would change ({o['changed_0_to_1']:,} 0->1, {o['changed_1_to_0']:,} 1->0); score "
          f"correlation {pearson}", file=sys.stderr)
    print(f"mlprod experiment: wrote {json_path} and {html_path}", file=sys.stderr)
    return 0


def _plan(args: argparse.Namespace) -> int:
    from ..atomic import dumps_json
    from ..outpaths import check_file, emit
    from ..traffic.analysis import plan

    if args.json:
        check_file(args.json, what="--json", stdout_ok=True)
    result = plan(args.baseline, args.mde, relative=args.relative, alpha=args.alpha, power=args.power, arms=args.arms)
    out = sys.stderr if args.json == "-" else sys.stdout
    width = max(len(label) for label, _ in result.rows())
    for label, value in result.rows():
        print(f"{label:<{width}}  {value}", file=out)
    if args.json:
        where = emit(args.json, dumps_json(result.to_dict()))
        if args.json != "-":
            print(f"mlprod experiment: plan written to {where}", file=sys.stderr)
    return 0


def _analyze(args: argparse.Namespace) -> int:
    from ..outpaths import check_dir
    from ..traffic.analysis import analyze, from_log, from_table, report
    from ..errors import ExperimentError

    tau2, alpha = _test_settings(args)
    check_dir(args.out, what="--out folder", files=(report.JSON_FILE, report.HTML_FILE))
    strata = [s.strip() for s in args.strata.split(",") if s.strip()] if args.strata else []
    if args.table:
        exposures = from_table(args.table, unit=args.unit_col, arm=args.arm_col, outcome=args.outcome_col,
                               kpi=args.kpi, strata=strata, score=args.score_col, time=args.time_col,
                               experiment=args.experiment)
    else:
        log_dir, labels_dir, facts = _log_paths(args)
        exposures = from_log(log_dir, labels_dir, key=facts.key, target=facts.target,
                             positive_label=facts.positive_label, kpi=args.kpi, strata=strata,
                             experiment=args.experiment)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    if not 0 < args.srm_threshold < 1:
        raise ExperimentError(f"--srm-threshold must be between 0 and 1, got {args.srm_threshold}")
    result = analyze(exposures, tau2=tau2, alpha=alpha, shares=_shares(args.shares), control=args.control,
                     srm_threshold=args.srm_threshold, metrics=metrics, threshold=args.threshold)
    json_path, html_path = report.write(result, args.out)
    s = result["sample_ratio"]
    print(f"mlprod experiment: {result['input']['units']:,} units in {len(result['arms'])} arms; sample ratio "
          f"p = {s['p_value']:.3g}{' MISMATCH' if s['mismatch'] else ''}", file=sys.stderr)
    for arm, c in result["comparisons"].items():
        diff = "n/a" if c["difference"] is None else f"{c['difference']:+.4f}"
        p = "n/a" if c["p_value"] is None else f"{c['p_value']:.3g}"
        print(f"mlprod experiment: {arm} vs {result['control']}: difference {diff}, always-valid p {p}: "
              f"{result['verdict']['comparisons'][arm]}", file=sys.stderr)
    if result["input"]["units_in_two_arms_excluded"]:
        print(f"mlprod experiment: {result['input']['units_in_two_arms_excluded']:,} unit(s) seen in two arms were "
              "left out", file=sys.stderr)
    print(f"mlprod experiment: wrote {json_path} and {html_path}", file=sys.stderr)
    return 0


def _test_settings(args: argparse.Namespace) -> tuple[float, float]:
    import json
    from pathlib import Path

    from ..errors import ExperimentError
    from ..traffic.analysis.plan import SCHEMA

    alpha = args.alpha
    if args.plan:
        try:
            data = json.loads(Path(args.plan).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ExperimentError(f"--plan {args.plan}: cannot read it ({exc}); expected the JSON written by "
                                  "mlprod experiment plan --json") from exc
        if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("tau2"), float):
            raise ExperimentError(f"--plan {args.plan}: not an experiment plan (expected schema {SCHEMA!r} with "
                                  "tau2); write one with mlprod experiment plan --json FILE")
        tau2 = args.tau2 if args.tau2 is not None else data["tau2"]
        alpha = alpha if alpha is not None else float(data.get("alpha", 0.05))
    elif args.tau2 is not None:
        tau2 = args.tau2
    else:
        raise ExperimentError("the always-valid test needs the mixing variance of the plan: give --plan FILE "
                              "(from mlprod experiment plan --json FILE) or --tau2")
    alpha = 0.05 if alpha is None else alpha
    if not 0 < alpha < 0.5:
        raise ExperimentError(f"--alpha must be between 0 and 0.5, got {alpha}")
    return tau2, alpha


def _shares(text: str | None) -> dict[str, float] | None:
    from ..errors import ExperimentError

    if not text:
        return None
    shares = {}
    for part in text.split(","):
        arm, sep, value = part.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not sep or not arm.strip() or not share > 0:
            raise ExperimentError(f"--shares: expected ARM=SHARE pairs with positive shares such as "
                                  f"control=0.5,treatment=0.5, got {part!r}")
        shares[arm.strip()] = share
    return shares


def _log_paths(args: argparse.Namespace):
    from pathlib import Path

    from ..errors import ConfigError
    from ..project.facts import read_facts
    from ..serving.predictionlog import PredictionLogSettings
    from ..stages.params import load_params_file, project_root

    root, params_file = project_root()
    if params_file is None:
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents; run mlprod experiment analyze inside the "
                          "project, or analyze a table with --table")
    params = load_params_file(params_file)
    facts = read_facts(params, params_file)
    if not facts.key or not facts.target:
        raise ConfigError(f"{params_file}: project.key and project.target must be set to join the prediction log "
                          "with the label files")
    monitor = params.get("monitor") or {}
    log_dir = Path(args.log) if args.log else root / PredictionLogSettings.from_mapping(params.get("prediction_log")).dir
    labels = args.labels or (monitor.get("labels_dir") if isinstance(monitor, dict) else None) or "monitoring/labels"
    return log_dir, Path(labels) if args.labels else root / labels, facts
