"""``mlprod demo-stream [DIR]``: the demo's weekly batches and late labels, as of a week (docs/monitoring.md)."""

from __future__ import annotations

import argparse
import re
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo-stream", help="write the demo stream's inbox and labels as of a week",
        description="Write the demo stream's state as of a week into DIR (default data/stream, where params.yaml's "
                    "score.inbox and monitor.labels_dir point): DIR/inbox/<week>.parquet for every week that has "
                    "arrived and DIR/labels/<week>.parquet for the weeks whose labels have (LABEL_DELAY weeks "
                    "later). Week 1 is 2025-W02; the behaviour shift starts at week 8 (2025-W09). Rerunning with a "
                    "later --as-of adds the weeks that arrived since; files already written keep their bytes. "
                    "Exit codes: 0 written; 2 bad options.")
    p.add_argument("folder", nargs="?", default="data/stream", metavar="DIR")
    p.add_argument("--weeks", type=int, default=12, help="length of the stream in weeks (default 12)")
    p.add_argument("--as-of", default=None, metavar="WEEK",
                   help="the week the stream has reached: a week number (1..WEEKS) or an ISO week such as 2025-W13 "
                        "(default: the last week)")
    p.add_argument("--label-delay", type=int, default=4, metavar="WEEKS", help="weeks until labels arrive (default 4)")
    p.add_argument("--rows", type=int, default=500, help="leads per week (default 500)")
    p.add_argument("--seed", type=int, default=None, help="the stream's seed (default: the demo stream's)")
    p.add_argument("--no-shift", action="store_true", help="a stream without the behaviour shift")
    p.set_defaults(func=run)


def week_number(text: str | None, spec) -> int | None:
    """A 1-based stream week from a number or an ISO week id of the stream."""
    from ..errors import ConfigError

    if text is None:
        return None
    if re.fullmatch(r"\d+", text):
        return int(text)
    ids = [spec.week_id(w) for w in range(1, spec.n_weeks + 1)]
    if text.upper() in ids:
        return ids.index(text.upper()) + 1
    raise ConfigError(f"--as-of {text!r}: expected a week number 1..{spec.n_weeks} or an ISO week of the stream "
                      f"({ids[0]} .. {ids[-1]})")


def run(args: argparse.Namespace) -> int:
    from ..data.stream_demo import SHIFT_WEEK, STREAM_SEED, StreamSpec, write_stream

    spec = StreamSpec(n_weeks=args.weeks, seed=STREAM_SEED if args.seed is None else args.seed,
                      rows_per_week=args.rows, shift_week=None if args.no_shift else SHIFT_WEEK,
                      label_delay=args.label_delay)
    files = write_stream(args.folder, spec, as_of=week_number(args.as_of, spec))
    last = spec.week_id(files.as_of) if files.as_of else "none"
    shift = f"; the shift starts in {spec.shift_id}" if spec.shift_id else ""
    print(f"mlprod demo-stream: {len(files.inbox)} batch(es) up to {last} in {files.folder / 'inbox'}, "
          f"{len(files.labels)} label file(s) in {files.folder / 'labels'}{shift}", file=sys.stderr)
    return 0
