"""``mlprod notebooks clean [PATHS] [--check]`` and ``mlprod notebooks jupyter-config``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notebooks", help="keep stage notebooks in their normal form (no outputs) for DVC and git",
                       description="Stage notebooks are DVC dependencies: outputs and kernel metadata in them "
                                   "make DVC rerun the stage. See docs/jupyterlab.md.")
    verbs = p.add_subparsers(dest="notebooks_verb", required=True, metavar="ACTION")
    clean = verbs.add_parser(
        "clean", help="strip outputs, execution counts and UI metadata from stage notebooks",
        description="Rewrite notebooks in the normal form JupyterLab's mlprod save hook writes: no outputs, "
                    "execution counts null, no kernel/widget/papermill metadata; sources, cell ids and tags kept. "
                    "Without PATHS: the stage notebooks (parameters cell calling init_stage) under notebooks/ and "
                    "pipelines/ of the current folder; a folder stands for the stage notebooks under it; a file is "
                    "cleaned whatever it is. Exit codes: 0 all clean (or cleaned), 1 --check found notebooks to "
                    "clean, 2 a file is not a readable notebook.")
    clean.add_argument("paths", nargs="*", metavar="PATH", help="notebook files or folders")
    clean.add_argument("--check", action="store_true", help="change nothing; list the notebooks that are not clean")
    clean.set_defaults(func=run_clean)
    config = verbs.add_parser(
        "jupyter-config", help="enable the save hook in this environment's Jupyter server config",
        description="Write {sys.prefix}/etc/jupyter/jupyter_server_config.d/mlprod.json (installed with the "
                    "package; this repairs an environment where it is missing). Disable the hook with "
                    "`jupyter server extension disable mlprod.jupyter`.")
    config.set_defaults(func=run_config)


def run_clean(args: argparse.Namespace) -> int:
    from ..jupyter.clean import clean_files, default_paths, expand

    paths = expand(args.paths) if args.paths else default_paths(Path("."))
    result = clean_files(paths, check=args.check)
    for path in result.changed:
        print(f"{'not clean' if args.check else 'cleaned'}: {path}")
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    verb = "to clean" if args.check else "cleaned"
    print(f"mlprod notebooks: {len(result.changed)} {verb}, {len(result.clean)} already clean, "
          f"{len(result.errors)} error(s)", file=sys.stderr)
    if result.errors:
        return 2
    return 1 if args.check and result.changed else 0


def run_config(args: argparse.Namespace) -> int:
    from ..jupyter.config import install_server_config

    path = install_server_config()
    print(f"mlprod notebooks: wrote {path}; restart JupyterLab to load the save hook", file=sys.stderr)
    return 0
