"""The incident runbook of a model, in Markdown (reviews well in a pull request) and HTML (shared report style).

Order of work: read the settings strictly (the ``monitor:`` and ``decide:`` sections of params.yaml, as the
monitoring pipeline reads them: :func:`mlprod.monitoring.loop.read_settings`, ``card:``
through :func:`mlprod.card.info.parse_card_info`), collect the alerts (those in the history when given,
else every alert the settings can raise), the rollback target (from the registry's alias-move log when a
registry is given), then render both formats from the same values. User text is escaped in both
(Markdown with :mod:`mlprod.card.markdown`'s helpers, HTML by Jinja's autoescaping). No clock is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .. import atomic
from .history import MonitorSettings
from .kpi import get_kpi, parse_kpis
from .policy import PolicySettings

MARKDOWN, HTML = "runbook.md", "runbook.html"
_TRIGGER_OF = {("drift", "feature_drift_share"): "feature_drift", ("drift", "prediction_drift"): "prediction_drift",
               ("estimated", "roc_auc"): "estimated_drop", ("realised", "roc_auc"): "realised_drop",
               ("realised", "estimate_disagreement"): "disagreement",
               ("realised", "auto_decided_error"): "review_guarantee"}


@dataclass(frozen=True)
class Alert:
    kind: str
    metric: str
    meaning: str
    computed: str
    threshold: str
    trigger: str | None = None  # the policy trigger it feeds (None: shown, not a retraining trigger)


@dataclass(frozen=True)
class Runbook:
    model: str
    owners: tuple[str, ...]
    contact: str
    alerts: tuple[Alert, ...]
    policy: PolicySettings
    rollback_target: str | None
    champion: str | None
    registry_checked: bool
    decision: Mapping[str, Any] | None = None
    latest: Mapping[str, Any] = field(default_factory=dict)
    params_file: str | None = None


def read_settings(params_file: str | Path | None) -> tuple[MonitorSettings, PolicySettings, Any]:
    """The ``monitor:`` and ``decide:`` sections (as the monitoring pipeline reads them) and ``card:`` of
    ``params_file``, strictly."""
    from ..card.info import load_card_info
    from .loop import read_settings as loop_settings

    if params_file is None:
        return MonitorSettings(), PolicySettings(), load_card_info(None)[0]
    settings = loop_settings(params_file, Path(params_file).resolve().parent, need_model=False)
    return settings.monitor, settings.policy, load_card_info(params_file)[0]


def _fmt(value: Any) -> str:
    from ..reporting.page import format_number

    return format_number(None if value is None or pd.isna(value) else float(value))


def alert_catalogue(settings: MonitorSettings, history: pd.DataFrame | None) -> list[Alert]:
    """Every alert the monitoring history can raise, with how it is computed and its threshold."""
    drift = settings.drift_settings()
    auc_floor = (f"below {_fmt(settings.reference_roc_auc - settings.max_auc_drop)} (reference ROC AUC "
                 f"{_fmt(settings.reference_roc_auc)} - max_auc_drop {_fmt(settings.max_auc_drop)})"
                 if settings.reference_roc_auc is not None else "none: set monitor.reference_roc_auc to alert")
    alerts = []
    columns = sorted({m.split(":", 1)[1] for m in (history["metric"] if history is not None else [])
                      if m.startswith("feature_drift:")})
    from .dashboard import threshold_text

    sides = history["alert_when"] if history is not None and "alert_when" in history.columns else None
    thresholds = {} if history is None else {
        m: threshold_text(None if pd.isna(t) else float(t), w if isinstance(w, str) else None)
        for m, t, w in zip(history["metric"], history["threshold"],
                           sides if sides is not None else [None] * len(history)) if m.startswith("feature_drift:")}
    for column in columns or ["<column>"]:
        alerts.append(Alert("drift", f"feature_drift:{column}", f"The distribution of input {column!s} moved away "
                            "from the reference profile.", "The statistic (or the p-value, for hypothesis tests) "
                            "of the drift test mlprod.drift picks for the column, window against reference profile.",
                            f"the test's threshold ({thresholds[f'feature_drift:{column}']})"
                            if f"feature_drift:{column}" in thresholds else "the drift settings' threshold per test"))
    alerts.append(Alert("drift", "feature_drift_share", "Too many inputs drifted at once.",
                        "Share of the input columns whose feature_drift alert is raised in the window.",
                        f"above {_fmt(drift.max_drifted_share)} (drift max_drifted_share)", "feature_drift"))
    alerts.append(Alert("drift", "prediction_drift", "The model's scores are distributed differently from the "
                        "reference.", f"Drift test of the scores against the reference profile's "
                        f"{drift.prediction!s} column.", "the drift settings' threshold for the test",
                        "prediction_drift"))
    for kind, what in (("estimated", "Estimated ROC AUC (all rows, from calibrated scores as NannyML's CBPE)"),
                       ("realised", "Realised ROC AUC (rows whose label has arrived)")):
        alerts.append(Alert(kind, "roc_auc", "The model ranks worse than at validation.", what + ".", auc_floor,
                            _TRIGGER_OF[(kind, "roc_auc")]))
    alerts.append(Alert("realised", "estimate_disagreement", "Labels disagree with the estimate: the relation "
                        "between inputs and label changed (the estimate's blind spot).",
                        "Realised minus estimated ROC AUC on the same labelled rows.",
                        f"beyond ±{_fmt(settings.disagreement_tolerance)} with at least "
                        f"{settings.disagreement_min_labelled:,} labelled rows", "disagreement"))
    if settings.review_alpha is not None or settings.review_calibrated:
        alpha = ("the alpha of the champion's review calibration" if settings.review_calibrated
                 else f"{_fmt(settings.review_alpha)} (serving.review.alpha)")
        alerts.append(Alert("realised", "auto_decided_error", "The review guarantee is broken: among the rows decided "
                            "without a person, more decisions are wrong than the review routing promises (drift "
                            "breaks the holdout's exchangeability). Recalibrate the review band on recent labelled "
                            "rows, or retrain.", "Share of the labelled, automatically decided rows (needs_review "
                            "false, else a score outside the review band) whose decision differs from the label; "
                            "auto_decided_labelled (volume) counts them.",
                            f"above {alpha}, judged only with at least {settings.guarantee_min_labelled:,} labelled "
                            "automatically decided rows (fewer: no threshold that window)", "review_guarantee"))
    for name, values in parse_kpis(settings.kpis).items():
        spec = get_kpi(name)
        knobs = ", ".join(f"{k} {_fmt(v)}" for k, v in sorted(values.items()) if k != "min")
        floor = f"below {_fmt(values['min'])} (min)" if values.get("min") is not None else "none: set min to alert"
        for metric, how in ((name, "realised, labelled rows"), (f"{name}_estimated", "estimated, all rows")):
            alerts.append(Alert("kpi", metric, f"Business KPI: {spec.title}.", f"{how}; {knobs}.", floor,
                                "kpi_drop" if metric == name else None))
    return alerts


def rollback_target(data: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """``(champion, version a rollback restores)`` from :func:`mlprod.registry.history.model_history`'s value."""
    from ..registry.history import AliasMove, champion_line

    champion = (data.get("aliases") or {}).get("champion")
    moves = [AliasMove(**{k: m[k] for k in AliasMove.__dataclass_fields__ if k in m}) for m in data.get("moves", [])]
    line = champion_line(moves, "champion")
    if champion is None or not line or line[-1] != str(champion) or len(line) < 2:
        return champion, None
    return champion, line[-2]


