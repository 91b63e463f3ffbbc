"""The model card as Markdown that reviews well in a pull request: deterministic, plain tables, no HTML. User text
goes through :mod:`mlprod.reporting.markdown` (escaped, links defused), so nothing in params.yaml or a data file can
inject markup into a Markdown viewer."""

from __future__ import annotations

from typing import Sequence

from .. import __version__
from ..reporting.markdown import cell, code, code_cell, esc, table
from . import header, hub
from .schema import ModelCard
from .text import (
    METRIC_DEFINITIONS,
    METRIC_ORDER,
    PROBE_LABELS,
    PROBE_LEGEND,
    batch_line,
    change_word,
    difference,
    fallback_when,
    judgement_rule,
    limitation_line,
    metric_label,
    metric_value,
    num,
    pct,
    probe_cell,
    probe_matrix,
    signed,
    size,
)

NOT_STATED = "_not stated_ (add `{key}` to the `card:` section of params.yaml)"


def render_markdown(card: ModelCard) -> str:
    out: list[str] = hub.front_matter(card)
    for section in (_header, _get_started, _details, _intended_use, _factors, _metrics, _data, _quantitative, _limitations,
                    _failure_modes, _validation, _comparison, _fallback, _ethics, _caveats, _rollback, _monitoring,
                    _provenance):
        lines = section(card)
        if lines:  # an optional section (the fallback) leaves no trace when it has nothing to say
            out += lines + [""]
    return "\n".join(out).rstrip() + "\n"


def _stated(items: Sequence[str], key: str) -> list[str]:
    return [f"- {esc(i)}" for i in items] if items else [NOT_STATED.format(key=key)]


def _header(card: ModelCard) -> list[str]:
    d = card.details
    out = [f"# Model card: {esc(card.title)} {esc(d.version)}", ""]
    if d.description:
        out += [esc(d.description), ""]
    out.append("_Written by mlprod from what the pipeline recorded and measured; the human-written parts come from "
               "the `card:` section of params.yaml._")
    if card.missing:
        out += ["", f"> **Incomplete card:** {len(card.missing)} input(s) were not available: "
                    + ", ".join(esc(m.input) for m in card.missing) + " (see *How this card was made*)."]
    out += ["", "## At a glance", ""]
    rows = [("Model", f"{cell(d.name)} {cell(d.version)} ({cell(d.estimator)}), created {cell(d.created_at[:10])}"),
            ("Owners", ", ".join(cell(o) for o in card.info.owners) or "_not stated_"),
            ("License", cell(card.info.license) or "_not stated_")]
    p = card.performance
    if "roc_auc" in p.holdout:
        rows.append(("Holdout ROC AUC",
                     f"{num(p.holdout['roc_auc'])} on {metric_value('rows', p.holdout.get('rows'))} rows"))
    if card.slices is not None:
        lims = card.slices.limitations
        rows.append(("Known limitations", "; ".join(f"{cell(s.feature)} = {cell(s.segment)} ({card.slices.label} "
                                                    f"{num(s.value)} vs {num(card.slices.overall)})" for s in lims)
                     or "no segment well below overall"))
    if card.failure_modes is not None:
        fm = card.failure_modes
        errors = sum(p.status == "error" for p in fm.probes)
        invalid = sum(p.status == "invalid" for p in fm.probes)
        batch = "large batch ok" if fm.batch and fm.batch.valid else "large batch NOT ok"
        rows.append(("Failure modes", f"{errors} of {len(fm.probes)} probes raise errors, {invalid} give invalid "
                                      f"output; {batch}"))
    if card.validation is not None:
        v = card.validation
        rows.append(("Data validation", f"{cell(v.status)} ({v.failed} failed, {v.warnings} warnings)"))
    for status in (header.promotion(card), header.drift(card)):
        if status is not None:
            rows.append((status.label, f"{cell(status.value)} ({cell(status.note)})"))
    f = card.fallback
    if f is not None:
        auc = f", holdout ROC AUC {num(f.holdout['roc_auc'])}" if "roc_auc" in f.holdout else ""
        rows.append(("Fallback", f"{cell(f.name)} {cell(f.version)} ({cell(f.estimator)}){auc}"
                     + (f"; decision: {cell(f.decision)}" if f.decision else "")))
    rows.append(("Rollback to", cell(card.rollback.previous or card.rollback.summary)))
    out += table(["", ""], [(f"**{k}**", v) for k, v in rows])
    why = header.explanation(card)
    return out + (["", f"> {esc(why)}"] if why else [])


