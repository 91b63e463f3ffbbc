"""The offline page of `dvc plots show` (.dvc/plots/page.html): the inlined builds are the vendored ones, and a
Content-Security-Policy without eval or network sources is in force (the browser test is in test_pipeline_drift)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PLOTS = REPO / ".dvc" / "plots"


def test_page_inlines_exactly_the_vendored_builds_with_their_licences():
    page = (PLOTS / "page.html").read_text(encoding="utf-8")
    record = json.loads((PLOTS / "vendor" / "vendor.json").read_text())
    assert {name: r["version"].split(".")[0] for name, r in record.items()} == {
        "vega": "5", "vega-interpreter": "1", "vega-lite": "5", "vega-embed": "6"}
    for name, r in record.items():
        match = re.search(rf"<!-- {re.escape(name)} {re.escape(r['version'])} .*?sha256 (\w+) -->\n<script>(.*?)</script>",
                          page, re.DOTALL)
        assert match, name
        assert match.group(1) == r["sha256"] == hashlib.sha256(match.group(2).encode()).hexdigest(), name
        licence = (PLOTS / "vendor" / f"LICENSE-{name}").read_text()
        assert "University of Washington Interactive Data Lab" in licence and r["license"] == "BSD-3-Clause"
    assert (PLOTS / "vendor" / "THIRD-PARTY-NOTICES.txt").stat().st_size > 0


def test_page_is_a_dvc_template_without_cdn_scripts():
    page = (PLOTS / "page.html").read_text(encoding="utf-8")
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC adds its CDN tags only where {scripts} is
    assert not re.search(r"<script[^>]+src=", page, re.IGNORECASE)
    config = (REPO / ".dvc" / "config").read_text()
    assert re.search(r"^\[plots\]\n\s+html_template = plots/page.html$", config, re.MULTILINE)


def test_page_forbids_eval_and_network_and_interprets_chart_expressions():
    page = (PLOTS / "page.html").read_text(encoding="utf-8")
    head = page[:page.index("<script")]
    metas = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert len(metas) == 1, metas  # before the first script, so it covers every script of the page
    directives = {d.split()[0]: d.split()[1:] for d in metas[0].split(";") if d.strip()}
    assert directives["default-src"] == ["'none'"] and directives["script-src"] == ["'unsafe-inline'"]
    sources = [s for values in directives.values() for s in values]
    assert not [s for s in sources if "eval" in s] and "'unsafe-eval'" not in metas[0]
    assert set(sources) <= {"'none'", "'unsafe-inline'", "data:", "blob:"}, sources  # no host, scheme or 'self'
    # vega-embed is always told to keep expression ASTs and evaluate them with vega-interpreter (inlined after vega)
    assert "opts || {}, {ast: true, expr: vega.expressionInterpreter}));" in page
    assert page.index("<!-- vega 5.") < page.index("<!-- vega-interpreter 1.") < page.index("<!-- vega-embed 6.")


def test_the_project_template_ships_every_vendored_file():
    from mlprod.project import template

    vendored = {f".dvc/plots/{p.relative_to(PLOTS)}" for p in PLOTS.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert vendored <= set(template.PLOTS), vendored - set(template.PLOTS)  # e.g. a new package's LICENSE
