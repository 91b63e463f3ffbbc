"""Shadow analysis: the champion's and the shadow model's rows of the prediction log, paired by (request_id, row).

:func:`analyze_shadow` gives n paired, the decision agreement rate, the decisions the shadow would change (0 -> 1 and
1 -> 0), the Pearson and Spearman correlation of the scores and the mean score difference (shadow minus
champion), overall and per level of each segment column (from the log's logged ``features`` JSON, or a table
joined by unit_id). :func:`write` writes ``shadow.json`` (sorted keys, ``schema_version`` 1) and ``shadow.html``
atomically.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import ExperimentError

SCHEMA_VERSION = 1
JSON_FILE, HTML_FILE = "shadow.json", "shadow.html"
MAX_LEVELS = 20


def analyze_shadow(log_frame: Any, segments: tuple[str, ...] | list[str] = (), *, table: Any = None,
                   unit_col: str = "unit_id") -> dict[str, Any]:
    """The shadow analysis of ``log_frame`` (a prediction log frame, :func:`~mlprod.serving.predictionlog.read_log`).

    table: a DataFrame with ``unit_col`` and the segment columns, joined on the log's unit_id (else the segments
    come from the logged features). An :class:`ExperimentError` when there are no shadow rows or no pairs."""
    import pandas as pd

    needed = {"request_id", "row", "arm", "score", "decision", "model_name", "model_version"}
    missing = sorted(needed - set(log_frame.columns))
    if missing:
        raise ExperimentError(f"shadow analysis: the log lacks column(s) {missing}; expected a prediction log frame")
    shadow = log_frame[log_frame["arm"] == "shadow"]
    champion = log_frame[log_frame["arm"] == "champion"]
    if shadow.empty:
        raise ExperimentError("shadow analysis: the prediction log has no shadow rows (arm 'shadow'); run mlprod serve "
                              "or mlprod score with deployment.mode: shadow first, or give the right --log folder")
    keys = ["request_id", "row"]
    shadow = shadow.drop_duplicates(keys, keep="last")
    champion = champion.drop_duplicates(keys, keep="last")
    pairs = champion.merge(shadow, on=keys, suffixes=("_c", "_s"), how="inner")
    if pairs.empty:
        raise ExperimentError(f"shadow analysis: {len(shadow):,} shadow rows but none pairs with a champion row (same "
                              "request_id and row, arm 'champion'); log the champion's rows too")
    pairs = pairs.sort_values(keys, kind="mergesort").reset_index(drop=True)
    segments = list(dict.fromkeys(segments))
    pairs = _segment_columns(pairs, segments, table, unit_col)
    result = {
        "schema_version": SCHEMA_VERSION,
        "champion": _models(pairs, "_c"), "shadow": _models(pairs, "_s"),
        "experiments": sorted({str(e) for e in pairs.get("experiment_c", pd.Series(dtype=object)).dropna()}),
        "rows": {"champion": int(len(champion)), "shadow": int(len(shadow)),
                 "champion_without_shadow": int(len(champion) - len(pairs)),
                 "shadow_without_champion": int(len(shadow) - len(pairs))},
        "overall": _compare(pairs),
        "segments": {},
    }
    if "logged_at_c" in pairs:  # the date the report stands for: the newest paired row (never the clock)
        newest = pd.to_datetime(pairs["logged_at_c"], utc=True, errors="coerce").max()
        if not pd.isna(newest):
            result["data_until"] = newest.date().isoformat()
    for name in segments:
        levels = pairs[name].astype(object).where(pairs[name].notna(), "(missing)").astype(str)
        counts = levels.value_counts()
        shown = sorted(counts.index[:MAX_LEVELS])
        result["segments"][name] = {"levels": {level: _compare(pairs[levels == level]) for level in shown},
                                    "levels_not_shown": int(len(counts) - len(shown))}
    return result


def _models(pairs: Any, suffix: str) -> list[str]:
    return sorted({f"{n} {v}" for n, v in zip(pairs[f"model_name{suffix}"], pairs[f"model_version{suffix}"])})


def _segment_columns(pairs: Any, segments: list[str], table: Any, unit_col: str) -> Any:
    if not segments:
        return pairs
    if table is not None:
        lacking = [c for c in [unit_col, *segments] if c not in table.columns]
        if lacking:
            raise ExperimentError(f"shadow analysis: the segment table lacks column(s) {lacking}; it has "
                                  f"{list(table.columns)}")
        joined = table[[unit_col, *segments]].drop_duplicates(unit_col, keep="last").copy()
        joined[unit_col] = joined[unit_col].map(_unit_text)
        return pairs.merge(joined.rename(columns={unit_col: "unit_id_c"}), on="unit_id_c", how="left")
    features = [json.loads(t) if isinstance(t, str) else {} for t in pairs.get("features_c", [None] * len(pairs))]
    known = set().union(*features) if features else set()
    lacking = [s for s in segments if s not in known]
    if lacking:
        raise ExperimentError(f"shadow analysis: segment column(s) {lacking} are not among the log's logged features "
                              f"({sorted(known) or 'none'}); add them to prediction_log.log_features, or give a "
                              "table with --table")
    pairs = pairs.copy()
    for name in segments:
        pairs[name] = [f.get(name) for f in features]
    return pairs


def _unit_text(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _compare(pairs: Any) -> dict[str, Any]:
    import numpy as np
    from scipy import stats

    c_dec, s_dec = pairs["decision_c"], pairs["decision_s"]
    both = c_dec.notna() & s_dec.notna()
    c, s = c_dec[both].astype(int).to_numpy(), s_dec[both].astype(int).to_numpy()
    scored = pairs["score_c"].notna() & pairs["score_s"].notna()
    x, y = pairs.loc[scored, "score_c"].to_numpy(float), pairs.loc[scored, "score_s"].to_numpy(float)
    varied = len(x) >= 2 and np.ptp(x) > 0 and np.ptp(y) > 0
    return {
        "n_paired": int(len(pairs)),
        "n_decisions": int(both.sum()),
        "agreement": _rate(int((c == s).sum()), len(c)),
        "changed": int((c != s).sum()),
        "changed_0_to_1": int(((c == 0) & (s == 1)).sum()),
        "changed_1_to_0": int(((c == 1) & (s == 0)).sum()),
        "n_scores": int(len(x)),
        "pearson": float(stats.pearsonr(x, y)[0]) if varied else None,
        "spearman": float(stats.spearmanr(x, y)[0]) if varied else None,
        "mean_score_difference": float(np.mean(y - x)) if len(x) else None,
        "mean_score_champion": float(np.mean(x)) if len(x) else None,
        "mean_score_shadow": float(np.mean(y)) if len(x) else None,
    }


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


TEMPLATE = r"""{% extends "base.html" %}
{% block style %}
.scroll { overflow-x: auto; } td.num, th.num { white-space: nowrap; }
@media (max-width: 600px) { th, td { padding: 4px 5px; } table { font-size: 12px; } }
{% endblock %}
{% macro table(rows) %}<div class="scroll"><table class="stack"><thead><tr><th></th><th class="num">Paired</th>
<th class="num">Agreement</th><th class="num">Changed</th><th class="num">0 &rarr; 1</th><th class="num">1 &rarr; 0</th>
<th class="num">Pearson</th><th class="num">Spearman</th><th class="num">Mean diff</th></tr></thead>
{% for label, c in rows %}<tr><td>{{ label }}</td><td class="num" data-label="Paired">{{ c.n_paired | fmt }}</td>
<td class="num" data-label="Agreement">{{ c.agreement | pct }}</td><td class="num" data-label="Changed">{{ c.changed | fmt }}</td>
<td class="num" data-label="0 &rarr; 1">{{ c.changed_0_to_1 | fmt }}</td><td class="num" data-label="1 &rarr; 0">{{ c.changed_1_to_0 | fmt }}</td>
<td class="num" data-label="Pearson">{{ c.pearson | fmt(3) }}</td><td class="num" data-label="Spearman">{{ c.spearman | fmt(3) }}</td>
<td class="num" data-label="Mean diff">{{ c.mean_score_difference | fmt(4) }}</td></tr>{% endfor %}</table></div>{% endmacro %}
{% block content %}
{% set o = r.overall %}
<div class="callout{{ ' good' if o.changed == 0 else '' }}"><h2>{{ o.changed | fmt }} of {{ o.n_decisions | fmt }} decisions would change</h2>
<div class="small">{{ o.changed_0_to_1 | fmt }} from 0 to 1 and {{ o.changed_1_to_0 | fmt }} from 1 to 0 if the shadow answered.</div></div>
<div class="cards">
<div class="card"><div class="label">Decision agreement</div><div class="value">{{ o.agreement | pct }}</div></div>
<div class="card"><div class="label">Score correlation</div><div class="value">{{ o.pearson | fmt(3) }}</div><div class="small">Pearson; Spearman {{ o.spearman | fmt(3) }}</div></div>
<div class="card"><div class="label">Mean score difference</div><div class="value">{{ o.mean_score_difference | fmt(4) }}</div><div class="small">shadow minus champion</div></div>
<div class="card"><div class="label">Rows paired</div><div class="value">{{ o.n_paired | fmt }}</div></div></div>
<h2>Overall</h2>
{{ table([("all rows", o)]) }}
{% for name, s in r.segments.items() %}<h2>By {{ name }}</h2>
{{ table(s.levels.items()) }}
{% if s.levels_not_shown %}<p class="small muted">{{ s.levels_not_shown }} smaller levels not shown.</p>{% endif %}{% endfor %}
<h2>Input</h2>
<table class="small"><tr><td>Champion</td><td>{{ r.champion | join(", ") }}</td></tr>
<tr><td>Shadow</td><td>{{ r.shadow | join(", ") }}</td></tr>
<tr><td>Champion rows</td><td>{{ r.rows.champion | fmt }} ({{ r.rows.champion_without_shadow | fmt }} without a shadow row)</td></tr>
<tr><td>Shadow rows</td><td>{{ r.rows.shadow | fmt }} ({{ r.rows.shadow_without_champion | fmt }} without a champion row)</td></tr></table>
{% endblock %}
"""


def render_html(result: dict) -> str:
    from ..reporting.page import render

    from ..reporting.page import about_line

    return render({"shadow.html": TEMPLATE}, "shadow.html", title="Shadow analysis",
                  subtitle=f"{', '.join(result['shadow'])} against {', '.join(result['champion'])}: "
                           f"{result['overall']['n_paired']:,} paired rows", r=result,
                  about=about_line(generated=result.get("data_until"), what="data up to"))


def write(result: dict, folder: str | Path) -> tuple[Path, Path]:
    """Write ``shadow.json`` and ``shadow.html`` into ``folder`` (each atomically)."""
    from ..outpaths import check_dir

    folder = check_dir(folder, what="--out folder", files=(JSON_FILE, HTML_FILE))
    html = render_html(result)
    return (atomic.write_text(folder / JSON_FILE, atomic.dumps_json(result)),
            atomic.write_text(folder / HTML_FILE, html))