def _get_started(card: ModelCard) -> list[str]:
    return ["## How to get started", ""] + hub.get_started(card)


def _details(card: ModelCard) -> list[str]:
    d, info = card.details, card.info
    commit = (f"{code(d.git_commit[:12])} ({'uncommitted changes' if d.git_dirty else 'clean'})" if d.git_commit
              else "no git commit recorded")
    out = ["## Model details", "",
           f"- **Name and version:** {esc(d.name)} {esc(d.version)} (previous: {esc(d.previous_version or 'none')})",
           f"- **Created:** {esc(d.created_at)}",
           f"- **Type:** {esc(d.estimator)} in {code(d.model_type)}",
           f"- **Artifact:** {code(d.artifact)}, {size(d.size)}, sha256 {code(d.sha256)}",
           f"- **Output:** {esc(d.output)}",
           f"- **Code:** git commit {commit}",
           "- **Owners:** " + (", ".join(esc(o) for o in info.owners) or NOT_STATED.format(key="owners")),
           "- **Contact:** " + (esc(info.contact) or NOT_STATED.format(key="contact")),
           "- **License:** " + (esc(info.license) or NOT_STATED.format(key="license")),
           "- **Citation:** " + (esc(info.citation) or NOT_STATED.format(key="citation"))]
    if info.references:
        out.append("- **References:** " + "; ".join(esc(r) for r in info.references))
    out += ["", "### Inputs", ""] + table(["input", "dtype", "treated as"],
                                          [(cell(i.name), cell(i.dtype), i.kind) for i in d.inputs])
    if d.hyperparameters:
        out += ["", f"### Hyperparameters ({esc(d.estimator)})", ""]
        out += table(["parameter", "value"], [(cell(k), cell(v)) for k, v in d.hyperparameters.items()])
    if d.packages or d.python:
        out += ["", "### Software (from the manifest)", ""]
        rows = ([("python", cell(d.python))] if d.python else []) + [(cell(k), cell(v)) for k, v in d.packages.items()]
        out += table(["package", "version"], rows)
    return out


def _intended_use(card: ModelCard) -> list[str]:
    info = card.info
    return (["## Intended use", "", "**Purpose.** " + (esc(info.purpose) or NOT_STATED.format(key="purpose")), "",
             "**Intended users:**", ""] + _stated(info.intended_users, "intended_users")
            + ["", "**Intended uses:**", ""] + _stated(info.intended_use, "intended_use")
            + ["", "**Out of scope:**", ""] + _stated(info.out_of_scope_use, "out_of_scope_use"))


def _factors(card: ModelCard) -> list[str]:
    out = ["## Factors", "", "**Relevant factors (stated):**", ""] + _stated(card.info.factors, "factors")
    if card.slices is not None:
        inputs = {i.name: i.kind for i in card.details.inputs}
        cats = [f for f in card.slices.features if inputs.get(f) == "categorical"]
        nums = [f for f in card.slices.features if inputs.get(f) == "numeric"]
        out += ["", "**Evaluated factors:** the card measures the model separately for each value of "
                + (", ".join(code(f) for f in cats) or "no categorical input") + " and for "
                + f"{card.settings.numeric_bins} quantile bins of "
                + (", ".join(code(f) for f in nums) or "no numeric input")
                + " (bin edges from the evaluation data); see *Quantitative analyses*."]
    return out


