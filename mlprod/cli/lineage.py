"""``mlprod lineage DIR``: model -> stage runs -> notebooks at commit -> data versions -> parameters."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lineage", help="print where a model came from",
                       description="Print the lineage of the model in DIR: versions, git commit, the stage runs "
                                   "and their notebooks (checked against the commit), data versions, parameters "
                                   "and packages.")
    p.add_argument("dir", help="model folder (holding model_manifest.yaml)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..manifest.lineage import render_text, to_dict, trace

    lineage = trace(args.dir)
    print(json.dumps(to_dict(lineage), indent=2, sort_keys=True) if args.json else render_text(lineage))
    return 0
