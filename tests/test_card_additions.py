"""Model card additions (Hugging Face / skops conventions): intersectional slices and the share selected per group
(known answers on inline data), the YAML metadata header, the get-started snippet and the package versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mlprod.card import build_card, render_html, render_markdown
from mlprod.card.info import parse_settings
from mlprod.card.slices import analyse_slices
from mlprod.errors import CardError
from test_card_golden import FAST, card_project  # noqa: F401 - the fixture project as a pytest fixture


def leads(n_per_cell: int = 150) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Regions x channels, each cell n_per_cell rows; in north x email the score says nothing (0.6 for all)."""
    rng = np.random.default_rng(1)
    rows = []
    for region in ("north", "south"):
        for channel in ("email", "web", "event"):
            n = n_per_cell if channel != "event" else 40  # event cells are too small to show
            y = rng.binomial(1, 0.3, n)
            score = np.where(y == 1, rng.uniform(0.4, 1, n), rng.uniform(0, 0.6, n))
            if (region, channel) == ("north", "email"):
                score = np.full(n, 0.6)
            rows.append(pd.DataFrame({"region": region, "channel": channel, "age": rng.integers(20, 60, n),
                                      "y": y, "score": score}))
    frame = pd.concat(rows, ignore_index=True)
    return frame, frame["y"].to_numpy(), frame["score"].to_numpy()


FEATURES = [("region", "categorical"), ("channel", "categorical"), ("age", "numeric")]


def test_intersections_are_the_cells_of_pairs_with_enough_rows_judged_by_the_same_rule():
    frame, y, scores = leads()
    sl = analyse_slices(frame, y, scores, FEATURES, 0.5, parse_settings({}))
    assert sl.pairs == (("region", "channel"),)  # default: the categorical inputs
    cells = {s.segment: s for s in sl.intersections}
    assert sorted(cells) == ["north × email", "north × web", "south × email", "south × web"]  # event: 40 < 100 rows
    assert {s.feature for s in sl.intersections} == {"region × channel"}
    weak = cells["north × email"]
    assert weak.rows == 150 and weak.value == pytest.approx(0.5) and weak.flagged
    assert [s.segment for s in sl.intersection_limitations] == ["north × email"]


def test_intersection_settings_choose_the_columns_cap_the_pairs_and_set_the_cell_size():
    frame, y, scores = leads()
    settings = parse_settings({"intersection_columns": ["age", "region", "channel"], "max_intersections": 2,
                               "min_intersection_rows": 40, "numeric_bins": 2})
    sl = analyse_slices(frame, y, scores, FEATURES, 0.5, settings)
    assert sl.pairs == (("age", "region"), ("age", "channel"))  # in the given order, at most two
    assert all(s.rows >= 40 for s in sl.intersections)
    assert any(s.feature == "age × channel" and "event" in s.segment for s in sl.intersections)
    none = analyse_slices(frame, y, scores, FEATURES, 0.5, parse_settings({"max_intersections": 0}))
    assert none.pairs == () and none.intersections == ()
    with pytest.raises(CardError, match="max_intersections: expected an integer >= 0"):
        parse_settings({"max_intersections": -1})


def test_selected_share_per_group_is_the_share_of_rows_at_or_above_the_threshold():
    frame, y, scores = leads()
    sl = analyse_slices(frame, y, scores, FEATURES, 0.55, parse_settings({}))
    assert sl.selected == int((scores >= 0.55).sum()) and sl.threshold == 0.55
    for s in sl.segments:
        if s.feature == "region":
            mask = (frame["region"] == s.segment).to_numpy()
            assert s.selected == int((scores[mask] >= 0.55).sum())
            assert s.selected_share == pytest.approx((scores[mask] >= 0.55).mean())
    assert next(s for s in sl.intersections if s.segment == "north × email").selected_share == 1.0  # 0.6 >= 0.55


def test_the_markdown_card_opens_with_hub_metadata_holding_the_real_metrics(card_project):  # noqa: F811
    card = build_card(settings=FAST)
    markdown = render_markdown(card)
    assert markdown.startswith("---\n")
    meta = yaml.safe_load(markdown.split("---\n")[1])
    assert meta["license"] == "apache-2.0" and meta["library_name"] == "sklearn"
    assert {"tabular-classification", "sklearn", "mlprod"} <= set(meta["tags"])
    metrics = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metrics["roc_auc"] == round(card.performance.holdout["roc_auc"], 3) == 0.811
    assert meta["model-index"][0]["name"] == "lead-scoring"


@pytest.mark.parametrize("stated, license_id, name", [("", "other", None), ("MIT", "mit", None),
                                                      ("Internal use only", "other", "Internal use only")])
def test_license_comes_from_the_card_section_with_other_as_the_default(card_project, stated, license_id, name):  # noqa: F811
    params = card_project / "params.yaml"
    params.write_text(params.read_text().replace("license: Apache-2.0", f"license: {stated!r}" if stated
                                                 else "license: ''"))
    meta = yaml.safe_load(render_markdown(build_card(settings=FAST)).split("---\n")[1])
    assert meta["license"] == license_id and meta.get("license_name") == name


def test_the_card_has_a_get_started_snippet_and_the_package_versions(card_project):  # noqa: F811
    card = build_card(settings=FAST)
    markdown, html = render_markdown(card), render_html(card)
    start = markdown.split("## How to get started\n", 1)[1].split("\n## ", 1)[0]
    assert "load_scoring_model('lead-scoring@champion')" in start and "selected = scores >= 0.5" in start
    assert "mlprod score lead-scoring@champion new_leads.parquet -o scored" in start
    assert card.details.packages["scikit-learn"] and card.details.python
    assert f"| scikit-learn | {card.details.packages['scikit-learn']} |" in markdown
    assert '<h2 id="start">How to get started</h2>' in html and "load_scoring_model(" in html
    assert "### Intersections" in markdown and "| positive rate | selected |" in markdown
