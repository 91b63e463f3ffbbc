"""``mlprod validate DATA --schema FILE [--reference PROFILE]``: the data quality gate on files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate", help="check data files (or partitioned Parquet folders/globs) against a schema file (schema, business rules, statistics)",
        description="Check each DATA file (CSV/Parquet; NAME=PATH to name it) against the schema file's column "
                    "checks and business rules, and against a reference profile's statistics when --reference is "
                    "given. Exit codes: 0 passed (possibly with warnings), 1 a check failed under the policy, "
                    "2 bad input (unreadable data, invalid schema file).")
    p.add_argument("data", nargs="+", metavar="DATA", help="data file, or NAME=PATH")
    p.add_argument("--schema", required=True, metavar="FILE", help="the schema file (e.g. schema.yaml)")
    p.add_argument("--reference", metavar="PROFILE",
                   help="reference for the statistical checks: a profile .json, or a CSV/Parquet file to profile")
    p.add_argument("--statistical", nargs="+", metavar="NAME",
                   help="datasets that get the statistical checks (default: all)")
    p.add_argument("--summary", metavar="FILE", help="write the JSON summary (usable as DVC metrics; '-': print it)")
    p.add_argument("--details", metavar="FILE", help="write every check's result as JSON ('-': print it)")
    p.add_argument("--report", metavar="FILE", help="write the HTML report ('-': print it)")
    p.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address (e.g. tcp://127.0.0.1:8786): partitions are processed on its workers (docs/dask.md)")
    p.add_argument("--examples", type=int, default=5, metavar="N", help="example rows kept per check (default 5)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..atomic import dumps_json
    from ..errors import ConfigError, OutputPathError
    from ..outpaths import check_file, emit, is_stdout
    from ..validation import build_details, build_summary, load_schema, validate
    from ..validation.report import render_html

    outputs = {option: path for option, path in (("--summary", args.summary), ("--details", args.details),
                                                 ("--report", args.report)) if path}
    to_stdout = [option for option, path in outputs.items() if is_stdout(path)]
    if len(to_stdout) > 1:
        raise OutputPathError(f"{' and '.join(to_stdout)} are both '-': only one output can go to standard output")
    for option, path in outputs.items():
        check_file(path, what=option, stdout_ok=True)  # before any data is read
    datasets = {}
    for item in args.data:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        if name in datasets:
            raise ConfigError(f"two datasets are named {name!r}; name them with NAME=PATH")
        datasets[name] = path
    schema = load_schema(args.schema)
    result = validate(datasets, schema, reference=args.reference, statistical=args.statistical,
                      max_examples=max(args.examples, 0), dask=_dask(args.dask))
    if args.summary:
        emit(args.summary, dumps_json(build_summary(result)))
    if args.details:
        emit(args.details, dumps_json(build_details(result, schema_source=args.schema)))
    if args.report:
        emit(args.report, render_html(result, schema=args.schema))
    for dataset in result.datasets:
        mine = result.outcomes_for(dataset.name)
        failed = sum(o.action == "fail" for o in mine)
        warned = sum(o.action == "warn" for o in mine)
        print(f"mlprod validate: {dataset.name}: {dataset.n_rows:,} rows, {len(mine)} checks, {failed} failed, "
              f"{warned} warning(s)", file=sys.stderr)
    for outcome in result.warnings:
        print(f"  warning {outcome.describe()}", file=sys.stderr)
    written = [f if not is_stdout(f) else "standard output" for f in outputs.values()]
    report = args.report if args.report and not is_stdout(args.report) else None
    result.raise_for_status(hint=f"written: {', '.join(written)}" if written else "", report=report)
    print(f"mlprod validate: {result.status}" + (f"; written: {', '.join(written)}" if written else ""),
          file=sys.stderr)
    return 0


def _dask(given: str | None) -> str | None:
    if given is None:
        return None
    from ..project.scheduler import dask_address

    return dask_address({}, given=given)
