"""``mlprod manifest show|verify DIR``: read and check a model's manifest."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("manifest", help="show or verify a model's manifest",
                       description="Show or verify the model_manifest.yaml in a model folder.")
    verbs = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = verbs.add_parser("show", help="print the manifest", description="Print the manifest of the model in DIR.")
    show.add_argument("dir", help="model folder (holding model_manifest.yaml)")
    show.add_argument("--json", action="store_true", help="print JSON instead of YAML")
    show.set_defaults(func=run_show)
    verify = verbs.add_parser(
        "verify", help="check the artifact (and, with --release, lineage) against the manifest",
        description="Check that the model artifact in DIR is the one its manifest describes (sha256, size, only "
                    "trusted object types), without loading it. --release also requires a clean committed tree, "
                    "complete lineage and data hashes that agree with dvc.lock. Exit codes: 0 verified, "
                    "1 a check failed, 2 no readable manifest.")
    verify.add_argument("dir", help="model folder (holding model_manifest.yaml)")
    verify.add_argument("--release", action="store_true", help="also apply the release checks")
    verify.set_defaults(func=run_verify)


def run_show(args: argparse.Namespace) -> int:
    from ..manifest.schema import dumps, read_manifest

    manifest = read_manifest(args.dir)
    if args.json:
        print(json.dumps(manifest.to_dict(), indent=2, sort_keys=True))
    else:
        sys.stdout.write(dumps(manifest))
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..manifest.verify import verify

    result = verify(args.dir, release=args.release)
    m = result.manifest
    mode = "release" if args.release else "basic"
    for check in result.checks:
        print(f"  {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.message}")
    if result.passed:
        print(f"{m.name} {m.version} in {args.dir}: verified ({mode} checks)")
        return 0
    print(f"{m.name} {m.version} in {args.dir}: {len(result.failures)} check(s) failed ({mode} checks)",
          file=sys.stderr)
    return 1
