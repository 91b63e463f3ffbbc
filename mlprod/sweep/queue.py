"""Queue settings as DVC experiments, run them on N queue workers, wait, and say which failed where.

Order of work (and why):
1. the project must be a git repository with a commit and a DVC project: experiments are commits on the
   baseline (HEAD). Uncommitted changes to tracked files are allowed, as in ``dvc exp run``: DVC stashes them
   into every experiment's commit, so each experiment records exactly what it ran;
2. DVC's queue must hold nothing else (queued or running): the workers run every queued experiment, and
   another run's entries would be mixed into this sweep;
3. every setting is checked (:mod:`.settings`) and every name is free before the first one is queued; a
   queueing error removes what this sweep queued;
4. each setting is queued as ``dvc exp run --queue --name NAME -S key=value TARGET`` (DVC's Python API, one
   process for all): the experiment runs up to TARGET (``evaluate`` by default) and never the register
   stage. DVC builds each temporary workspace (.dvc/tmp/exps/tmpXXXX) from git objects alone: a fresh
   repository that the baseline commit and the stash of tracked changes are pushed into, DVC outputs
   checked out from the cache. Untracked and ignored files (mlflow.db, mlruns/, mlartifacts/) are never
   copied (DVC copies only ``--copy-paths``, which mlprod never passes);
5. ``dvc queue start -j N``, then the queue's status is polled until none of the sweep's entries is queued
   or running. A queue with entries waiting and none running for ``restart_after`` seconds gets its workers
   started again (DVC skips workers that are alive): a worker that died does not stall the sweep;
6. failed experiments are read from ``dvc queue logs NAME``: the stage that failed and mlprod run's message
   (which names the notebook cell).
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import SweepError, SweepFailed
from .settings import Setting

logger = logging.getLogger(__name__)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")


@dataclass(frozen=True)
class Failure:
    name: str
    stage: str | None
    message: str  # the last lines of the experiment's log that say what went wrong

    def line(self) -> str:
        where = f"stage {self.stage!r}" if self.stage else "setup (before any stage ran)"
        return f"{self.name}: failed at {where}: {self.message}"


@dataclass(frozen=True)
class SweepRun:
    names: tuple[str, ...]
    settings: tuple[Setting, ...]
    status: dict[str, str]  # name -> Success | Failed | Queued | Running | Unknown
    failures: tuple[Failure, ...] = field(default_factory=tuple)
    seconds: float = 0.0


def dvc_exe() -> str:
    return shutil.which("dvc") or str(Path(sys.executable).parent / "dvc")


def dvc_cli(root: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([dvc_exe(), *args], cwd=root, capture_output=True, text=True, check=False,
                          env=_env())


def git(root: Path, *args: str, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise SweepError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def _env() -> dict[str, str]:
    """This environment with the interpreter's scripts folder on PATH: the queue workers DVC spawns run
    ``dvc`` and the stages' ``mlprod run`` from PATH."""
    env = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    if scripts not in env.get("PATH", "").split(os.pathsep):
        env["PATH"] = scripts + os.pathsep + env.get("PATH", "")
    return env


def changed_files(root: Path) -> list[str]:
    """Tracked files with uncommitted changes (staged or not)."""
    done = subprocess.run(["git", "status", "--porcelain", "-z", "--untracked-files=no"], cwd=root,
                          capture_output=True, text=True, check=False)
    return [entry[3:] for entry in done.stdout.split("\0") if len(entry) > 3]


def check_project(root: Path) -> str:
    """The baseline commit (HEAD); refuses a folder that is not a git repository with a commit and DVC."""
    inside = git(root, "rev-parse", "--is-inside-work-tree", check=False)
    if inside != "true":
        raise SweepError(f"{root} is not a git repository; DVC experiments are commits on top of the current "
                         "one: `git init`, `dvc init` and commit the project first")
    head = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False)
    if not head:
        raise SweepError(f"{root}: the git repository has no commit yet; commit the project first (experiments "
                         "are built on the current commit)")
    if not (root / ".dvc").is_dir():
        raise SweepError(f"{root} is not a DVC project (no .dvc folder); run `dvc init` and commit")
    return head


