"""``mlprod rollback MODEL``: move ``champion`` back to the previous champion."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "rollback", help="move the champion alias back to the previous champion",
        description="Move MODEL's 'champion' alias back to the version that was champion before the current one "
                    "(following the alias-move log; repeated rollbacks go further back). The move is recorded with "
                    "its reason. Exit codes: 0 rolled back, 2 nothing to roll back to, bad input or unreachable "
                    "registry.")
    p.add_argument("model", help="registered model name")
    p.add_argument("--reason", default="", help="why (recorded in the history)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..registry.champion import rollback
    from ..registry.store import Registry

    registry = Registry.open()
    move = rollback(args.model, reason=args.reason, registry=registry)
    print(f"{args.model}: champion version {move.from_version} -> {move.to_version} (rollback #{move.seq}; "
          f"reason: {move.reason})")
    return 0
