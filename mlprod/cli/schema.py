"""``mlprod schema infer DATA`` (draft a schema file) and ``mlprod schema check FILE``."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schema", help="draft or check a schema file for `mlprod validate`",
                       description="Work with schema files (the declared checks `mlprod validate` runs).")
    verbs = p.add_subparsers(dest="schema_verb", required=True, metavar="ACTION")
    infer = verbs.add_parser("infer", help="draft a schema file from (training) data",
                             description="Draft a schema file from DATA (CSV/Parquet) for a person to review: "
                                         "types, nullability, ids, categories, natural bounds, default "
                                         "statistical thresholds and policy. Prints it, or writes --output.")
    infer.add_argument("data", metavar="DATA", help="data file (CSV or Parquet)")
    infer.add_argument("-o", "--output", metavar="FILE", help="write the draft here instead of printing it ('-': print)")
    infer.add_argument("--force", action="store_true", help="replace --output if it exists")
    infer.add_argument("--max-categories", type=int, default=50, metavar="N",
                       help="text columns with at most N distinct values get a categories list (default 50)")
    infer.set_defaults(func=run_infer)
    check = verbs.add_parser("check", help="check that a schema file is valid",
                             description="Parse FILE strictly (unknown keys, types, rule expressions).")
    check.add_argument("file", metavar="FILE")
    check.set_defaults(func=run_check)


def run_infer(args: argparse.Namespace) -> int:
    import os

    from ..atomic import write_text
    from ..errors import ConfigError
    from ..outpaths import check_file
    from ..validation import infer_file

    output = check_file(args.output, what="--output", stdout_ok=True) if args.output else None
    if output is not None and os.path.lexists(output) and not args.force:
        raise ConfigError(f"{output} already exists (it may hold reviewed changes); choose another --output, "
                          "or pass --force to replace it")
    text = infer_file(args.data, max_categories=args.max_categories)
    if output is None:
        sys.stdout.write(text)
        return 0
    write_text(output, text)
    print(f"mlprod schema: wrote {output}; review it before use", file=sys.stderr)
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..validation import load_schema

    schema = load_schema(args.file)
    print(f"mlprod schema: {args.file} is valid: {len(schema.columns)} columns, {len(schema.rules)} rules",
          file=sys.stderr)
    return 0
