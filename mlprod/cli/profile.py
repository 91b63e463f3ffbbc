"""``mlprod profile DATA --out PROFILE.json``: the reference profile of a data file or partitioned Parquet dataset."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "profile", help="build the reference profile of a data file or partitioned Parquet dataset (optionally on Dask)",
        description="Profile DATA (CSV/Parquet, streamed in batches, or a partitioned Parquet folder/glob) and write "
                    "the profile JSON to --out atomically, in the format of the train stage's reference_profile.json "
                    "(usable by mlprod drift and mlprod validate --reference). Exit codes: 0 written, 2 bad input.")
    p.add_argument("data", metavar="DATA", help="data file (.csv, .parquet) or partitioned Parquet folder/glob")
    p.add_argument("--out", required=True, metavar="PROFILE", help="the profile file to write (e.g. profile.json)")
    p.add_argument("--columns", type=_names, metavar="A,B", help="profile only these columns (default: all)")
    p.add_argument("--categorical", type=_names, default=(), metavar="C,D",
                   help="columns profiled as categories even if they hold numbers")
    p.add_argument("--params-file", metavar="FILE", help="read the dask section (dask: {address: ...}) of this YAML "
                                                          "file (e.g. params.yaml)")
    p.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address (e.g. tcp://127.0.0.1:8786), or 'local' "
                   "for a LocalCluster on this machine: partitions are profiled on its workers (docs/dask.md); "
                   "default: --params-file's dask.address")
    p.add_argument("--batch-rows", type=int, default=100_000, metavar="N", help="rows per batch (default 100000)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..outpaths import check_file
    from ..profile import profile_file
    from ..project.scheduler import dask_address

    out = check_file(args.out, what="--out")  # before any data is read
    if args.batch_rows < 1:
        raise ConfigError(f"--batch-rows must be at least 1, got {args.batch_rows}")
    params = {}
    if args.params_file:
        from ..yamlio import load_file

        params = load_file(args.params_file)
    dask = dask_address(params, args.params_file or "params.yaml", args.dask)
    profile = profile_file(args.data, columns=args.columns, categorical=args.categorical, batch_rows=args.batch_rows,
                           dask=dask)
    written = profile.save(out)
    where = f" on Dask ({dask})" if dask else ""
    print(f"mlprod profile: {profile.n_rows:,} rows, {len(profile.columns)} column(s){where}; written: {written}")
    return 0


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated column names such as a,b; got {text!r}")
    return names