def build_runbook(model_name: str, *, params_file=None, history=None, decision=None, registry=None) -> Runbook:
    from .dashboard import as_decision, as_history, latest_rows

    settings, policy, card = read_settings(params_file)
    frame = as_history(history) if history is not None else None
    champion = target = None
    if registry is not None:
        from ..registry.history import model_history

        champion, target = rollback_target(model_history(registry, model_name))
    latest = {}
    if frame is not None and len(frame):
        rows = latest_rows(frame)
        first = rows.iloc[0]
        latest = {"window": first["window"], "model_version": first["model_version"], "as_of": str(frame["as_of"].max()),
                  "alerts": [f"{r.kind} {r.metric}" for r in rows.itertuples() if r.alert]}
    return Runbook(model_name, card.owners, card.contact, tuple(alert_catalogue(settings, frame)), policy, target,
                   champion, registry is not None, as_decision(decision), latest, None if params_file is None else str(params_file))


def commands(model: str) -> list[tuple[str, str]]:
    return [("Update the history and the decision", "mlprod monitor"),
            ("Rerun the monitoring pipeline (scores new batches first)", "dvc repro pipelines/monitoring/dvc.yaml"),
            ("Plots of the history over time", "dvc plots show"),
            ("Latest metrics", "dvc metrics show"),
            ("Versions, champion and every alias move", f"mlprod registry history {model}"),
            ("Roll the champion back", f'mlprod rollback {model} --reason "TEXT"'),
            ("Retrain through the gates", "mlprod retrain")]


