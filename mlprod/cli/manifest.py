"""``mlprod manifest show|verify|fetch DIR``: read and check a model's manifest, fetch its data by md5."""

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
    fetch = verbs.add_parser(
        "fetch", help="pull the model's data by md5 from the DVC remote its manifest names",
        description="For each data reference in DIR's manifest, write FOLDER/<role>/<file>.dvc with the recorded "
                    "md5 and run dvc pull -r NAME (the remote the manifest records) on them: the exact data the "
                    "model was built from, whatever the commit (docs/team.md). Exit codes: 0 fetched, 2 could not.")
    fetch.add_argument("dir", help="model folder (holding model_manifest.yaml)")
    fetch.add_argument("--to", required=True, metavar="FOLDER", help="folder inside the project to pull into")
    fetch.add_argument("-r", "--remote", help="pull from this DVC remote instead of the one the manifest names")
    fetch.set_defaults(func=run_fetch)


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


def run_fetch(args: argparse.Namespace) -> int:
    from ..manifest.fetch import fetch_data

    for item in fetch_data(args.dir, args.to, remote=args.remote):
        print(f"{item.ref.role} {item.ref.path} (md5 {item.ref.md5}) -> {item.path}"
              f"  [remote {item.remote or 'DVC default'}]")
    return 0
