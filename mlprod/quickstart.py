"""Set up a local environment and run the example pipeline or the tests, from a fresh clone.

    python3 -m mlprod.quickstart repro   # .venv + install + `dvc repro` of the example pipeline
    python3 -m mlprod.quickstart test    # .venv + install + pytest (extra arguments go to pytest)

Standard library only: it runs on the bare Python 3.11+ that clones the repository. It creates
``.venv`` beside ``pyproject.toml``, installs the project (editable, with test extras) when
``pyproject.toml`` changed since the last install, and runs the command with ``.venv/bin`` first on
``PATH`` so that DVC stages find ``mlprod``.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".mlprod-installed"


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):
        print(f"mlprod needs Python 3.11 or newer; this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    if argv and argv[0] in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if not argv or argv[0] not in ("repro", "test"):
        print(__doc__, file=sys.stderr)
        return 2
    bindir = ensure_environment()
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", VIRTUAL_ENV=str(VENV),
               DVC_NO_ANALYTICS="1")
    if argv[0] == "repro":
        code = run([str(bindir / "dvc"), "repro", *argv[1:]], env)
        if code == 0:
            run([str(bindir / "dvc"), "metrics", "show", "metrics/evaluation.json"], env)
            print("\nmodel card: reports/model_card/model_card.html (and .md); data quality: "
                  "reports/validation/report.html; drift: reports/drift/drift.html\n"
                  "executed notebooks (HTML): reports/notebooks/<stage>/<stage>.html; metrics: metrics/; "
                  "curves: plots/ (dvc plots show); registry: mlprod registry history lead-scoring")
        return code
    code = run([str(bindir / "python"), "-m", "pytest", *argv[1:]], env)
    if code == 5:
        print("pytest collected no tests: treating that as a failure", file=sys.stderr)
        return 1
    return code


def ensure_environment() -> Path:
    bindir = VENV / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        print(f"creating virtual environment {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if not STAMP.exists() or STAMP.read_text().strip() != wanted:
        print("installing mlprod and its dependencies into .venv (first run takes a few minutes)", flush=True)
        code = run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-e", ".[test,dask,team]"],
                   dict(os.environ))
        if code != 0:
            raise SystemExit(f"installing dependencies failed (exit {code}); see the pip output above")
        STAMP.write_text(wanted + "\n")
    ensure_jupyter_config(python)
    return bindir


def ensure_jupyter_config(python: Path) -> None:
    """Enable mlprod's Jupyter save hook in ``.venv`` (docs/jupyterlab.md).

    A wheel install puts ``etc/jupyter/jupyter_server_config.d/mlprod.json`` into the environment; an editable
    install (``pip install -e``, what this script does) does not install data files, so it is written here.
    """
    if not (VENV / "etc" / "jupyter" / "jupyter_server_config.d" / "mlprod.json").is_file():
        run([str(python), "-m", "mlprod", "notebooks", "jupyter-config"], dict(os.environ))


def run(cmd: list[str], env: dict[str, str]) -> int:
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.call(cmd, cwd=ROOT, env=env)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
