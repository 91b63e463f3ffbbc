"""``mlprod retrain``: act on a retraining decision, through the training pipeline and its gates, on a branch.

Order of work (and why):
1. read the decision record (``decide.decision_file``); not ``retrain: true`` is a no-op (unless forced).
   Its id is the sha256 of its bytes; a branch ``retrain/*-<id[:8]>`` means it was acted on once already:
   git itself is the record, nothing else to keep in sync. A second run is a no-op when that branch ends
   with its outcome commit, and is refused (naming the branch, how to retry) when it ends with its data
   commit: the training pipeline failed there, and retrying is the team's decision (``--force``);
2. refuse a dirty working tree (what :func:`mlprod.manifest.gitstate.dirty_paths` counts, plus changes to
   the training pipeline's own files and ``dvc.lock``, which the branch commits): the branch must start
   from the commit the team sees;
3. build the training data (:mod:`.retrain_data`) before touching git: no labelled rows is refused;
4. branch ``retrain/<UTC yyyymmdd-hhmm>-<id[:8]>``; write the data, ``dvc add`` it, point ``ingest.source``
   at it, set the split cutoffs and ``train.description`` (why), commit FIRST, so the training run's
   manifest records a clean commit;
5. ``dvc repro <retrain.pipeline>`` (ingest ... register, model_card): register applies the gates and
   promotes or rejects; commit ``dvc.lock`` and the pipeline's uncached outputs naming the outcome;
6. back to the original branch, the working tree's training outputs restored to its ``dvc.lock``
   (``dvc checkout``). On a failure the branch keeps what was committed; the original branch never
   keeps an edited params.yaml.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError, DataError, RetrainFailed, RetrainRefused

logger = logging.getLogger(__name__)
BRANCH_PREFIX = "retrain/"


@dataclass(frozen=True)
class RetrainResult:
    acted: bool
    line: str
    branch: str | None = None
    outcome: str | None = None  # promoted | rejected | forced | unchanged (register's decision)
    registry_version: int | None = None
    data_file: str | None = None
    commits: tuple[str, ...] = field(default_factory=tuple)


def _git(root: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RetrainFailed(f"git {' '.join(args)} failed in {root}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def _dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    import shutil
    import sys

    exe = shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")
    return subprocess.run([exe, *args], cwd=root, capture_output=True, text=True, check=False)


def decision_id(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_decision(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RetrainRefused(f"no decision record at {path}; run the monitoring pipeline (`dvc repro "
                             f"pipelines/monitoring/dvc.yaml` or `mlprod monitor`) first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RetrainRefused(f"{path}: not a readable decision record ({exc})") from exc
    if not isinstance(data, dict) or data.get("kind") != "retraining_decision" or "retrain" not in data:
        raise RetrainRefused(f"{path}: expected a retraining decision record (kind: retraining_decision)")
    return data


def pipeline_files(root: Path, pipeline: str) -> tuple[list[str], list[str]]:
    """The training pipeline's (outputs, uncached outputs), as paths relative to ``root``."""
    from .. import yamlio

    data = yamlio.load_file(root / pipeline) or {}
    base = (root / pipeline).parent.relative_to(root)
    outs, uncached = [], []
    for spec in (data.get("stages") or {}).values():
        wdir = base / spec.get("wdir", ".")
        for key in ("outs", "metrics", "plots"):
            for entry in spec.get(key) or ():
                name, opts = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
                rel = os.path.normpath(wdir / name).replace(os.sep, "/").rstrip("/")
                outs.append(rel)
                if isinstance(opts, dict) and opts.get("cache") is False:
                    uncached.append(rel)
    return outs, uncached


def dirty(root: Path, pipeline: str) -> list[str]:
    from ..manifest.gitstate import dirty_paths

    found = set(dirty_paths(root))
    lock = (Path(pipeline).parent / "dvc.lock").as_posix().removeprefix("./")
    outs, _ = pipeline_files(root, pipeline)
    status = _git(root, "status", "--porcelain=v1", "--untracked-files=no", "--", *outs, lock, pipeline)
    found.update(line[3:] for line in status.splitlines() if line.strip())
    return sorted(found)


def _data_subject(did: str) -> str:
    return f"Retrain for decision {did[:8]}: training data "


def attempts(root: Path, did: str) -> tuple[list[str], list[str]]:
    """The branches that acted on decision ``did``, oldest first: (finished, failed). A finished branch ends
    with the outcome commit; a failed one (the training pipeline failed, or the run was stopped) ends with
    its data commit."""
    names = sorted(b.strip(" *+") for b in _git(root, "branch", "--list", f"{BRANCH_PREFIX}*-{did[:8]}").splitlines())
    finished, failed = [], []
    for name in names:
        subject = _git(root, "log", "-1", "--format=%s", name, "--", check=False)
        (failed if subject.startswith(_data_subject(did)) else finished).append(name)
    return finished, failed


