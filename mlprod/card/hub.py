"""What the Hugging Face / skops model-card conventions add to the Markdown card: the YAML metadata header
(license, library_name, tags, model-index with the holdout metrics), the "How to get started" snippet and the
package versions the model was trained with (from the manifest).

The header is written with a safe YAML dumper in a fixed order; metric values are rounded once, to the three
decimals the rest of the card shows. ``license`` is the ``card.license`` value of params.yaml as an SPDX-style id in
lower case (``Apache-2.0`` -> ``apache-2.0``); without one, or for text that is not an id, it is ``other`` (the
Hub's value for "a licence not in the list"), the stated text then going into ``license_name``.
"""

from __future__ import annotations

import re
from typing import Any

from .schema import ModelCard
from .text import METRIC_LABELS

HUB_METRICS = ("roc_auc", "average_precision", "log_loss", "brier", "accuracy", "precision", "recall", "f1")
DEFAULT_LICENSE = "other"
_LICENSE_ID = re.compile(r"[a-z0-9][a-z0-9.+\-]*")


def library_name(card: ModelCard) -> str:
    top = card.details.model_type.split(".", 1)[0]
    return "sklearn" if top == "sklearn" else top


def metadata(card: ModelCard) -> dict[str, Any]:
    d, p = card.details, card.performance
    license_id = card.info.license.strip().lower()
    meta: dict[str, Any] = {"license": license_id if _LICENSE_ID.fullmatch(license_id) else DEFAULT_LICENSE}
    if card.info.license and meta["license"] == DEFAULT_LICENSE and license_id != DEFAULT_LICENSE:
        meta["license_name"] = _text(card.info.license)
    library = library_name(card)
    meta["library_name"] = library
    meta["tags"] = [_text(t) for t in dict.fromkeys(["tabular-classification", library, "mlprod", d.estimator])]
    metrics = [{"type": m, "value": round(float(p.holdout[m]), 3), "name": f"holdout {METRIC_LABELS.get(m, m)}"}
               for m in HUB_METRICS if isinstance(p.holdout.get(m), (int, float))]
    if metrics:
        dataset = card.evaluation_data.path if card.evaluation_data else p.source
        meta["model-index"] = [{"name": _text(d.name), "results": [{
            "task": {"type": "tabular-classification", "name": "Tabular classification"},
            "dataset": {"type": "tabular", "name": _text(dataset), "split": "holdout"},
            "metrics": metrics}]}]
    return meta


def _text(value: str) -> str:
    """User text in the header as in the rest of the card: ``& < >`` as entities and unsafe links defused, for
    viewers that render the header as Markdown or HTML (:func:`mlprod.reporting.markdown.esc`)."""
    from ..reporting.markdown import esc

    return esc(value)


def front_matter(card: ModelCard) -> list[str]:
    import yaml

    text = yaml.safe_dump(metadata(card), sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    return ["---", *text.rstrip("\n").split("\n"), "---", ""]


def get_started(card: ModelCard) -> list[str]:
    d, threshold = card.details, card.performance.threshold
    inputs = ", ".join(repr(i.name) for i in d.inputs)
    return ["```python",
            "import pandas as pd",
            "from mlprod.monitoring.scoring import load_scoring_model",
            "",
            "# the version the registry's champion alias points at now (MLFLOW_TRACKING_URI: a team server)",
            f"champion = load_scoring_model({d.name + '@champion'!r})  # hash-verified before it is loaded",
            f"leads = pd.read_parquet(\"new_leads.parquet\")[[{inputs}]]",
            "scores = champion.model.predict_proba(leads)[:, 1]  # " + d.output.split(" (", 1)[0],
            f"selected = scores >= {threshold:g}  # the decision threshold of this card",
            "```",
            "",
            f"From the command line: `mlprod score {d.name}@champion new_leads.parquet -o scored` (data gates, "
            "fallback and the predictions record included; `mlprod score --help`). This exact version, whatever the "
            f"alias says: `mlprod.load_model({d.manifest.rsplit('/', 1)[0]!r})`."]