def _metrics(card: ModelCard) -> list[str]:
    p, s = card.performance, card.settings
    out = ["## Metrics", "",
           f"Label: {code(p.target)} (1 = positive). Decisions (accuracy, precision, recall, F1) use the threshold "
           f"score >= {num(p.threshold, 2)}.", ""]
    names = [m for m in METRIC_DEFINITIONS if m in p.holdout or m == s.slice_metric]
    out += [f"- **{metric_label(m)}**: {esc(METRIC_DEFINITIONS[m])}" for m in names]
    if card.slices is not None:
        out += ["", f"Segments are compared on **{esc(card.slices.label)}**; "
                    f"{judgement_rule(s, card.slices.label)}."]
    return out


def _data(card: ModelCard) -> list[str]:
    out: list[str] = []
    for title, ds, key in (("Evaluation data", card.evaluation_data, "evaluation_data"),
                           ("Training data", card.training_data, "training_data")):
        out += [f"## {title}", ""]
        if ds is None:
            out += ["_not available_", ""]
            continue
        out.append(f"- **File:** {code(ds.path)}" + (f" (dataset id {code(ds.dataset_id)})" if ds.dataset_id else ""))
        rate = f", {ds.positives:,} positive ({pct(ds.positive_rate)})" if ds.positives is not None else ""
        out.append(f"- **Rows:** {num(ds.rows)}{rate}")
        if ds.period:
            out.append(f"- **Period:** {esc(ds.period)}")
        out += ["- **Description:** " + (esc(ds.description) or NOT_STATED.format(key=key)), ""]
    return out[:-1]


def _quantitative(card: ModelCard) -> list[str]:
    p = card.performance
    out = ["## Quantitative analyses", "", f"### Overall (from {code(p.source)})", ""]
    names = [m for m in METRIC_ORDER if m in p.holdout or m in p.training]
    out += table(["metric", "holdout", "training"],
                 [(metric_label(m), metric_value(m, p.holdout.get(m)), metric_value(m, p.training.get(m)))
                  for m in names], "lrr")
    sl = card.slices
    if sl is not None:
        out += ["", f"### By segment ({esc(sl.label)}; overall {num(sl.overall)} on {sl.rows:,} rows)", ""]
        out += [f"Selected: share of the segment's rows with score >= {num(sl.threshold, 2)} (overall "
                f"{pct(sl.selected_share)})."]
        out += [""] + _segment_table(sl, sl.segments)
        out += ["", f"### Intersections ({esc(sl.label)} in cells of two inputs)", ""]
        if not sl.pairs:
            out.append("_no pair of inputs to intersect (set `intersection_columns` in the card settings)_")
        elif not sl.intersections:
            out.append(f"No cell of {', '.join(' × '.join(code(c) for c in p) for p in sl.pairs)} has at least "
                       f"{card.settings.min_intersection_rows:,} rows.")
        else:
            out += _segment_table(sl, sl.intersections)
            out += ["", f"Cells of {', '.join(' × '.join(code(c) for c in p) for p in sl.pairs)} with at least "
                        f"{card.settings.min_intersection_rows:,} rows (at most {card.settings.max_intersections} pairs)."]
    if card.curves is not None and card.curves.calibration:
        out += ["", f"### Calibration (from {code(card.curves.source)})", ""]
        out += table(["mean predicted", "observed rate"], [(num(x), num(y)) for x, y in card.curves.calibration], "rr")
    if card.curves is not None:
        out += ["", "ROC, precision-recall, calibration and segment plots are in the HTML version of this card."]
    return out


def _segment_table(sl, segments) -> list[str]:
    return table(["input", "segment", "rows", "positives", "positive rate", "selected", "mean score", sl.label, "± SE",
                  "vs overall", "judgement"],
                 [(cell(s.feature), cell(s.segment), f"{s.rows:,}", f"{s.positives:,}", pct(s.positive_rate),
                   pct(s.selected_share), num(s.mean_score), num(s.value), num(s.se),
                   signed(-s.gap if s.gap is not None else None), ("**" + s.note + "**") if s.flagged else s.note)
                  for s in segments], "llrrrrrrrrl")