def _describe(decision: dict[str, Any], did: str, reason: str | None, window_text: str) -> str:
    why = reason or "; ".join(decision.get("reasons") or []) or "no reason recorded"
    windows = ", ".join(decision.get("windows") or []) or "none"
    return (f"Retrained for monitoring decision {did[:12]} (as of {decision.get('as_of')}): {why}. Monitored "
            f"windows: {windows}. Training window: {window_text}.")


def edit_params(text: str, *, source: str, holdout_start: str, current_start: str, description: str) -> str:
    """params.yaml's text with ingest.source, the cutoffs and train.description set, comments kept."""
    import io

    from ..project.draft import quoted, yaml_engine

    engine = yaml_engine()
    doc = engine.load(text)
    for section in ("ingest", "train"):
        if not isinstance(doc.get(section), dict):
            raise ConfigError(f"params.yaml: no {section}: section to point at the retraining data")
    doc["ingest"]["source"] = quoted(source)
    doc["ingest"]["holdout_start"] = quoted(holdout_start)
    doc["ingest"]["current_start"] = quoted(current_start)
    doc["train"]["description"] = quoted(description)
    out = io.StringIO()
    engine.dump(doc, out)
    return out.getvalue()


def retrain(root: Path, params_file: Path, *, force: bool = False, reason: str | None = None,
            now: datetime | None = None) -> RetrainResult:
    """Act on the decision record (see the module docstring)."""
    from ..data import write_table
    from ..project.facts import read_facts
    from ..stages.params import load_params_file
    from .loop import read_settings
    from .retrain_data import RetrainSettings, labelled_stream_rows, source_rows, training_window

    if force and not reason:
        raise ConfigError("--force needs --reason TEXT: the model's description records why it was retrained")
    params = load_params_file(params_file)
    settings = RetrainSettings.from_mapping(params.get("retrain"), f"{params_file} [retrain]")
    loop = read_settings(params_file, root)
    facts = read_facts(params, params_file)
    decision_path = root / loop.decision_file
    decision = read_decision(decision_path)
    did = decision_id(decision_path)
    if not decision["retrain"] and not force:
        return RetrainResult(False, f"nothing to do: decision {did[:8]} ({loop.decision_file}) does not say retrain "
                                    f"({'; '.join(decision.get('reasons') or [])})")
    if _git(root, "rev-parse", "--is-inside-work-tree", check=False) != "true" or not _git(
            root, "rev-parse", "--verify", "-q", "HEAD", check=False):
        raise RetrainRefused(f"{root} is not a git repository with a commit; retrain commits on a branch")
    original = _git(root, "symbolic-ref", "-q", "--short", "HEAD", check=False)
    if not original:
        raise RetrainRefused("HEAD is detached; check out the branch the retrain should start from")
    finished, failed = attempts(root, did)
    if finished and not force:
        return RetrainResult(False, f"nothing to do: decision {did[:8]} was already acted on (branch "
                                    f"{finished[-1]}); a decision is acted on once", branch=finished[-1])
    if failed and not force:
        raise RetrainRefused(
            f"decision {did[:8]} was acted on already, but the retrain on branch {failed[-1]} did not finish: the "
            f"branch holds only its data commit (the training pipeline failed or was stopped; that run's message "
            f"said at which stage). Inspect it with `git checkout {failed[-1]}` and `dvc repro {settings.pipeline}`; "
            f"to retry, delete it (`git branch -D {failed[-1]}`) and run `mlprod retrain` again, or run `mlprod "
            f"retrain --force --reason TEXT` for a new branch beside it")
    changed = dirty(root, settings.pipeline)
    if changed:
        raise RetrainRefused(f"the working tree has uncommitted changes ({', '.join(changed[:8])}"
                             f"{' ...' if len(changed) > 8 else ''}); commit or stash them: the retrain branch "
                             f"starts from the last commit")
    if not facts.date_column:
        raise RetrainRefused("project.date_column is not set; the training window is chosen by time")

    stream = labelled_stream_rows(root, loop.monitor.predictions_dir, loop.monitor.labels_dir,
                                  key=facts.key, target=facts.target, positive_label=facts.positive_label)
    for why in stream.skipped:
        logger.warning("left out %s", why)
    ingest = dict(params.get("ingest") or {})
    source = source_rows(root, ingest, target=facts.target, positive_label=facts.positive_label)
    window, in_window = training_window(source, stream, key=facts.key, date_column=facts.date_column,
                                        settings=settings, predictions_dir=loop.monitor.predictions_dir,
                                        labels_dir=loop.monitor.labels_dir)

    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M")
    retrain_id = f"{stamp}-{did[:8]}"
    branch = f"{BRANCH_PREFIX}{retrain_id}"
    if _git(root, "branch", "--list", branch):
        raise RetrainRefused(f"branch {branch} exists already; try again in a minute")
    data_rel = f"{settings.data_dir.rstrip('/')}/{retrain_id}.parquet"
    counts = window.counts(facts.date_column)
    window_text = (f"{settings.describe()} ({window.start} to {window.end}; {len(window.frame)} rows, "
                   f"{in_window} labelled stream rows from {len(stream.batches)} batch(es); holdout from "
                   f"{window.holdout_start}, current from {window.current_start})")
    description = _describe(decision, did, reason if force else None, window_text)
    params_text = params_file.read_text(encoding="utf-8")
    new_params = edit_params(params_text, source=data_rel, holdout_start=window.holdout_start,
                             current_start=window.current_start, description=description)
    params_rel = params_file.resolve().relative_to(root.resolve()).as_posix()

    _git(root, "checkout", "-q", "-b", branch)
    commits: list[str] = []
    stage = "setup"
    try:
        write_table(window.frame, root / data_rel)
        added = _dvc(root, "add", data_rel)
        if added.returncode != 0:
            raise RetrainFailed(f"dvc add {data_rel} failed: {added.stderr.strip()}")
        params_file.write_text(new_params, encoding="utf-8")
        gitignore = (Path(data_rel).parent / ".gitignore").as_posix()
        _git(root, "add", "--", f"{data_rel}.dvc", gitignore, params_rel)
        _git(root, "commit", "-q", "-m", f"{_data_subject(did)}{data_rel} ({window_text})\n\n{description}")
        commits.append(_git(root, "rev-parse", "HEAD"))
        stage = "repro"
        run = _dvc(root, "repro", settings.pipeline)
        if run.returncode != 0:
            failed = re.findall(r"failed to reproduce '([^']+)'", run.stdout + run.stderr)
            failed = failed or re.findall(r"Running stage '([^']+)'", run.stdout)[-1:]
            stage = failed[-1] if failed else "unknown"
            tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
            raise RetrainFailed(f"dvc repro {settings.pipeline} failed at stage {stage!r} on branch {branch} "
                                f"(its commit {commits[0][:10]} holds the training data and params); back on "
                                f"{original}, its working tree as it was. Inspect with `git checkout {branch}` and "
                                f"`dvc repro {settings.pipeline}`; to retry after a fix, `git branch -D {branch}` "
                                f"and `mlprod retrain`, or `mlprod retrain --force --reason TEXT`. dvc said:\n{tail}")
        outcome, version = _outcome(root, params)
        _, uncached = pipeline_files(root, settings.pipeline)
        lock = (Path(settings.pipeline).parent / "dvc.lock").as_posix().removeprefix("./")
        _git(root, "add", "--", lock, *[p for p in uncached if (root / p).exists()])
        _git(root, "commit", "-q", "-m", f"Retrain for decision {did[:8]}: {outcome} (registry version {version})")
        commits.append(_git(root, "rev-parse", "HEAD"))
    except BaseException:
        _restore(root, original, data_rel, settings.pipeline)
        raise
    _restore(root, original, data_rel, settings.pipeline)
    line = (f"decision {did[:8]}: retrained on branch {branch} ({window_text}); registry version {version}: "
            f"{outcome}; back on {original} (merge {branch} to make the retrained model the project's)")
    return RetrainResult(True, line, branch, outcome, version, data_rel, tuple(commits))