def rollback_line(book: Runbook, esc, code) -> str:
    """Which version a rollback restores (``esc``/``code``: the output format's escaping and code span)."""
    if book.rollback_target:
        return (f"Restores version {esc(book.rollback_target)} (the champion before the current one, version "
                f"{esc(book.champion)}, in the registry's alias-move log).")
    if book.registry_checked:
        return (f"No earlier champion in the registry's alias-move log (champion: {esc(book.champion or 'none')}): "
                f"a rollback would be refused; promote a chosen version instead: "
                f"{code(f'mlprod promote {book.model} --version V --force --reason TEXT')}")
    return (f"It restores the champion before the current one in the registry's alias-move log; see which with "
            f"{code(f'mlprod registry history {book.model}')} (alias moves).")


def render_markdown(book: Runbook) -> str:
    from ..reporting.markdown import cell, code, code_cell, esc, table

    name = esc(book.model)
    out = [f"# Incident runbook: {name}", ""]
    if book.params_file:
        out += [f"Settings from {code(book.params_file)} (`monitor:`, `decide:`, `card:`).", ""]
    out += ["## Owners and contacts", ""]
    out += [f"- Owners: {', '.join(esc(o) for o in book.owners)}" if book.owners else
            "- Owners: not stated (add `owners` to the `card:` section of params.yaml)"]
    out += [f"- Contact: {esc(book.contact)}" if book.contact else
            "- Contact: not stated (add `contact` to the `card:` section of params.yaml)", ""]
    if book.decision or book.latest:
        out += ["## Current state", ""]
        if book.decision:
            d = book.decision
            out += [f"- Decision as of {esc(d.get('as_of'))}: **{'retrain' if d['retrain'] else 'no retraining'}**"]
            out += [f"  - {esc(r)}" for r in d.get("reasons", [])]
        if book.latest:
            alerts = ", ".join(code(a) for a in book.latest["alerts"]) or "none"
            out += [f"- Latest window {esc(book.latest['window'])}, model version "
                    f"{esc(book.latest['model_version'])}; alerts: {alerts}"]
        out += [""]
    out += ["## Alerts", "", "What each alert means, how the monitoring history computes it per window, and when it "
            "is raised.", ""]
    rows = [(code_cell(f"{a.kind} {a.metric}"), cell(a.meaning), cell(a.computed), cell(a.threshold),
             code_cell(a.trigger) if a.trigger else "-") for a in book.alerts]
    out += table(["Alert", "Means", "Computed as", "Raised when", "Policy trigger"], rows)
    p = book.policy
    out += ["", "## Retraining policy", "",
            f"Retrain when a trigger ({', '.join(code(t) for t in p.triggers)}) holds in each of the last "
            f"{p.consecutive_windows} window(s) and every gate passes: at least {p.min_new_labelled_rows:,} new "
            f"labelled row(s) and {p.min_days_since_retrain} day(s) since the last retrain, and at least "
            f"{p.min_alert_labelled_rows:,} labelled row(s) in the alerting windows. `kpi_drop`: "
            f"{code(p.kpi) if p.kpi else 'the first realised KPI'} more than {p.max_kpi_drop:.0%} below the mean of "
            f"the first {p.baseline_windows} window(s) since the last retrain.", ""]
    out += ["## Inspect", ""] + [f"- {what}: {code(cmd)}" for what, cmd in commands(book.model)[:5]]
    out += ["", "## Roll back", "", f"Command: {code(commands(book.model)[5][1])}", "", rollback_line(book, esc, code), ""]
    out += ["## Retrain", "",
            "1. Read the decision record (`mlprod monitor` writes it): `retrain` and its reasons.",
            "2. Run `mlprod retrain`: it moves the training window, reruns "
            "validate, train and evaluate, registers the model, runs the gates and promotes it or says why not, "
            "and commits the change on a branch named for the retrain.",
            "3. Review the new model card and the gate decision; merging the branch is the team's choice.",
            f"4. If the new champion misbehaves, roll back (above) and tell the owners.", ""]
    return "\n".join(out)


