"""``mlprod sweep run | show | apply``: parameter sweeps as DVC experiments (docs/sweeps.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_CODES = ("Exit codes: 0 done; 1 an experiment (or the applied experiment's pipeline) failed; 2 refused, nothing "
              "queued or changed: not a git/DVC project, a dirty tree (apply), an unknown params.yaml key, bad grid "
              "syntax, a busy queue, an unknown experiment.")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep", help="run a grid of parameter settings as DVC experiments, compare them, apply the chosen one",
        description="Queue a grid or a list of parameter settings as DVC experiments that run up to the evaluate "
                    "stage (never register), run them on N queue workers, and print one table of metrics with "
                    "each experiment's manifest lineage; `apply` turns the chosen one into a branch, rebuilt and "
                    "registered through the gates. " + EXIT_CODES)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="queue and run the settings, print the table",
                             description="Queue the settings (--grid or --settings) as experiments up to --target, "
                                         "run them on --jobs queue workers, wait, print the table. " + EXIT_CODES)
    run.add_argument("--grid", nargs="+", metavar="KEY=V1,V2", default=[],
                     help="params.yaml keys and their values; every combination is one experiment "
                          "(e.g. train.learning_rate=0.05,0.1 train.max_iter=100,200)")
    run.add_argument("--settings", metavar="FILE", help="a YAML list of settings, each a mapping of params.yaml keys "
                                                        "to values (instead of --grid)")
    run.add_argument("-j", "--jobs", type=int, default=1, help="queue workers running experiments at once (default 1)")
    run.add_argument("--target", default="evaluate", help="the last stage each experiment runs (default evaluate)")
    run.add_argument("--name", metavar="PREFIX", help="experiment names PREFIX-1, PREFIX-2, ... (default "
                                                      "sweep-MMDD-HHMMSS)")
    run.add_argument("--timeout", type=float, metavar="SECONDS", help="stop waiting after this long (the "
                                                                       "experiments go on in the background)")
    _table_options(run)
    show = actions.add_parser("show", help="print the table of a sweep run earlier",
                              description="The table of the experiments named PREFIX-1, PREFIX-2, ... " + EXIT_CODES)
    show.add_argument("--name", metavar="PREFIX", required=True, help="the sweep's name prefix")
    show.add_argument("--all-commits", action="store_true", help="look for the experiments on every commit, not "
                                                                   "only the current one")
    _table_options(show)
    ap = actions.add_parser(
        "apply", help="make an experiment a branch, rebuild it clean and run the full pipeline (register, gates)",
        description="Refuses a dirty working tree. `dvc exp branch NAME BRANCH`, checks the branch out, reruns the "
                    "stages whose parameters the experiment changed and `dvc repro` (register: gates and promotion), "
                    "commits dvc.lock and the metrics there, and switches back (unless --stay). " + EXIT_CODES)
    ap.add_argument("experiment", metavar="NAME", help="the experiment (a name in the sweep's table)")
    ap.add_argument("--branch", help="the branch to create (default sweep/NAME)")
    ap.add_argument("--pipeline", default="dvc.yaml", help="the pipeline dvc repro runs (default dvc.yaml)")
    ap.add_argument("--stay", action="store_true", help="stay on the branch afterwards")
    p.set_defaults(func=main)


def _table_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", default="roc_auc,average_precision,log_loss,brier",
                   help="metrics of the evaluate stage's metrics file (holdout section) to show")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON (- for standard output)")


def main(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..stages.params import project_root

    import logging

    for noisy in ("kombu", "celery", "dvc_task"):  # DVC's queue (celery) warns of its local broker's host name
        logging.getLogger(noisy).setLevel(logging.ERROR)
    root, params_file = project_root()
    if params_file is None:
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents; run mlprod sweep inside the project")
    if args.action == "apply":
        from ..sweep.apply import apply_experiment

        applied = apply_experiment(root, args.experiment, branch=args.branch, pipeline=args.pipeline, stay=args.stay)
        print(f"mlprod sweep: {applied.line()}", file=sys.stderr)
        return 0
    if args.action == "show":
        return _show(root, args)
    return _run(root, params_file, args)


def _run(root: Path, params_file: Path, args: argparse.Namespace) -> int:
    from .. import yamlio
    from ..errors import SweepError, SweepFailed
    from ..stages.params import load_params_file
    from ..sweep import results, settings as sweep_settings
    from ..sweep.queue import run_sweep

    if args.jobs < 1:
        raise SweepError(f"--jobs {args.jobs}: expected at least 1 queue worker")
    if bool(args.grid) == bool(args.settings):
        raise SweepError("give either --grid KEY=V1,V2 ... or --settings FILE (one of them)")
    chosen = (sweep_settings.parse_grid(args.grid) if args.grid
              else sweep_settings.read_settings_file(Path(args.settings)))
    pipeline = yamlio.load_file(root / "dvc.yaml") or {}
    sweep_settings.check_settings(chosen, load_params_file(params_file), pipeline, args.target)
    sweep_settings.check_syntax(chosen)
    metric_names = _metric_names(args.metrics)
    done = run_sweep(root, chosen, target=args.target, jobs=args.jobs, prefix=args.name, timeout=args.timeout)
    keys = list(dict.fromkeys(k for s in chosen for k, _ in s.values))
    queued = {name: dict(setting.values) for name, setting in zip(done.names, done.settings)}
    rows = results.collect(root, list(done.names), keys, done.status, metric_names=metric_names, settings=queued)
    _print(rows, keys, metric_names, args.json)
    print(f"mlprod sweep: {len(done.names)} experiment(s) in {done.seconds:.1f} s on {args.jobs} worker(s); apply "
          "one with `mlprod sweep apply NAME`", file=sys.stderr)
    if done.failures:
        raise SweepFailed(f"{len(done.failures)} of {len(done.names)} experiment(s) failed:\n" +
                          "\n".join(f.line() for f in done.failures) + "\n(`dvc queue logs NAME` has the whole log)")
    return 0


def _show(root: Path, args: argparse.Namespace) -> int:
    from ..errors import SweepError
    from ..sweep import results

    shown = results.exp_show(root, all_commits=args.all_commits)
    found = results.experiments(shown)
    prefix = f"{args.name}-"
    names = sorted((n for n in found if n.startswith(prefix) and n[len(prefix):].isdigit()),
                   key=lambda n: int(n[len(prefix):]))
    if not names:
        raise SweepError(f"no experiments named {prefix}N on {'any commit' if args.all_commits else 'this commit'}; "
                         "`dvc exp show` lists the experiments (try --all-commits)")
    keys = results.varied_keys(found, names)
    metric_names = _metric_names(args.metrics)
    rows = results.collect(root, names, keys, metric_names=metric_names, shown=shown)
    _print(rows, keys, metric_names, args.json)
    return 0


def _metric_names(text: str) -> tuple[str, ...]:
    from ..errors import SweepError

    names = tuple(m.strip() for m in text.split(",") if m.strip())
    if not names:
        raise SweepError("--metrics: expected metric names separated by commas, e.g. roc_auc,log_loss")
    return names


def _print(rows: list, keys: list[str], metric_names: tuple[str, ...], json_path: str | None) -> None:
    from .. import atomic
    from ..sweep import results

    print(results.render(rows, keys, metric_names))
    if json_path:
        text = atomic.dumps_json(results.to_json(rows, keys))
        if json_path == "-":
            print(text)
        else:
            atomic.write_text(Path(json_path), text)