def _outcome(root: Path, params: dict[str, Any]) -> tuple[str, int | None]:
    register = params.get("register") or {}
    path = root / str(register.get("decision_file", "reports/register/decision.json"))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unknown", None
    return str(data.get("outcome", "unknown")), (data.get("challenger") or {}).get("version")


def _restore(root: Path, original: str, data_rel: str, pipeline: str) -> None:
    """Back to ``original``: tracked files the branch changed but did not commit are reset first (never carried
    over), the retrain data file (tracked only on the branch) is removed, the training outputs checked out."""
    _git(root, "reset", "-q", "--", ".", check=False)
    outs, _ = pipeline_files(root, pipeline)
    lock = (Path(pipeline).parent / "dvc.lock").as_posix().removeprefix("./")
    params_rel = "params.yaml"
    for path in (params_rel, lock, *outs, f"{data_rel}.dvc", (Path(data_rel).parent / ".gitignore").as_posix()):
        _git(root, "checkout", "-q", "HEAD", "--", path, check=False)
    _git(root, "checkout", "-q", original)
    (root / data_rel).unlink(missing_ok=True)
    for leftover in (root / f"{data_rel}.dvc",):
        if not _git(root, "ls-files", "--", leftover.relative_to(root).as_posix(), check=False):
            leftover.unlink(missing_ok=True)
    back = _dvc(root, "checkout", pipeline)
    if back.returncode != 0:
        logger.warning("dvc checkout %s on %s failed (%s); run it to restore the training outputs", pipeline,
                       original, back.stderr.strip()[-300:])
