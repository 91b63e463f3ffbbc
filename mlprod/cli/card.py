"""``mlprod card [DIR]``: write the model card of the model in DIR (Markdown, HTML, JSON)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

_INPUTS = (  # (option, CardInputs field, help)
    ("--metrics", "metrics_file", "evaluation metrics JSON (default: metrics/evaluation.json)"),
    ("--evaluation-data", "evaluation_data", "labelled evaluation data, CSV/Parquet (default: the manifest's)"),
    ("--training-data", "training_data", "training data, CSV/Parquet (default: the manifest's)"),
    ("--plots-dir", "plots_dir", "folder with roc.csv, precision_recall.csv, calibration.csv (default: plots)"),
    ("--validation", "validation_file", "validation summary (default: metrics/validation.json)"),
    ("--validation-details", "validation_details", "validation details (default: reports/validation/results.json)"),
    ("--decision", "decision_file", "registry decision record (default: reports/register/decision.json)"),
    ("--drift", "drift_file", "drift report (default: metrics/drift.json)"),
    ("--fallback", "fallback_dir", "the fallback model's folder: a card section on it when its manifest is there "
                                   "(default: models/fallback)"),
    ("--fallback-metrics", "fallback_metrics_file", "the fallback's metrics (default: metrics/fallback.json)"),
    ("--fallback-decision", "fallback_decision_file", "the fallback's registry decision record (default: "
                                                      "reports/register/fallback_decision.json)"),
    ("--params-file", "params_file", "params.yaml with the card: and drift_report sections (default: found "
                                     "here or in a parent folder)"),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "card", help="write the model card of a model (Markdown, HTML, JSON)",
        description="Build the model card of the model in DIR from its manifest, the evaluation results, the "
                    "validation summary, the registry decision record, the drift report and the card: section of "
                    "params.yaml, measuring slices and failure modes on the evaluation data, and write "
                    "model_card.md/.html/.json. Every input but DIR is optional: the card says what is missing. "
                    "Pass 'none' to leave an input out. Exit codes: 0 written, 2 bad input.")
    p.add_argument("dir", nargs="?", default="models/model", help="model folder (default: models/model)")
    p.add_argument("-o", "--output-dir", default="reports/model_card",
                   help="folder to write the card to (default: reports/model_card; a symlinked folder is refused)")
    p.add_argument("-f", "--format", dest="formats", action="append", choices=("markdown", "html", "json"),
                   help="write only this format (repeatable; default: all three)")
    for option, field, text in _INPUTS:
        p.add_argument(option, dest=field, metavar="PATH", help=text)
    p.add_argument("-s", "--set", dest="settings", action="append", default=[], metavar="KEY=VALUE",
                   help="analysis setting, e.g. -s min_slice_rows=200 -s slice_metric=brier (value read as YAML); "
                        "overrides model_card.settings of params.yaml")
    p.add_argument("--print", dest="show", action="store_true", help="also print the Markdown card")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..card.assemble import build_card
    from ..card.render import get_renderer, write_card
    from ..outpaths import check_dir

    formats = args.formats or ("markdown", "html", "json")
    check_dir(args.output_dir, what="--output-dir", files=[get_renderer(name)[0] for name in formats])
    inputs = {}
    for _, field, _ in _INPUTS:
        value = getattr(args, field)
        if value is not None:
            inputs[field] = None if value.lower() == "none" else value
    settings = {**_params_settings(inputs.get("params_file", "auto")), **_settings(args.settings)}
    card = build_card(args.dir, settings=settings, **inputs)
    paths = write_card(card, args.output_dir, formats)
    if args.show and "markdown" in paths:
        sys.stdout.write(paths["markdown"].read_text(encoding="utf-8"))
    print(f"mlprod card: {summary(card)}\n  wrote {', '.join(str(p) for p in paths.values())}", file=sys.stderr)
    return 0


def summary(card) -> str:
    d = card.details
    parts = [f"{d.name} {d.version}"]
    if card.slices is not None:
        lims = card.slices.limitations
        parts.append(f"{len(lims)} known limitation(s)"
                     + (f" ({', '.join(f'{s.feature} = {s.segment}' for s in lims)})" if lims else ""))
    if card.failure_modes is not None:
        parts.append(f"{len(card.failure_modes.failing)} of {len(card.failure_modes.probes)} failure probes fail")
    if card.missing:
        parts.append(f"{len(card.missing)} input(s) missing: {', '.join(m.input for m in card.missing)}")
    return "; ".join(parts)


def _params_settings(params_file: str | None) -> dict:
    """``model_card.settings`` of params.yaml: the pipeline stage's settings, so a card made by hand
    measures the model the same way (``--set`` overrides them)."""
    from ..errors import CardError
    from ..stages.params import find_params_file, load_params_file

    path = find_params_file() if params_file == "auto" else params_file
    if path is None or not Path(path).is_file():
        return {}
    section = load_params_file(path).get("model_card")
    settings = section.get("settings") if isinstance(section, dict) else None
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise CardError(f"{path}: model_card.settings must be a mapping of setting names to values, e.g. "
                        f"{{min_slice_rows: 100}}; got {settings!r}")
    return settings


def _settings(items: list[str]) -> dict:
    from ..errors import CardError
    from ..yamlio import loads

    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise CardError(f"--set {item!r}: expected KEY=VALUE, e.g. --set min_slice_rows=200")
        out[key.strip()] = loads(text, source=f"--set {item}") if text.strip() else ""
    return out
