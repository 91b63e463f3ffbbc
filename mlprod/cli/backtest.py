"""``mlprod backtest``: replay a stream window by window under the retraining policy, never retraining and retraining
every window, and compare them."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

EXIT_CODES = ("Exit codes: 0 replayed and reported (whether or not the policy meets its goals); 1 with "
              "--fail-on-miss, the policy missed a goal; 2 bad input (params.yaml sections, the stream, the starting "
              "model).")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "backtest", help="replay a stream window by window: score, monitor, decide, retrain, gates, promote",
        description="Replay a stream (the demo stream, a folder of batches with labels, or one table cut into weekly "
                    "batches) window by window, using only what was known at each point: score with the champion, "
                    "update the monitoring history, decide, and retrain through the gates when the strategy says "
                    "so, in one process against a throwaway registry (the project's registry is never touched). "
                    "Strategies: the policy in params.yaml (decide:), never retraining, retraining every window. "
                    "Writes backtest.html and backtest.json (backtest: output_dir). Settings: params.yaml's "
                    "backtest: section; the options below override it. " + EXIT_CODES)
    p.add_argument("--stream", metavar="SOURCE", help="demo, a folder (inbox/ and labels/), or a table file")
    p.add_argument("--weeks", type=int, help="demo stream: number of weekly batches")
    p.add_argument("--seed", type=int, help="demo stream: its seed")
    p.add_argument("--no-shift", dest="shift", action="store_false", default=None,
                   help="demo stream: without its behaviour shift")
    p.add_argument("--label-delay", type=int, metavar="N", help="windows until a batch's labels arrive")
    p.add_argument("--change-window", metavar="BATCH", help="the batch the behaviour changes in (detection delay is "
                                                             "counted from it)")
    p.add_argument("--strategies", metavar="LIST", help="comma-separated: policy,never,every_window")
    p.add_argument("--model", dest="model_dir", metavar="DIR", help="the starting model folder (default: "
                                                                     "evaluate.model_dir)")
    p.add_argument("-o", "--output-dir", metavar="DIR", help="where backtest.html and backtest.json go")
    p.add_argument("--keep-work", action="store_true", help="keep each strategy's workspace (predictions, history, "
                                                             "models, registry) under OUTPUT_DIR/work")
    p.add_argument("--fail-on-miss", action="store_true", help="exit with 1 when the policy misses a goal")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..backtest.run import run_backtest
    from ..backtest.settings import BacktestSettings
    from ..errors import ConfigError
    from ..stages.params import load_params_file, project_root

    root, params_file = project_root()
    if params_file is None:
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents; run mlprod backtest inside the project")
    settings = BacktestSettings.from_mapping(load_params_file(params_file).get("backtest"),
                                             where=f"{params_file} [backtest]")
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()] if args.strategies else None
    settings = settings.with_options(where="mlprod backtest options", stream=args.stream, weeks=args.weeks,
                                     seed=args.seed, shift=args.shift, label_delay=args.label_delay,
                                     change_window=args.change_window, strategies=strategies,
                                     model_dir=args.model_dir, output_dir=args.output_dir)
    for name in ("mlprod.monitoring", "mlprod.registry", "mlprod.manifest", "mlprod.training", "mlprod.profile"):
        logging.getLogger(name).setLevel(logging.WARNING)  # per window and retrain: the backtest's own lines say it
    result = run_backtest(root, params_file, settings, keep_work=args.keep_work)
    summary = result.summary
    for name, s in summary["strategies"].items():
        detected = f"detected at {s['detected_at']} (+{s['detection_delay']})" if s["detected_at"] else "not detected"
        print(f"mlprod backtest: {s['title']}: {s['retrains']} retrain(s), {s['promoted']} promoted; {detected}; "
              f"{s['false_alarms']} false alarm(s); ROC AUC {_fmt(s['realised_roc_auc'])} (after the change "
              f"{_fmt(s['realised_roc_auc_after_change'])}); {s['seconds']:.1f} s", file=sys.stderr)
    quarantined = sorted({w for s in summary["strategies"].values() for w in s["quarantined"]})
    if quarantined:
        print(f"mlprod backtest: {len(quarantined)} window(s) failed the data gates and were quarantined, so no model "
              f"scored them: {', '.join(quarantined[:8])}{' ...' if len(quarantined) > 8 else ''} (score.schema_file; "
              f"--keep-work keeps each batch's report under OUTPUT_DIR/work/<strategy>/monitoring/quarantine)",
              file=sys.stderr)
    missed = [t for t in summary["targets"] if t["met"] is False]
    for t in summary["targets"]:
        word = "met" if t["met"] else ("n/a" if t["met"] is None else "MISSED")
        print(f"mlprod backtest: goal {t['goal']}: {_fmt(t['value'])} ({word})", file=sys.stderr)
    for path in result.written:
        print(path)
    return 1 if missed and args.fail_on_miss else 0


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)
