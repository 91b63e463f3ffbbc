"""The offline page of `dvc plots show` (.dvc/plots/page.html): the inlined builds are the vendored ones."""

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
        "vega": "5", "vega-lite": "5", "vega-embed": "6"}
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
