"""``mlprod promote MODEL``: evaluate a version's gates against the champion and move ``champion`` if they pass."""

from __future__ import annotations

import argparse
import json
import sys

RECORD_NOT_WRITTEN = 3  # exit code: the decision was made and recorded in the registry, the file was not written


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "promote", help="gate a registered version against the champion and promote it",
        description="Score VERSION (default: the newest) and the current champion on the same holdout file, apply "
                    "the gates of params.yaml's 'register' section, print the gate table and move the 'champion' "
                    "alias only if every gate passes (or with --force and a --reason, which are recorded). "
                    "Exit codes: 0 promoted (or already champion), 1 gates failed (rejected, champion unchanged), "
                    "2 bad input or unreachable registry (every output path is checked before the registry is "
                    "touched), 3 decided and recorded in the registry (possibly promoted) but --decision-file "
                    "could not be written.")
    p.add_argument("model", help="registered model name")
    p.add_argument("--version", help="registry version to promote (default: the newest)")
    p.add_argument("--force", action="store_true", help="promote even if gates fail (needs --reason)")
    p.add_argument("--reason", default="", help="why (required with --force; recorded in the history)")
    p.add_argument("--holdout", metavar="FILE", help="holdout data (default: register.holdout_path)")
    p.add_argument("--params-file", metavar="FILE", help="params file with the gates (default: params.yaml)")
    p.add_argument("--decision-file", metavar="FILE",
                   help="also write the decision record (JSON) here ('-': print it instead of the table, as --json)")
    p.add_argument("--json", action="store_true", help="print the decision record as JSON instead of the table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import MlprodError, RegistryError
    from ..outpaths import check_file
    from ..registry.champion import evaluate, latest_version, promote, unevaluated
    from ..registry.decision import render
    from ..registry.settings import load_settings
    from ..registry.store import Registry

    if args.force and not args.reason.strip():
        raise RegistryError("--force needs --reason TEXT: a forced promotion is recorded with its reason")
    decision_file = None
    if args.decision_file:  # checked before the registry is touched: a bad path never follows a move
        decision_file = check_file(args.decision_file, what="--decision-file", stdout_ok=True)
        args.json = args.json or decision_file is None
    settings = load_settings(args.params_file)
    registry = Registry.open()
    version = args.version or latest_version(registry, args.model)
    inputs = settings.inputs(holdout_path=args.holdout)
    try:
        decision = evaluate(args.model, version, inputs, registry=registry)
    except MlprodError as exc:
        if not args.force:
            raise
        decision = unevaluated(args.model, version, inputs, str(exc), registry=registry)  # recorded as such
    decision = promote(decision, force=args.force, reason=args.reason, registry=registry)
    print(json.dumps(decision.to_dict(), indent=2, sort_keys=True) if args.json else render(decision))
    if decision_file is not None and not _write_record(decision, decision_file):
        return RECORD_NOT_WRITTEN
    if decision.outcome == "rejected":
        print(f"mlprod promote: {args.model} version {version} rejected; the champion is unchanged", file=sys.stderr)
        return 1
    return 0


def _write_record(decision, path) -> bool:
    """Write the decision record; if that fails now (after the registry may have changed), say exactly what
    happened instead of letting the error read as if nothing had been done."""
    from ..errors import MlprodError
    from ..registry.decision import write_decision

    try:
        write_decision(decision, path)
    except MlprodError as exc:
        moved = decision.alias_move or {}
        done = {"promoted": f"promoted: champion moved from version {moved.get('from_version') or 'none'} to "
                            f"{moved.get('to_version')}",
                "forced": f"promoted by force: champion moved from version {moved.get('from_version') or 'none'} to "
                          f"{moved.get('to_version')}",
                "rejected": "rejected: the champion is unchanged",
                "unchanged": "unchanged: it already was the champion"}.get(decision.outcome, decision.outcome)
        print(f"mlprod promote: {decision.model} version {decision.challenger['version']} {done}; the decision "
              f"record was NOT written to {path} ({exc}). It is kept in the registry as {decision.reference}",
              file=sys.stderr)
        return False
    return True
