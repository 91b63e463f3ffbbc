"""``mlprod run NOTEBOOK``: run a notebook as a pipeline stage."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="execute a notebook as a pipeline stage (papermill)",
        description="Execute NOTEBOOK with papermill using the stage's section of params.yaml. "
                    "One run of a stage at a time: a second run of the same stage stops at once (or waits, "
                    "with --wait) without touching the first. "
                    "Exit codes: 0 success, 1 the notebook failed, 2 bad input (nothing was run), 75 the stage "
                    "is already running (nothing was run), 130/143 stopped by Ctrl-C/SIGTERM before the results "
                    "were saved.")
    p.add_argument("notebook", help="path to the .ipynb file")
    p.add_argument("--stage", help="params.yaml section to use (default: the notebook's file name)")
    p.add_argument("-p", "--param", dest="params", action="append", default=[], metavar="KEY=VALUE",
                   help="override one parameter (value read as YAML: 3 is an int, true a bool)")
    p.add_argument("--params-file", help="params file (default: params.yaml here or in a parent folder)")
    p.add_argument("--reports-dir", help="where executed notebooks go (default: reports/ in the project)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="fail a cell that runs longer than this, in whole seconds (a fraction rounds up; default: no limit)")
    p.add_argument("--start-timeout", type=float, default=60, metavar="SECONDS",
                   help="fail if the kernel is not ready within this time (default: 60)")
    p.add_argument("--wait", type=_seconds, default=0, metavar="SECONDS",
                   help="if the stage is already running, wait up to this long for it to finish "
                        "(default: 0, fail at once; 'inf' waits as long as it takes)")
    p.add_argument("--no-html", action="store_true", help="do not render the executed notebook as HTML")
    p.add_argument("--log-output", action="store_true",
                   help="print what the notebook prints (its stdout and stderr) while it runs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..stages.runner import run_notebook

    record = run_notebook(args.notebook, stage=args.stage, params_file=args.params_file, overrides=args.params,
                          reports_dir=args.reports_dir, timeout=args.timeout, start_timeout=args.start_timeout,
                          html=not args.no_html, log_output=args.log_output,
                          lean_imports=True, wait=args.wait)
    print(f"mlprod run: {record.notebook} ({record.stage}) succeeded in {record.duration_seconds:.1f}s; "
          f"executed notebook: {record.executed_notebook}", file=sys.stderr)
    return 0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0 (or 'inf'), got {text!r}")
    return value
