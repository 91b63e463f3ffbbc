"""One table of a sweep's experiments: the parameters that vary, evaluation metrics, manifest lineage.

Everything comes from one ``dvc exp show --json`` call: each experiment's params and metrics, and the hash of
its model folder (``outs``). The folder's listing in the DVC cache names the manifest's object (the workers
commit their outputs to the project's cache), so the manifest each experiment wrote is read without checking
anything out: its version, the md5 of its training data, and the parameters it records, compared with the
experiment's params (a mismatch means the model was not built from the values in the table).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SweepError
from .queue import dvc_cli

DEFAULT_METRICS = ("roc_auc", "average_precision", "log_loss", "brier")


@dataclass(frozen=True)
class Row:
    name: str
    rev: str | None
    status: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    version: str | None = None
    data_md5: str | None = None  # the training data's md5
    commit: str | None = None  # the baseline commit the manifest records
    lineage: str = "-"  # "ok", or what disagrees, or why the manifest could not be read
    mismatches: tuple[str, ...] = field(default_factory=tuple)


def exp_show(root: Path, *, all_commits: bool = False) -> list[dict]:
    done = dvc_cli(root, "exp", "show", "--json", *(["--all-commits"] if all_commits else []))
    if done.returncode != 0:
        raise SweepError(f"dvc exp show --json failed: {(done.stderr or done.stdout).strip()[-500:]}")
    try:
        return json.loads(done.stdout)
    except ValueError as exc:
        raise SweepError(f"dvc exp show --json printed no JSON: {done.stdout[:200]!r}") from exc


def experiments(shown: list[dict]) -> dict[str, dict]:
    """name -> {rev, data, error} for every experiment in ``dvc exp show --json`` output."""
    found: dict[str, dict] = {}
    for baseline in shown:
        for group in baseline.get("experiments") or ():
            state = str((group.get("executor") or {}).get("state") or "success")
            for rev in group.get("revs") or ():
                name = rev.get("name")
                if name and (name not in found or found[name]["state"] != "success"):  # a failed run of a reused
                    found[name] = {"rev": rev.get("rev"), "data": rev.get("data") or {}, "state": state,  # name
                                   "error": rev.get("error"), "baseline": baseline.get("rev")}
    return found


def varied_keys(found: dict[str, dict], names: list[str]) -> list[str]:
    """The params.yaml keys whose values differ between the experiments ``names`` (for ``sweep show``)."""
    flat = []
    for name in names:
        params = ((found[name]["data"].get("params") or {}).get("params.yaml") or {}).get("data") or {}
        flat.append(dict(_leaves(params)))
    keys = dict.fromkeys(k for f in flat for k in f)
    return [k for k in keys if len({json.dumps(f.get(k), sort_keys=True) for f in flat}) > 1]


def _leaves(tree: Any, prefix: str = "") -> Any:
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _leaves(value, f"{prefix}{key}.")
    elif prefix:
        yield prefix[:-1], tree


def collect(root: Path, names: list[str], keys: list[str], status: dict[str, str] | None = None, *,
            metrics_file: str = "metrics/evaluation.json", section: str = "holdout",
            metric_names: tuple[str, ...] = DEFAULT_METRICS, shown: list[dict] | None = None,
            settings: dict[str, dict[str, str]] | None = None) -> list[Row]:
    """The table's rows; ``settings`` (name -> the values queued) fills in the parameters of failed experiments."""
    found = experiments(exp_show(root) if shown is None else shown)
    rows = []
    for name in names:
        entry = found.get(name)
        if entry is None or entry["state"] != "success":
            queued = (settings or {}).get(name)
            if queued is None and entry is not None:
                queued = {k: _get(_params(entry["data"]), k) for k in keys}
            rows.append(Row(name, None, (status or {}).get(name, "Failed"), dict(queued or {}), {}, lineage="no model"))
            continue
        data = entry["data"]
        params = _params(data)
        values = {key: _get(params, key) for key in keys}
        metrics_data = ((data.get("metrics") or {}).get(metrics_file) or {}).get("data") or {}
        block = metrics_data.get(section, metrics_data) if isinstance(metrics_data, dict) else {}
        metrics = {m: block.get(m) for m in metric_names} if isinstance(block, dict) else {}
        row = Row(name, entry["rev"], (status or {}).get(name, entry["state"].capitalize()), values, metrics)
        rows.append(_with_lineage(root, row, data, params))
    return rows


def _with_lineage(root: Path, row: Row, data: dict, params: dict) -> Row:
    from ..manifest.datarefs import cache_path
    from ..manifest.history import cached_manifest
    from ..manifest.schema import MANIFEST_FILE

    model_dir = str(_get(params, "evaluate.model_dir") or "models/model").rstrip("/")
    out = (data.get("outs") or {}).get(model_dir) or {}
    digest = out.get("hash")
    if not isinstance(digest, str) or not digest.endswith(".dir"):
        return _replace(row, lineage=f"no {model_dir} output")
    try:
        listing = json.loads(cache_path(root, digest).read_text(encoding="utf-8"))
        md5 = next(e["md5"] for e in listing if e.get("relpath") == MANIFEST_FILE)
    except (OSError, ValueError, StopIteration, KeyError, TypeError):
        return _replace(row, lineage=f"{model_dir} not in the DVC cache")
    manifest = cached_manifest(root, md5)
    if manifest is None:
        return _replace(row, lineage="manifest unreadable")
    training = manifest.data_by_role("training")
    mismatches = []
    for key, value in row.params.items():
        section, _, leaf = key.partition(".")
        recorded = manifest.parameters.get(section)
        if not isinstance(recorded, dict) or not leaf or leaf.split(".")[0] not in recorded:
            continue  # this stage's parameters are not in the manifest (e.g. ingest's)
        got = _get(recorded, leaf)
        if got != value:
            mismatches.append(f"{key}: manifest {got!r}, params {value!r}")
    return _replace(row, version=manifest.version, data_md5=training[0].md5 if training else None,
                    commit=manifest.lineage.git.commit, lineage="; ".join(mismatches) or "ok",
                    mismatches=tuple(mismatches))


def _params(data: dict) -> dict:
    return (((data.get("params") or {}).get("params.yaml") or {}).get("data")) or {}


def _replace(row: Row, **changes: Any) -> Row:
    import dataclasses

    return dataclasses.replace(row, **changes)


def _get(tree: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def render(rows: list[Row], keys: list[str], metric_names: tuple[str, ...] = DEFAULT_METRICS) -> str:
    """A plain-text table, one line per experiment, columns aligned."""
    header = ["experiment", "status", *keys, *metric_names, "version", "train data md5", "commit", "lineage"]
    lines = [header]
    for row in rows:
        lines.append([row.name, row.status.lower(), *(_fmt(row.params.get(k)) for k in keys),
                      *(_fmt(row.metrics.get(m)) for m in metric_names), row.version or "-",
                      (row.data_md5 or "-")[:12], (row.commit or "-")[:10], row.lineage])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in lines)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    return str(value) if not isinstance(value, (list, dict)) else json.dumps(value)


def to_json(rows: list[Row], keys: list[str]) -> dict[str, Any]:
    return {"schema_version": 1, "kind": "sweep", "varied": keys,
            "experiments": [{"name": r.name, "rev": r.rev, "status": r.status, "params": r.params,
                             "metrics": r.metrics, "manifest": {"version": r.version, "training_data_md5": r.data_md5,
                                                                "commit": r.commit, "lineage": r.lineage}}
                            for r in rows]}