def _limitations(card: ModelCard) -> list[str]:
    out = ["## Known limitations (found by slice analysis)", ""]
    sl = card.slices
    if sl is None:
        return out + ["_not measured: no evaluation data with labels_"]
    lims = sl.limitations
    if lims:
        out += [f"{i}. {esc(limitation_line(s, sl))}" for i, s in enumerate(lims, 1)]
    else:
        out.append(f"No segment falls well below the overall {esc(sl.label)} of {num(sl.overall)}.")
    crossed = sl.intersection_limitations
    if crossed:
        out += ["", "In cells of two inputs:", ""] + [f"{i}. {esc(limitation_line(s, sl))}"
                                                      for i, s in enumerate(crossed, len(lims) + 1)]
    small = [s for s in sl.segments if s.note.startswith("too few")]
    if small:
        out += ["", "Not judged (too small): " + ", ".join(f"{esc(s.feature)} = {cell(s.segment)} ({s.rows:,} rows)"
                                                           for s in small) + "."]
    return out + ["", f"Rule: {judgement_rule(card.settings, sl.label)}."]


def _failure_modes(card: ModelCard) -> list[str]:
    out = ["## Failure modes (measured)", ""]
    fm = card.failure_modes
    if fm is None:
        return out + ["_not measured: no evaluation data_"]
    out += [f"Each probe breaks one input the same way in all of {fm.sample_rows:,} evaluation rows and scores "
            f"them: missing values, values 10 ranges beyond the min/max of the {esc(fm.range_source)}, a category "
            "never seen, a value of the wrong type. " + PROBE_LEGEND + ".", ""]
    names, rows, errors = probe_matrix(fm)
    out += table(["input"] + [PROBE_LABELS.get(n, n) for n in names],
                 [[cell(f)] + [probe_cell(p, errors) for p in cells] for f, cells in rows])
    empty = [p for p in fm.probes if p.probe == "empty_batch"]
    if empty:
        out += ["", f"**Empty batch** (0 rows): {probe_cell(empty[0], errors)}."]
    if errors:
        out += ["", "Errors:", ""] + [f"{i}. {code(e)}" for i, e in enumerate(errors, 1)]
    if fm.batch is not None:
        out += ["", f"**Large batch:** {esc(batch_line(fm.batch))}."]
    return out


def _validation(card: ModelCard) -> list[str]:
    out = ["## Data validation", ""]
    v = card.validation
    if v is None:
        return out + ["_no validation results available_"]
    out += [f"Gate status **{esc(v.status)}**: {v.checks:,} checks, {v.failed} failed, {v.warnings} warnings "
            f"(from {code(v.source)}).", ""]
    out += table(["data set", "rows", "status", "failed", "warnings"],
                 [(cell(n), f"{r:,}", cell(s), f, w) for n, r, s, f, w in v.datasets], "lrlrr")
    if v.findings:
        out += [""] + [f"- {esc(f)}" for f in v.findings]
    return out


def _comparison(card: ModelCard) -> list[str]:
    out = ["## Comparison with the current champion", ""]
    c = card.comparison
    if c is None:
        return out + ["_not available_"]
    out.append(f"Champion: **{esc(c.champion or 'none')}**; this model: **{esc(c.challenger)}**"
               + (f"; decision: **{esc(c.decision)}**" if c.decision else "") + f" (from {esc(c.source)}).")
    if c.metrics:
        out += [""] + table(["data set", "metric", "champion", "this model", "change", ""],
                            [(cell(m.dataset), metric_label(m.metric), metric_value(m.metric, m.champion),
                              metric_value(m.metric, m.challenger), signed(m.delta) if m.metric != "rows"
                              else signed(m.delta, 0), change_word(m.metric, m.delta)) for m in c.metrics], "llrrrl")
    if c.gates:
        out += ["", "**Gates:**", ""] + table(["gate", "result", "detail"],
                                              [(cell(g.name), g.status, cell(g.detail)) for g in c.gates])
    for title, changes in (("Data changes", c.data_changes), ("Parameter changes", c.parameter_changes)):
        if changes:
            out += ["", f"**{title}:**", ""] + table(["what", "champion", "this model"],
                                                     [(cell(x.what), cell(x.before), cell(x.after)) for x in changes])
        elif c.champion and not any("not available" in n or "not found" in n for n in c.notes):
            out += ["", f"**{title}:** none"]
    if c.notes:
        out += [""] + [f"- {esc(n)}" for n in c.notes]
    return out


