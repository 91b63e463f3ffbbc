"""``python -m mlprod.project.template --sync`` (copy the repository's notebooks and project files into the
template) or ``--check`` (list what differs; exit 1 when something does)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import differences, repository, sync


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlprod.project.template", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--sync", action="store_true", help="copy the repository's files into the template")
    action.add_argument("--check", action="store_true", help="list the files that differ")
    parser.add_argument("--repo", type=Path, default=None, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    repo = args.repo or repository()
    if not (repo / "dvc.yaml").is_file():
        print(f"{repo}: no dvc.yaml; pass --repo with the repository root", file=sys.stderr)
        return 2
    changed = sync(repo) if args.sync else differences(repo)
    verb = "synced" if args.sync else "differs"
    for name in changed:
        print(f"{verb}: {name}")
    if not changed:
        print("template is up to date")
    return 1 if changed and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
