"""``mlprod sweep apply NAME``: the chosen experiment becomes a branch, rebuilt clean and registered there.

Order of work (and why):
1. refuse a dirty working tree (uncommitted changes to tracked files): the branch is checked out in the
   user's workspace, and nothing the user has not committed may be lost or carried onto it;
2. ``dvc exp branch NAME BRANCH`` (default ``sweep/NAME``): the experiment's commit (its params.yaml,
   dvc.lock, uncached metrics) becomes a branch;
3. ``git checkout BRANCH``, ``dvc checkout`` (the experiment's outputs from the cache), then the stages whose
   parameters the sweep varied are rerun (``dvc repro --force --single-item``) and ``dvc repro PIPELINE``
   runs the rest: the model is rebuilt from a clean commit (its manifest records the branch's commit, not
   the experiment's temporary workspace), and the register stage applies the gates and promotes or rejects
   it, as for any model;
4. ``dvc.lock`` and the pipeline's uncached outputs are committed on the branch, naming the outcome;
5. back to the original branch (its outputs restored with ``dvc checkout``) unless ``stay``; on a failure
   too, the branch keeping what was committed. Merging the branch is the team's decision.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import SweepError, SweepFailed
from .queue import changed_files, check_project, dvc_cli, git

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Applied:
    name: str
    branch: str
    outcome: str  # register's decision: promoted | rejected | ... | unknown
    version: int | None
    commit: str
    stayed: bool

    def line(self) -> str:
        where = f"on {self.branch}" if self.stayed else "back on the original branch"
        return (f"experiment {self.name} is branch {self.branch} (commit {self.commit[:10]}): rebuilt and "
                f"registered as version {self.version}: {self.outcome}; {where} (merge {self.branch} to make "
                "it the project's model)")


def find_experiment(root: Path, name: str) -> str:
    """The experiment ref named ``name`` (on any baseline); errors list the experiments of HEAD."""
    refs = [r for r in git(root, "for-each-ref", "--format=%(refname)", "refs/exps/", check=False).splitlines()
            if r.rsplit("/", 1)[-1] == name and r.count("/") == 4]
    if not refs:
        known = sorted(r.rsplit("/", 1)[-1] for r in git(root, "for-each-ref", "--format=%(refname)", "refs/exps/",
                                                          check=False).splitlines() if r.count("/") == 4)
        listed = ", ".join(known[-10:]) or "none"
        raise SweepError(f"no experiment named {name!r} (experiments: {listed}); `dvc exp show` lists them")
    if len(refs) > 1:
        raise SweepError(f"{len(refs)} experiments are named {name!r} (on different commits); check out the commit "
                         "the one you mean was run on, or give its ref to `dvc exp branch` yourself")
    return refs[0]


def apply_experiment(root: Path, name: str, *, branch: str | None = None, pipeline: str = "dvc.yaml",
                     force_stages: list[str] | None = None, stay: bool = False) -> Applied:
    check_project(root)
    original = git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    if not original:
        raise SweepError("HEAD is detached; check out a branch first (mlprod sweep apply switches back to it)")
    files = changed_files(root)
    if files:
        raise SweepError(f"the working tree has uncommitted changes ({', '.join(files[:8])}"
                         f"{' ...' if len(files) > 8 else ''}); commit or stash them first: applying an experiment "
                         "checks out its branch in this workspace")
    find_experiment(root, name)
    branch = branch or f"sweep/{name}"
    if git(root, "check-ref-format", "--branch", branch, check=False) != branch:
        raise SweepError(f"--branch {branch!r} is not a valid git branch name")
    if git(root, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False):
        raise SweepError(f"branch {branch} exists already; give another --branch, or delete it (git branch -D "
                         f"{branch}) to apply {name} again")
    made = dvc_cli(root, "exp", "branch", name, branch)
    if made.returncode != 0:
        raise SweepError(f"dvc exp branch {name} {branch} failed: {(made.stderr or made.stdout).strip()[-500:]}")
    stages = force_stages or varied_stages(root, branch, original, pipeline)

    git(root, "checkout", "-q", branch)
    try:
        dvc_cli(root, "checkout", "--quiet")  # missing outputs are rebuilt by repro below
        for stage in stages:
            _repro(root, branch, original, "--force", "--single-item", stage)
        _repro(root, branch, original, pipeline)
        outcome, version = _outcome(root)
        from ..monitoring.retrain import pipeline_files

        _, uncached = pipeline_files(root, pipeline)
        lock = (Path(pipeline).parent / "dvc.lock").as_posix().removeprefix("./")
        git(root, "add", "--", lock, *[p for p in uncached if (root / p).exists()])
        git(root, "commit", "-q", "--allow-empty", "-m",
            f"Sweep experiment {name}: rebuilt and registered ({outcome}, registry version {version})")
        commit = git(root, "rev-parse", "HEAD")
    except BaseException:
        if not stay:
            _back(root, original)
        raise
    if not stay:
        _back(root, original)
    return Applied(name, branch, outcome, version, commit, stay)


def varied_stages(root: Path, branch: str, base: str, pipeline: str) -> list[str]:
    """The pipeline's stages that declare a params.yaml key the experiment changed (vs ``base``), in file order."""
    from .. import yamlio
    from .settings import _declared_params, _overlaps

    def params_at(rev: str) -> dict:
        text = git(root, "show", f"{rev}:params.yaml", check=False)
        return (yamlio.loads(text, source=f"{rev}:params.yaml") or {}) if text else {}

    changed = sorted(_diff(params_at(base), params_at(branch)))
    spec = yamlio.load_file(root / pipeline) or {}
    stages = [s for s, body in (spec.get("stages") or {}).items()
              if any(_overlaps(key, d) for key in changed for d in _declared_params(body))]
    logger.info("params changed by the experiment: %s; rebuilding stage(s) %s", ", ".join(changed) or "none",
                ", ".join(stages) or "none")
    return stages


def _diff(a: object, b: object, prefix: str = "") -> set[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for key in set(a) | set(b):
            out |= _diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return {prefix[:-1]} if a != b else set()


def _repro(root: Path, branch: str, original: str, *args: str) -> None:
    run = dvc_cli(root, "repro", *args)
    if run.returncode != 0:
        text = run.stdout + run.stderr
        failed = re.findall(r"failed to reproduce '([^']+)'", text) or re.findall(r"Running stage '([^']+)'", text)[-1:]
        stage = failed[-1] if failed else "unknown"
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
        raise SweepFailed(f"dvc repro {' '.join(args)} failed at stage {stage!r} on branch {branch} (it holds the "
                          f"experiment's commit); switched back to {original} unless --stay. Inspect with `git checkout {branch}` and "
                          f"`dvc repro`; after a fix commit there, or delete the branch and apply again. dvc said:\n"
                          f"{tail}")


def _outcome(root: Path) -> tuple[str, int | None]:
    from ..stages.params import load_params_file

    register = (load_params_file(root / "params.yaml").get("register") or {})
    path = root / str(register.get("decision_file", "reports/register/decision.json"))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unknown", None
    return str(data.get("outcome", "unknown")), (data.get("challenger") or {}).get("version")


def _back(root: Path, original: str) -> None:
    git(root, "reset", "-q", "--hard", check=False)  # only what the pipeline changed (the tree was clean)
    git(root, "checkout", "-q", original, check=False)
    back = dvc_cli(root, "checkout")
    if back.returncode != 0:
        logger.warning("dvc checkout on %s left outputs out of date (%s); `dvc repro` rebuilds those its dvc.lock "
                       "does not find in the cache", original, (back.stderr or back.stdout).strip().splitlines()[-1:])
