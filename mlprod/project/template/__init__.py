"""The project template ``mlprod init`` writes: the stage notebooks, dvc.yaml, params.yaml, schema.yaml and
.gitignore, the monitoring pipeline (pipelines/monitoring: dvc.yaml and notebooks) and the offline plots page
with its chart templates (.dvc/plots), shipped as package data (copies of the repository's own files).

The repository's files are the originals; after changing them, ``python -m mlprod.project.template --sync``
copies them here (``--check`` only lists what differs). A test keeps the two equal.
"""

from __future__ import annotations

import shutil
from pathlib import Path

TEMPLATE = Path(__file__).parent
NOTEBOOKS = "notebooks"
NOTEBOOK_FOLDERS = (NOTEBOOKS, "pipelines/monitoring/notebooks")  # the training and the monitoring pipeline
#: project file -> its copy in the template (dotfiles renamed: package data skips names starting with a dot;
#: dvc.yaml renamed so that DVC, which collects every dvc.yaml in a repository, never runs the template's stages)
FILES = {"dvc.yaml": "dvc.yaml.template", "params.yaml": "params.yaml", "schema.yaml": "schema.yaml",
         ".gitignore": "gitignore", ".dvcignore": "dvcignore",
         "pipelines/monitoring/dvc.yaml": "pipelines/monitoring/dvc.yaml.template"}
#: the offline page and chart templates of `dvc plots show` (docs/plots.md), with the vendored files' licences
PLOTS = (".dvc/plots/page.html", ".dvc/plots/vendor.py", ".dvc/plots/roc.json", ".dvc/plots/calibration.json",
         ".dvc/plots/drift_score.json", ".dvc/plots/dated_line.json", ".dvc/plots/vendor/LICENSE-vega",
         ".dvc/plots/vendor/LICENSE-vega-interpreter", ".dvc/plots/vendor/LICENSE-vega-lite", ".dvc/plots/vendor/LICENSE-vega-embed",
         ".dvc/plots/vendor/THIRD-PARTY-NOTICES.txt", ".dvc/plots/vendor/vendor.json")
FILES.update({name: name[1:] for name in PLOTS})
#: the .dvc/config setting that makes plain `dvc plots show` use the offline page (relative to .dvc/)
HTML_TEMPLATE = "plots/page.html"
#: the default DVC remote `mlprod init` configures when a project has none (docs/team.md): a folder beside the
#: project, so `dvc push` works in a fresh clone with no server; the example project's is ../mlprod-dvc-remote
REMOTE_NAME = "shared"


def remote_url(project: Path) -> str:
    """The default remote's folder for ``project``, relative to the project root: ``../<folder>-dvc-remote``."""
    return f"../{project.resolve().name}-dvc-remote"


def template_path(name: str) -> Path:
    """The packaged copy of the project file ``name`` (``dvc.yaml``, ``.gitignore``, ``notebooks/x.ipynb``)."""
    return TEMPLATE / FILES.get(name, name)


def notebooks() -> list[str]:
    """The packaged stage notebooks, as project paths (``notebooks/ingest.ipynb``, ...), sorted."""
    return sorted(f"{folder}/{p.name}" for folder in NOTEBOOK_FOLDERS for p in (TEMPLATE / folder).glob("*.ipynb"))


def project_files(repo: Path) -> list[str]:
    """The files of ``repo`` the template copies, as project paths, sorted."""
    found = [name for name in FILES if (repo / name).is_file()]
    found += [f"{folder}/{p.name}" for folder in NOTEBOOK_FOLDERS for p in (repo / folder).glob("*.ipynb")]
    return sorted(found)


def differences(repo: Path) -> list[str]:
    """Project paths whose packaged copy differs from ``repo``'s file (or exists on one side only)."""
    names = sorted(set(project_files(repo)) | set(notebooks()) | {n for n in FILES if template_path(n).is_file()})
    diff = []
    for name in names:
        ours, theirs = template_path(name), repo / name
        if not (ours.is_file() and theirs.is_file() and ours.read_bytes() == theirs.read_bytes()):
            diff.append(name)
    return diff


def sync(repo: Path) -> list[str]:
    """Copy ``repo``'s notebooks and project files into the template; returns what changed."""
    changed = differences(repo)
    for name in changed:
        source, target = repo / name, template_path(name)
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        elif target.is_file():
            target.unlink()
    return changed


def repository() -> Path:
    """The repository this package is installed from (editable install): the folder holding ``pyproject.toml``."""
    return TEMPLATE.parents[2]
