"""Build ``page.html``, the HTML template of ``dvc plots show`` (``plots.html_template`` in .dvc/config), with
vega, vega-interpreter, vega-lite and vega-embed inlined, so the plots render with no network (DVC's own page
loads them from a CDN and is blank offline). The page sets a Content-Security-Policy without 'unsafe-eval' and
no network source; vega-embed is told to evaluate chart-spec expressions with vega-interpreter (``ast: true``)
instead of compiling them with ``Function``.

Run once when changing a version (needs ``npm`` and the npm registry; nothing here runs at plot time):

    python .dvc/plots/vendor.py

It installs the exact versions below into a temporary folder with ``npm install --ignore-scripts``, inlines
their minified builds into ``page.html`` (each preceded by its name, version, licence and sha256), and writes
beside it in ``vendor/``: each package's LICENSE, THIRD-PARTY-NOTICES.txt (every package of the installed
tree, with its licence text: the minified builds bundle some of them, e.g. d3 in vega) and vendor.json
(versions, sha256 of each inlined build, npm integrity). It prints the versions and sha256. Commit the
results; the tests check page.html against vendor.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: package -> (exact version, minified build inside the package)
#: (inlined in this order: vega-interpreter adds ``vega.expressionInterpreter`` to the global ``vega``; its 1.x
#: line is the one for vega 5, built on the same vega-util 1.17 as vega 5.33.1; 2.x is for vega 6)
PACKAGES = {"vega": ("5.33.1", "build/vega.min.js"),
            "vega-interpreter": ("1.2.1", "build/vega-interpreter.min.js"),
            "vega-lite": ("5.23.0", "build/vega-lite.min.js"),
            "vega-embed": ("6.29.0", "build/vega-embed.min.js")}
#: the npm packages of vega and vega-interpreter ship no LICENSE file; their repository's (vega/vega,
#: BSD-3-Clause) ships with this sibling package of the same repository
LICENSE_FROM = {"vega": "vega-parser", "vega-interpreter": "vega-parser"}
#: placeholders DVC replaces in the page; a build containing one would be corrupted
DVC_PLACEHOLDERS = ("{plot_divs}", "{scripts}", "{refresh_tag}")

#: what the page may load: inline scripts (the vendored builds, DVC's chart snippets) and styles (the page's,
#: vega-embed's, tooltips), images from data:/blob: URLs (the PNG/SVG exports); no eval, no network, no forms
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
       "base-uri 'none'; form-action 'none'")

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
{{refresh_tag}}
<title>DVC plots</title>
<!-- The plots page of `dvc plots show` for this project: .dvc/plots/page.html, built by .dvc/plots/vendor.py.
{notices}
-->
<style>
  body {{ font-family: system-ui, sans-serif; margin: 12px; color: #1a202c;
         display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }}
  body > div[id] {{ min-width: 0; max-width: 100%; overflow-x: auto; }}  /* a wide chart scrolls, not the page */
  .vega-embed {{ max-width: 100%; }}
  table {{ border-spacing: 15px; }}
</style>
{scripts}
<script>
  // DVC's chart snippets call vegaEmbed(id, spec): no link to the online Vega editor, exports kept; chart-spec
  // expressions are interpreted (vega-interpreter), never compiled with Function (the page's CSP forbids eval)
  window.vegaEmbed = (function (embed) {{
    return function (el, spec, opts) {{
      return embed(el, spec, Object.assign({{actions: {{export: true, source: true, compiled: false, editor: false}}}},
                                           opts || {{}}, {{ast: true, expr: vega.expressionInterpreter}}));
    }};
  }})(window.vegaEmbed);
</script>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="mlprod-vega-") as tmp:
        root = Path(tmp)
        (root / "package.json").write_text('{"name": "vendor", "version": "0.0.0", "private": true}\n')
        specs = [f"{name}@{version}" for name, (version, _) in PACKAGES.items()]
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--omit=dev",
                        "--save-exact", *specs], cwd=root, check=True)
        lock = json.loads((root / "package-lock.json").read_text())["packages"]
        modules = root / "node_modules"
        vendor = HERE / "vendor"
        vendor.mkdir(exist_ok=True)
        record, scripts, notices = {}, [], {}
        for name, (version, build) in PACKAGES.items():
            meta = json.loads((modules / name / "package.json").read_text())
            if meta["version"] != version:
                raise SystemExit(f"npm installed {name} {meta['version']}, expected {version}")
            code = (modules / name / build).read_text(encoding="utf-8")
            bad = [p for p in ("</script", "<!--", *DVC_PLACEHOLDERS) if p in code.lower()]
            if bad:
                raise SystemExit(f"{name}/{build} contains {bad}: it cannot be inlined in the page as is")
            licence = _licence_file(modules, name)
            (vendor / f"LICENSE-{name}").write_text(licence.read_text(encoding="utf-8"), encoding="utf-8")
            digest = hashlib.sha256(code.encode("utf-8")).hexdigest()
            record[name] = {"version": version, "file": build, "license": meta["license"],
                            "sha256": digest, "integrity": lock[f"node_modules/{name}"]["integrity"]}
            header = f"{name} {version} ({build}), {meta['license']}: vendor/LICENSE-{name}; sha256 {digest}"
            scripts.append(f"<!-- {header} -->\n<script>{code}</script>")
            notices.setdefault(licence.read_text(encoding="utf-8").strip(), []).append(
                f"{name} {version}, {meta['license']}")  # one text for the packages of one repository
            print(f"{name} {version} {build} sha256={digest}")
        notices = [f"{' and '.join(names)}:\n{text}" for text, names in notices.items()]
        notices.append("The minified builds bundle further packages; their licences are in "
                       "vendor/THIRD-PARTY-NOTICES.txt.")
        (vendor / "THIRD-PARTY-NOTICES.txt").write_text(_third_party(modules, lock), encoding="utf-8")
        (vendor / "vendor.json").write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        page = PAGE.format(csp=CSP, notices="\n".join(notices).replace("--", "- -"), scripts="\n".join(scripts))
        (HERE / "page.html").write_text(page, encoding="utf-8")
    print(f"wrote {HERE / 'page.html'} and {vendor}/")
    return 0


def _licence_file(modules: Path, name: str) -> Path:
    for package in (name, LICENSE_FROM.get(name)):
        if package is None:
            continue
        found = sorted(p for p in (modules / package).iterdir() if p.name.upper().startswith(("LICENSE", "LICENCE")))
        if found:
            return found[0]
    raise SystemExit(f"no LICENSE file in {name} (nor in {LICENSE_FROM.get(name)})")


def _third_party(modules: Path, lock: dict) -> str:
    """Every package of the installed tree: name, version, licence and its licence text when it ships one."""
    parts = ["Packages installed with vega, vega-interpreter, vega-lite and vega-embed (the minified builds bundle "
             "some of them).",
             "vega-* packages without a licence file are from the vega repository: see LICENSE-vega.", ""]
    for key in sorted(k for k in lock if k):
        folder = modules.parent / key
        meta = lock[key]
        parts.append(f"== {key.split('node_modules/')[-1]} {meta.get('version')} ({meta.get('license', 'unknown')})")
        texts = sorted(p for p in folder.iterdir() if p.name.upper().startswith(("LICENSE", "LICENCE"))) \
            if folder.is_dir() else []
        parts += [texts[0].read_text(encoding="utf-8", errors="replace").strip() if texts else "(no licence file)", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    os.chdir(HERE)
    sys.exit(main())