TEMPLATE = r"""{% extends "base.html" %}
{% block style %}
td, th, code { overflow-wrap: break-word; } table.alerts td:first-child { width: 17%; }
table.alerts td:last-child, table.alerts th:last-child { white-space: nowrap; }
@media (max-width: 600px) { main { padding: 16px 12px 32px; } h1 { font-size: 20px; }
  td, th, code { overflow-wrap: anywhere; } table.alerts td:last-child { white-space: normal; }
  table.alerts, table.alerts tbody, table.alerts tr, table.alerts td, table.alerts td:first-child { display: block;
    width: 100%; }
  table.alerts thead { display: none; } table.alerts tr { border-bottom: 1px solid var(--line); padding: 6px 0; }
  table.alerts td { border: 0; padding: 2px 0; } table.alerts td[data-label]::before { content: attr(data-label) ": ";
  color: var(--muted); font-size: 12px; } }
{% endblock %}
{% block content %}
<h2>Owners and contacts</h2>
<ul><li>Owners: {% if b.owners %}{{ b.owners | join(", ") }}{% else %}<span class="muted">not stated (add
<code>owners</code> to the <code>card:</code> section of params.yaml)</span>{% endif %}</li>
<li>Contact: {% if b.contact %}{{ b.contact }}{% else %}<span class="muted">not stated (add <code>contact</code> to the
<code>card:</code> section)</span>{% endif %}</li></ul>
{% if b.decision %}<div class="callout {{ 'bad' if b.decision.retrain else 'good' }}">
<h2>{{ "Retraining recommended" if b.decision.retrain else "No retraining needed" }}</h2>
<div class="small muted">Decision as of {{ b.decision.as_of }}</div>
<ul>{% for r in b.decision.reasons %}<li>{{ r }}</li>{% endfor %}</ul></div>{% endif %}
{% if b.latest %}<p>Latest window {{ b.latest.window }}, model version {{ b.latest.model_version }}; alerts:
{% for a in b.latest.alerts %}<code>{{ a }}</code>{{ ", " if not loop.last }}{% else %}none{% endfor %}.</p>{% endif %}
<h2>Alerts</h2>
<p class="muted">What each alert means, how the monitoring history computes it per window, and when it is raised.</p>
<table class="alerts"><thead><tr><th>Alert</th><th>Means</th><th>Computed as</th><th>Raised when</th>
<th>Policy trigger</th></tr></thead><tbody>
{% for a in b.alerts %}<tr><td><code>{{ a.kind }} {{ a.metric }}</code></td><td data-label="Means">{{ a.meaning }}</td>
<td data-label="Computed as">{{ a.computed }}</td><td data-label="Raised when">{{ a.threshold }}</td>
<td data-label="Policy trigger">{% if a.trigger %}<code>{{ a.trigger }}</code>{% else %}-{% endif %}</td></tr>
{% endfor %}</tbody></table>
<h2>Retraining policy</h2>
<p>Retrain when a trigger ({% for t in b.policy.triggers %}<code>{{ t }}</code>{{ ", " if not loop.last }}{% endfor %})
holds in each of the last {{ b.policy.consecutive_windows }} window(s) and every gate passes: at least
{{ b.policy.min_new_labelled_rows | fmt }} new labelled row(s) and {{ b.policy.min_days_since_retrain }} day(s) since the
last retrain, and at least {{ b.policy.min_alert_labelled_rows | fmt }} labelled row(s) in the alerting windows.</p>
<h2>Inspect</h2>
<ul>{% for what, cmd in commands[:5] %}<li>{{ what }}: <code>{{ cmd }}</code></li>{% endfor %}</ul>
<h2>Roll back</h2>
<pre>{{ commands[5][1] }}</pre>
<p>{{ rollback }}</p>
<h2>Retrain</h2>
<ol><li>Read the decision record (<code>mlprod monitor</code> writes it): <code>retrain</code> and its reasons.</li>
<li>Run <code>mlprod retrain</code> (being built in the production-loop issue): it moves the training window, reruns
validate, train and evaluate, registers the model, runs the gates and promotes it or says why not, and commits the
change on a branch named for the retrain.</li>
<li>Review the new model card and the gate decision; merging the branch is the team's choice.</li>
<li>If the new champion misbehaves, roll back (above) and tell the owners.</li></ol>
{% endblock %}
"""


def render_html(book: Runbook) -> str:
    from markupsafe import Markup, escape

    from ..reporting.page import render

    from ..reporting.about import About

    version = book.latest.get("model_version") or book.champion
    about = About(book.model, version, book.latest.get("as_of"), "monitoring up to") if version or book.latest \
        else About(book.model)
    return render({"runbook.html": TEMPLATE}, "runbook.html", title=f"Incident runbook: {book.model}",
                  about=about.line(),
                  subtitle=f"Settings from {book.params_file}" if book.params_file else "Default settings",
                  b=book, commands=commands(book.model),
                  rollback=Markup(rollback_line(book, escape, lambda text: Markup("<code>{}</code>").format(text))))


def write_runbook(model_name: str, out_dir: str | Path, *, params_file: str | Path | None = None, history=None,
                  decision=None, registry=None) -> list[Path]:
    """Write ``runbook.md`` and ``runbook.html`` into ``out_dir``; returns their paths."""
    from ..outpaths import check_dir

    folder = check_dir(out_dir, what="runbook folder", files=(MARKDOWN, HTML))
    book = build_runbook(model_name, params_file=params_file, history=history, decision=decision, registry=registry)
    markdown, html = render_markdown(book), render_html(book)
    folder.mkdir(parents=True, exist_ok=True)
    return [atomic.write_text(folder / MARKDOWN, markdown + "\n"), atomic.write_text(folder / HTML, html)]
