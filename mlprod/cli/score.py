"""``mlprod score MODEL DATA -o OUT``: score every new batch once, after the data gates."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EXIT_CODES = ("Exit codes: 0 every batch scored, already scored or quarantined; 1 a batch was quarantined with "
              "--fail-on-quarantine; 2 bad input (model, data, options, registry); 75 another run holds the "
              "predictions folder's lock (nothing done).")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score", help="score new batches (a file or an inbox folder) into a predictions folder",
        description="Score DATA (a CSV/Parquet batch file, or an inbox folder of them; the batch id is the file "
                    "name without extension) with MODEL (a model folder, or NAME@alias resolved in the registry "
                    "now). Each new batch first passes the data gates (the schema, with the target optional, and "
                    "the model's reference profile); a failing batch is quarantined with its report and the others "
                    "go on. Batches already committed in OUT are never rescored. Key, date and target columns come "
                    "from params.yaml's project section. Rows are scored through the resilient predictor with "
                    "params.yaml's serving section (tiers primary -> fallback -> rules -> default, filled inputs, "
                    "review routing; docs/serving.md): the predictions record says per row which tier answered. "
                    "params.yaml's deployment section applies per row (docs/traffic.md): ab and canary score each "
                    "unit with its arm's model (columns experiment and arm); shadow also scores every row with the "
                    "shadow model, whose rows go only to the prediction log. " + EXIT_CODES)
    p.add_argument("model", metavar="MODEL", help="model folder (e.g. models/model) or NAME@alias (e.g. "
                                                   "lead-scoring@champion)")
    p.add_argument("data", metavar="DATA", help="a batch file or an inbox folder")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="the predictions folder")
    p.add_argument("--threshold", type=float, metavar="T",
                   help="decision threshold (default: the one in the model's manifest, else 0.5)")
    p.add_argument("--fallback", metavar="REF",
                   help="fallback model: a model folder (e.g. models/fallback) or NAME@alias resolved in the registry "
                        "now (e.g. lead-scoring-fallback@champion); rows the model fails go to it before the rules "
                        "(default: found as mlprod serve finds it, NAME-fallback@alias or params.yaml's "
                        "fallback.evaluated_dir)")
    p.add_argument("--no-fallback", action="store_true", help="score without a fallback model")
    p.add_argument("--time-budget", type=float, metavar="SECONDS",
                   help="seconds a model may take per batch before its rows go down a tier (default: no "
                        "limit; serving.time_budget_ms is per HTTP request and does not apply to batches)")
    p.add_argument("--schema", metavar="FILE", help="schema file for the gates (default: params.yaml's "
                                                     "validate.schema_file, else schema.yaml, if present)")
    p.add_argument("--no-gates", action="store_true", help="score without the data gates")
    p.add_argument("--reference", metavar="PROFILE",
                   help="reference profile for the statistical gates (default: the model folder's "
                        "reference_profile.json)")
    p.add_argument("--quarantine", metavar="DIR", help="where failing batches go (default: OUT/../quarantine)")
    p.add_argument("--fail-on-quarantine", action="store_true", help="stop with exit code 1 at a quarantined batch")
    p.add_argument("--dask", metavar="ADDRESS", help="Dask scheduler address (e.g. tcp://127.0.0.1:8786): each batch "
                   "is gated, scored and committed on a worker (default: params.yaml dask.address; docs/dask.md)")
    p.add_argument("--prom", metavar="FILE", help="write the run's counts as a Prometheus textfile")
    p.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                   help="wait this long for another run holding the lock ('inf': as long as it takes; default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from ..monitoring.inbox import score_inbox, write_prometheus
    from ..stages.params import load_params_file, project_root
    from ..project.facts import read_facts

    root, params_file = project_root()
    params = load_params_file(params_file) if params_file else {}
    facts = read_facts(params, params_file or "params.yaml")
    from ..project.scheduler import dask_address

    dask = dask_address(params, str(params_file or "params.yaml"), args.dask)
    schema = None
    if args.schema and args.no_gates:
        raise ConfigError("--schema and --no-gates contradict each other; give one")
    if args.schema:
        schema = args.schema
    elif not args.no_gates:
        named = (params.get("validate") or {}).get("schema_file") if isinstance(params.get("validate"), dict) else None
        for candidate in (named, "schema.yaml"):
            if candidate and (root / candidate).is_file():
                schema = root / candidate
                break
    if schema is None and not args.no_gates:
        print("mlprod score: no schema file found: the data gates do not run (give --schema FILE, or --no-gates "
              "to silence this)", file=sys.stderr)
    if args.wait < 0 or math.isnan(args.wait):
        raise ConfigError(f"--wait must be a number of seconds >= 0, got {args.wait}")
    if args.time_budget is not None and not (0 < args.time_budget < math.inf):
        raise ConfigError(f"--time-budget must be a number of seconds > 0, got {args.time_budget}")
    from ..serving.fallbacks import fallback_for
    from ..serving.settings import ServingSettings

    if args.fallback and args.no_fallback:
        raise ConfigError("--fallback and --no-fallback contradict each other; give one")
    fallback = args.fallback
    if fallback is None and not args.no_fallback:
        fallback = fallback_for(args.model, root=root, params=params)

    serving = ServingSettings.from_mapping(params.get("serving"))
    from ..serving.predictionlog import PredictionLogSettings
    from ..traffic.deployment import DeploymentSettings

    deployment = DeploymentSettings.from_mapping(params.get("deployment"), model_name=facts.model_name,
                                             key=facts.key)
    log_settings = PredictionLogSettings.from_mapping(params.get("prediction_log"))
    result = score_inbox(args.model, args.data, args.output, threshold=args.threshold, schema=schema,
                         reference=args.reference, quarantine=args.quarantine,
                         fail_on_quarantine=args.fail_on_quarantine, key=facts.key, date_column=facts.date_column,
                         target=facts.target, root=root, wait=args.wait, fallback=fallback, serving=serving,
                         time_budget=args.time_budget, deployment=deployment, prediction_log=log_settings,
                         dask=dask)
    for batch in result.results:
        if batch.status == "quarantined":
            print(f"mlprod score: quarantined {batch.batch_id}: {batch.detail}", file=sys.stderr)
        elif batch.degraded():
            print(f"mlprod score: {batch.degraded()}", file=sys.stderr)
    if args.prom:
        write_prometheus(result, Path(args.prom))
    model = result.model
    using = f" with {model['name']} {model['version']}" + (
        f" (registry version {model['registry_version']})" if model and model["registry_version"] else "") \
        if model else ""
    fallback = result.fallback
    using += f" (fallback {fallback['name']} {fallback['version']})" if fallback else ""
    print(f"mlprod score: {result.line()}{using} into {result.predictions_dir}", file=sys.stderr)
    if result.tiers_line():
        print(f"mlprod score: {result.tiers_line()}", file=sys.stderr)
    traffic = [b for b in result.results if b.traffic]
    if traffic:
        rows: dict[str, int] = {}
        for batch in traffic:
            for arm, entry in batch.traffic["arms"].items():
                rows[arm] = rows.get(arm, 0) + entry["rows"]
        outside = sum(b.traffic["not_in_experiment"] for b in traffic)
        print(f"mlprod score: {deployment.mode} {traffic[0].traffic['experiment']}: rows by arm "
              + ", ".join(f"{arm} {n:,}" for arm, n in rows.items()) + f"; not in the experiment {outside:,}",
              file=sys.stderr)
    if result.note:
        print(f"mlprod score: note: {result.note}", file=sys.stderr)
    return 0
