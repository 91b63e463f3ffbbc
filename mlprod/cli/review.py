"""``mlprod review list|export|import``: the review queue (rows routed to people) and reviewers' decisions."""

from __future__ import annotations

import argparse
import sys

EXIT_CODES = "Exit codes: 0 done; 2 bad input (params.yaml, the reviewers' file: columns, units, labels; nothing written)."


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "review", help="list or export the review queue, import reviewers' decisions as labels",
        description="The review queue: rows the predictor routed to people (needs_review in the prediction log) "
                    "whose unit is neither decided nor labelled. `import` writes reviewers' decisions (unit_id and "
                    "the project.target column) as a new label file in monitor.labels_dir, where the monitoring "
                    "history reads them. " + EXIT_CODES)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="print the queued rows")
    ls.add_argument("--since", metavar="DATE", help="only rows logged at or after DATE (UTC)")
    ls.add_argument("--limit", type=int, default=50, metavar="N", help="at most N rows (default 50; 0: all)")
    ex = actions.add_parser("export", help="write the queue as CSV for reviewers")
    ex.add_argument("file", metavar="FILE.csv")
    ex.add_argument("--since", metavar="DATE", help="only rows logged at or after DATE (UTC)")
    im = actions.add_parser("import", help="import reviewers' decisions as a label file")
    im.add_argument("file", metavar="FILE.csv")
    p.set_defaults(func=run)


def paths_from_params():
    from pathlib import Path

    from ..errors import ConfigError
    from ..project.facts import read_facts
    from ..serving.predictionlog import PredictionLogSettings
    from ..serving.review.reviewqueue import ReviewPaths
    from ..serving.settings import ServingSettings
    from ..stages.params import load_params_file, project_root

    root, params_file = project_root()
    if params_file is None:
        raise ConfigError(f"no params.yaml in {Path.cwd()} or its parents; run mlprod review inside the project")
    params = load_params_file(params_file)
    facts = read_facts(params, params_file)
    if not facts.key or not facts.target:
        raise ConfigError(f"{params_file}: project.key and project.target must be set: reviewers' decisions are "
                          "labels keyed by the unit id")
    log = PredictionLogSettings.from_mapping(params.get("prediction_log"))
    review = ServingSettings.from_mapping(params.get("serving")).review
    monitor = params.get("monitor") or {}
    labels_dir = monitor.get("labels_dir", "monitoring/labels") if isinstance(monitor, dict) else "monitoring/labels"
    return ReviewPaths(log_dir=root / log.dir, labels_dir=root / labels_dir, review_dir=root / review.dir,
                       key=facts.key, target=facts.target, positive_label=facts.positive_label)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..serving.review import reviewqueue

    paths = paths_from_params()
    if getattr(args, "since", None):
        import pandas as pd

        try:
            pd.Timestamp(args.since)
        except ValueError as exc:
            raise ConfigError(f"--since: expected a date such as 2025-03-01, got {args.since!r}") from exc
    if args.action == "list":
        if args.limit < 0:
            raise ConfigError(f"--limit must be >= 0, got {args.limit}")
        rows = reviewqueue.queue(paths, since=args.since)
        shown = rows if args.limit == 0 else rows.head(args.limit)
        for row in shown.itertuples():
            print(f"{row.logged_at:%Y-%m-%d %H:%M:%S}  {row.unit_id}  score {row.score:.3f}  request {row.request_id}"
                  f" row {row.row}")
        more = f" (showing {len(shown)})" if len(shown) < len(rows) else ""
        print(f"mlprod review: {len(rows)} row(s) queued{more}", file=sys.stderr)
        if rows.attrs.get("no_unit_id"):
            print(f"mlprod review: {rows.attrs['no_unit_id']} routed row(s) have no unit_id and cannot be reviewed "
                  "(send the key column with each request)", file=sys.stderr)
    elif args.action == "export":
        n = reviewqueue.export(paths, args.file, since=args.since)
        print(f"mlprod review: {n} queued row(s) written to {args.file}; fill in column {paths.target!r} and run "
              f"mlprod review import {args.file}", file=sys.stderr)
    else:
        result = reviewqueue.import_decisions(paths, args.file)
        if result.label_file is not None:
            print(f"mlprod review: {result.written} decision(s) written to {result.label_file}", file=sys.stderr)
        if result.already_labelled:
            shown = ", ".join(result.already_labelled[:10]) + (", ..." if len(result.already_labelled) > 10 else "")
            print(f"mlprod review: {len(result.already_labelled)} unit(s) already labelled, not written: {shown}",
                  file=sys.stderr)
    return 0