def default_prefix(now: datetime | None = None) -> str:
    return (now or datetime.now()).strftime("sweep-%m%d-%H%M%S")


def experiment_names(prefix: str, count: int) -> list[str]:
    if not _NAME.fullmatch(prefix) or prefix.endswith(".") or ".." in prefix:
        raise SweepError(f"--name {prefix!r}: expected letters, digits, '-', '_' or '.' (a git ref name), "
                         "e.g. lr-sweep")
    return [f"{prefix}-{i}" for i in range(1, count + 1)]


def existing_names(root: Path, baseline: str) -> set[str]:
    refs = git(root, "for-each-ref", "--format=%(refname)", f"refs/exps/{baseline[:2]}/{baseline[2:]}/", check=False)
    return {ref.rsplit("/", 1)[-1] for ref in refs.splitlines() if ref}


def queue_status(root: Path) -> list[dict]:
    """DVC's queue entries: {name, rev, status} (Queued, Running, Failed, Success)."""
    from dvc.repo import Repo

    with Repo(os.fspath(root)) as repo:
        return [{"name": e.get("name"), "rev": e.get("rev"), "status": e.get("status")}
                for e in repo.experiments.celery_queue.status()]


def run_sweep(root: Path, settings: list[Setting], *, target: str, jobs: int, prefix: str | None = None,
              timeout: float | None = None, poll: float = 2.0, restart_after: float = 30.0) -> SweepRun:
    """Queue ``settings`` (checked by the caller) as experiments up to ``target``, run them, wait (module docstring)."""
    if jobs < 1:
        raise SweepError(f"--jobs {jobs}: expected at least 1 queue worker")
    baseline = check_project(root)
    names = experiment_names(prefix or default_prefix(), len(settings))
    taken = existing_names(root, baseline) & set(names)
    if taken:
        raise SweepError(f"experiment name(s) {', '.join(sorted(taken))} exist already on this commit; choose "
                         "another --name (or remove them: dvc exp remove NAME)")
    before = queue_status(root)
    busy = [e for e in before if e["status"] in ("Queued", "Running")]
    if busy:
        listed = ", ".join(f"{e['name'] or e['rev'][:7]} ({e['status'].lower()})" for e in busy[:6])
        raise SweepError(f"DVC's experiment queue is not empty: {listed}. Its workers would run those with this "
                         "sweep; wait for them or remove them (`dvc queue remove --queued`, `dvc queue kill NAME`)")
    dirty = changed_files(root)
    if dirty:
        logger.warning("uncommitted changes to tracked files go into every experiment (as with dvc exp run): %s",
                       ", ".join(dirty[:5]))

    started = time.monotonic()
    _queue(root, settings, names, target)
    known = {e["rev"] for e in before}  # an earlier failed run may have used these names: follow revisions
    found = {e["name"]: e["rev"] for e in queue_status(root) if e["rev"] not in known and e["name"] in names}
    if set(found) != set(names):
        raise SweepError(f"DVC's queue does not list {', '.join(sorted(set(names) - set(found)))} after queueing; "
                         "see `dvc queue status`")
    revs = {name: found[name] for name in names}
    logger.info("queued %d experiment(s) up to stage %r: %s .. %s; starting %d queue worker(s)", len(names),
                target, names[0], names[-1], jobs)
    _start_workers(root, jobs)
    status = _wait(root, revs, jobs=jobs, timeout=timeout, poll=poll, restart_after=restart_after)
    failures = tuple(read_failure(root, name, revs[name]) for name in names if status.get(name) != "Success")
    return SweepRun(tuple(names), tuple(settings), status, failures, time.monotonic() - started)


