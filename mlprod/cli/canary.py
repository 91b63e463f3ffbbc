"""``mlprod canary start | step | status``: a canary rollout driven by its guardrails (mlprod.traffic.canary)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "canary", help="start, step or show a canary rollout (guardrails, ramp, automatic rollback)",
        description="start: begin a rollout of NAME@canary against NAME@champion (deployment.mode: canary). step: "
                    "evaluate the guardrails on the canary's rows in the prediction log (and labels, and an "
                    "optional serve /metrics page), then advance the ramp, hold, or roll back (the canary alias "
                    "moved back, recorded in mlprod registry history); at the last step the champion moves through "
                    "mlprod promote's gates. Run it on a schedule or as a monitoring-pipeline stage; it is "
                    "idempotent. status: show the rollout. plan: before starting, the regression of the realised accuracy each ramp step catches with 80 %% power, for --units-per-step labelled units a step. Exit codes: 0 done (whatever the action), 2 bad "
                    "settings, state or registry.")
    p.add_argument("action", choices=("start", "step", "status", "plan"))
    p.add_argument("--version", metavar="N", help="start: point NAME@canary at version N first (the challenger)")
    p.add_argument("--params-file", metavar="FILE", help="params file (default: the project's params.yaml)")
    p.add_argument("--metrics-url", metavar="URL", help="step: a serve /metrics page (canary latency, errors)")
    p.add_argument("--min-rows", type=int, default=100,
                   help="step: canary rows (units per arm for comparisons) before a guardrail is judged (100)")
    p.add_argument("--alpha", type=float, default=0.05,
                   help="step: false-rollback rate of the always-valid tests over all steps (0.05)")
    p.add_argument("--tau2", type=float, help="step: the mSPRT mixing variance (default: max_metric_drop squared)")
    p.add_argument("--decision-file", metavar="FILE",
                   help="step: where the decision record goes (default: monitoring/canary/decision.json)")
    p.add_argument("--units-per-step", type=int, metavar="N", help="plan: labelled units arriving per ramp step")
    p.add_argument("--baseline", type=float, metavar="P", help="plan: the champion's accuracy, e.g. 0.8")
    p.add_argument("--json", action="store_true", help="print the decision / state / plan as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..outpaths import check_file
    from ..traffic import canary

    project = canary.load_project(args.params_file)
    if args.action == "status":
        from ..traffic.canary_state import read_state

        ramp = project.canary.ramp
        state = read_state(project.state_file, project.canary.ramp)
        if state is None:  # a question with an answer, not an error
            print(f"{project.canary.model}: no canary rollout has started ({project.state_file} does not exist); "
                  "mlprod canary start begins one")
            return 0
        if args.json:
            print(json.dumps(state.to_dict(), indent=2, sort_keys=True))
            return 0
        print(f"{state.model}: canary version {state.canary_version} against champion {state.champion_version} "
              f"({state.experiment}); {state.status}, step {state.step} of {len(ramp) - 1} "
              f"({state.share(ramp):g} % of units), step started {state.step_started}")
        for entry in state.history[-5:]:
            print(f"  {entry.get('time')}  step {entry.get('step')}  {entry.get('action')}  "
                  f"{'; '.join(entry.get('reasons') or [])}")
        return 0
    if args.action == "plan":
        return _plan(project, args)
    if args.action == "start":
        state = canary.start(project, version=args.version)
        print(f"mlprod canary: started {state.model} version {state.canary_version} against champion "
              f"{state.champion_version}: step 0, {state.share(project.canary.ramp):g} % of units "
              f"({project.state_file})", file=sys.stderr)
        return 0
    if args.min_rows < 1 or not 0 < args.alpha < 0.5 or (args.tau2 is not None and not args.tau2 > 0):
        raise ConfigError(f"expected --min-rows >= 1, 0 < --alpha < 0.5 and --tau2 > 0; got {args.min_rows}, "
                          f"{args.alpha}, {args.tau2}")
    target = check_file(args.decision_file or project.root / canary.DECISION_FILE, what="--decision-file")
    settings = canary.StepSettings(min_rows=args.min_rows, alpha=args.alpha, tau2=args.tau2,
                                   metrics_url=args.metrics_url)
    decision = canary.step(project, settings)
    canary.write_decision(decision, target)
    if args.json:
        print(json.dumps(decision, indent=2, sort_keys=True))
    else:
        from ..traffic.guardrails import Check

        for check in decision["checks"]:
            print(Check(**check).line())
        print(f"{decision['action'].upper()}: {'; '.join(decision['reasons'])}")
    print(f"mlprod canary: {decision['action']} ({decision['status']}, step {decision.get('next_step', decision['step'])}"
          f"); decision written to {target}", file=sys.stderr)
    return 0


def _plan(project, args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..traffic.guardrails import SEQUENTIAL_TESTS, ramp_plan

    if args.units_per_step is None or args.units_per_step < 1 or args.baseline is None or not 0 < args.baseline < 1:
        raise ConfigError("mlprod canary plan: expected --units-per-step N (labelled units a step, N >= 1) and "
                          f"--baseline P (the champion's accuracy, 0 < P < 1); got {args.units_per_step}, "
                          f"{args.baseline}")
    if args.min_rows < 1 or not 0 < args.alpha < 0.5 or (args.tau2 is not None and not args.tau2 > 0):
        raise ConfigError(f"expected --min-rows >= 1, 0 < --alpha < 0.5 and --tau2 > 0; got {args.min_rows}, "
                          f"{args.alpha}, {args.tau2}")
    allowed = project.canary.guardrails.max_metric_drop
    rows = ramp_plan(list(project.canary.ramp), args.units_per_step, args.baseline, drop=allowed,
                     tau2=args.tau2 or max(allowed, 1e-3) ** 2, alpha=args.alpha / SEQUENTIAL_TESTS,
                     min_rows=args.min_rows)
    if args.json:
        print(json.dumps({"baseline": args.baseline, "max_metric_drop": allowed, "power": 0.8,
                          "units_per_step": args.units_per_step, "steps": rows}, indent=2, sort_keys=True))
        return 0
    print(f"{project.canary.model}: {args.units_per_step} labelled units a step, champion accuracy {args.baseline:g}, "
          f"allowed drop {allowed:g}; a regression is rolled back with 80 % power by the end of a step when the "
          "canary's accuracy falls at least this far below the champion's:")
    print(f"  {'step':>4}  {'canary %':>8}  {'canary units':>12}  {'champion units':>14}  detectable fall")
    for index, row in enumerate(rows):
        delta = row["detectable_drop"]
        text = "too few units" if delta is None else f"{delta * 100:.1f} points"
        print(f"  {index:>4}  {row['share']:>8g}  {row['canary_units']:>12}  {row['champion_units']:>14}  {text}")
    return 0