def _fallback(card: ModelCard) -> list[str]:
    f, p = card.fallback, card.performance
    if f is None:
        return []
    out = ["## Fallback model", "", esc(fallback_when(f.name)), "",
           f"- **Model:** {esc(f.name)} {esc(f.version)} ({esc(f.estimator)}), sha256 {code(f.sha256[:12])}",
           f"- **Manifest:** {code(f.manifest)}; holdout metrics from {code(f.metrics_source)}"]
    if f.decision:
        champion = f"champion before: {esc(f.champion)}" if f.champion else "no champion before"
        gates = ", ".join(f"{esc(g.name)} {g.status}" for g in f.gates) or "no gates recorded"
        out.append(f"- **Gate decision:** **{esc(f.decision)}** ({champion}; {gates}; from {code(f.decision_source)})")
    names = [m for m in METRIC_ORDER if m in f.holdout or m in p.holdout]
    out += ["", "### Holdout metrics, this model and the fallback", ""]
    out += table(["metric", "this model", "fallback", "fallback - this model"],
                 [(metric_label(m), metric_value(m, p.holdout.get(m)), metric_value(m, f.holdout.get(m)),
                   difference(m, p.holdout.get(m), f.holdout.get(m))) for m in names], "lrrr")
    if f.notes:
        out += [""] + [f"- {esc(n)}" for n in f.notes]
    return out


def _ethics(card: ModelCard) -> list[str]:
    return ["## Ethical considerations", ""] + _stated(card.info.ethical_considerations, "ethical_considerations")


def _caveats(card: ModelCard) -> list[str]:
    out = ["## Caveats and recommendations", "", "**Stated:**", ""] + _stated(card.info.caveats, "caveats")
    out += ["", "**From the measurements:**", ""]
    return out + ([f"- {esc(r)}" for r in card.recommendations] or ["- nothing to add"])


def _rollback(card: ModelCard) -> list[str]:
    r = card.rollback
    out = ["## Rollback procedure", "",
           f"This model: {esc(r.current)}; previous version: {esc(r.predecessor or 'none (first version)')}.", ""]
    for i, (what, command) in enumerate(r.steps, 1):
        out += [f"{i}. {esc(what)}:", "", "   ```bash", f"   {command}", "   ```", ""]
    out += [f"- {esc(n)}" for n in r.notes]
    return out[:-1] if out[-1] == "" else out


def _monitoring(card: ModelCard) -> list[str]:
    out = ["## Monitoring plan", ""]
    m = card.monitoring
    if m is None:
        return out + ["_no drift thresholds configured (add a `drift_report` section to params.yaml)_"]
    out += [f"Drift reports compare production data with the training reference; settings in force "
            f"(from {esc(m.source)}):", ""]
    out += table(["setting", "value", "from"], [(code_cell(k), cell(v), o) for k, v, o in m.settings])
    out += ["", "**Retraining is triggered when:**", ""]
    out += [f"- {code(t)}: {esc(rule)}" for t, rule in m.triggers] or ["- no trigger enabled"]
    if m.latest:
        out += ["", f"**Last drift report** ({code(m.latest_source)}): {esc(m.latest)}.", ""]
        out += [f"- {esc(r)}" for r in m.reasons]
        if m.observations:
            out += [f"- observed, not a trigger: {esc(o)}" for o in m.observations]
    return out


def _provenance(card: ModelCard) -> list[str]:
    out = ["## How this card was made", "", f"Generated by mlprod {__version__} from these inputs:", ""]
    out += table(["input", "path"], [(cell(w), code_cell(p)) for w, p in card.sources])
    if card.missing:
        out += ["", "**Missing inputs** (the card leaves out what depends on them):", ""]
        out += table(["input", "expected at", "effect"], [(cell(m.input), code_cell(m.path), cell(m.effect))
                                                          for m in card.missing])
    settings = card.settings.to_dict()
    out += ["", "Settings: " + ", ".join(f"{k}={code('auto' if v is None else v)}" for k, v in settings.items()) + "."]
    return out