def _queue(root: Path, settings: list[Setting], names: list[str], target: str) -> None:
    from dvc.repo import Repo

    queued: list[str] = []
    with Repo(os.fspath(root)) as repo, contextlib.redirect_stdout(io.StringIO()):
        try:
            for name, setting in zip(names, settings):
                repo.experiments.run(targets=[target], params=setting.overrides(), queue=True, name=name)
                queued.append(name)
        except Exception as exc:
            if queued:
                with contextlib.suppress(Exception):
                    repo.experiments.celery_queue.remove(queued)
            failed = settings[len(queued)].describe()
            raise SweepError(f"DVC refused to queue {failed!r}: {exc}; nothing of this sweep is left queued") from exc


def _start_workers(root: Path, jobs: int) -> None:
    done = dvc_cli(root, "queue", "start", "-j", str(jobs))
    if done.returncode != 0:
        raise SweepError(f"dvc queue start -j {jobs} failed: {(done.stderr or done.stdout).strip()[-500:]}")


def _wait(root: Path, revs: dict[str, str], *, jobs: int, timeout: float | None, poll: float,
          restart_after: float) -> dict[str, str]:
    names = list(revs)
    start = last_progress = time.monotonic()
    seen: dict[str, str] = {}
    try:
        while True:
            by_rev = {e["rev"]: e["status"] for e in queue_status(root)}
            current = {name: by_rev.get(rev, "Unknown") for name, rev in revs.items()}
            for name in names:
                state = current.get(name, "Unknown")
                if state != seen.get(name) and state in ("Success", "Failed"):
                    finished = sum(current.get(n) in ("Success", "Failed") for n in names)
                    logger.info("%s: %s (%d/%d done)", name, state.lower(), finished, len(names))
                if state != seen.get(name):
                    last_progress = time.monotonic()
            seen = {name: current.get(name, "Unknown") for name in names}
            waiting = [n for n in names if seen[n] in ("Queued", "Running")]
            if not waiting:
                return seen
            now = time.monotonic()
            if "Running" not in seen.values() and now - last_progress > restart_after:
                logger.warning("experiments wait in the queue with no worker running them; starting %d worker(s) "
                               "again", jobs)
                _start_workers(root, jobs)
                last_progress = now
            if timeout is not None and now - start > timeout:
                raise SweepFailed(f"the sweep did not finish within {timeout:g} s: {', '.join(waiting)} still "
                                  "queued or running (they go on in the background). Follow them with `dvc queue "
                                  "status` / `dvc queue logs NAME`, stop them with `dvc queue kill NAME`, and print "
                                  "the table later with `mlprod sweep show`")
            time.sleep(poll)
    except KeyboardInterrupt:
        logger.warning("stopped waiting; the experiments go on in DVC's queue workers: `dvc queue status`, "
                       "`dvc queue kill NAME` to stop one, `mlprod sweep show --name PREFIX` for the table")
        raise


_STAGE = re.compile(r"Running stage '([^']+)'")
_FAILED = re.compile(r"failed to reproduce '([^']+)'")


def read_failure(root: Path, name: str, rev: str) -> Failure:
    """What ``dvc queue logs REV`` says about a failed experiment: its stage and mlprod run's message."""
    done = dvc_cli(root, "queue", "logs", rev)
    log = done.stdout if done.returncode == 0 else (done.stderr or done.stdout)
    return parse_failure(name, log)


def parse_failure(name: str, log: str) -> Failure:
    failed = _FAILED.findall(log) or _STAGE.findall(log)[-1:]
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    starts = [i for i, line in enumerate(lines) if _STAGE.match(line)]
    stage_lines = list(dict.fromkeys(lines[starts[-1] + 1:] if starts else lines))  # DVC repeats its ERROR line
    stage_lines = [line for line in stage_lines if not line.startswith("> ")]
    said = [line for line in stage_lines if line.startswith("mlprod run:") and "fail" in line]
    errors = [line for line in stage_lines if line.startswith("ERROR")]
    own = [line for line in stage_lines if not line.startswith(("ERROR", "WARNING", "mlprod"))]
    message = " | ".join(said[-1:] + errors[-1:] if said else own[-2:] + errors[-1:]) or \
        "no log (dvc queue logs printed nothing)"
    return Failure(name, failed[-1] if failed else None, message[-1200:])
