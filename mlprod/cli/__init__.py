"""The ``mlprod`` command line: one module per verb, each a thin layer over the library."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
from typing import Iterator, Sequence

from ..errors import MlprodError, StopRequested

VERBS = ("init", "check", "run", "manifest", "lineage", "reproduce", "validate", "schema", "register", "promote", "rollback", "registry", "card", "profile", "drift", "score", "monitor", "retrain", "backtest", "demo-stream", "serve", "review", "experiment", "canary", "sweep", "notebooks")


def build_parser(verbs: Sequence[str] = VERBS) -> argparse.ArgumentParser:
    """The command-line parser with the sub-commands ``verbs`` (all of them by default)."""
    from .. import __version__

    parser = argparse.ArgumentParser(prog="mlprod", description="Notebooks to production ML.")
    parser.add_argument("--version", action="version", version=f"mlprod {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show debug logging")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="COMMAND")
    import importlib

    for verb in verbs:
        importlib.import_module(f"{__name__}.{verb.replace('-', '_')}").add_parser(sub)
    return parser


def _requested_verb(argv: Sequence[str]) -> str | None:
    """The sub-command named in ``argv``, if it is a known one (then only its parser is built)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in VERBS else None
    return None


def entry() -> None:
    """Console-script entry: run :func:`main` and exit without tearing down the interpreter.

    Everything mlprod writes is complete (fsynced and renamed) before ``main`` returns; skipping the
    interpreter's module teardown (~0.2 s with Jupyter's modules loaded) keeps stage overhead low.
    """
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    verb = _requested_verb(argv)
    # building every verb's parser imports every verb's module: only the one asked for is needed
    parser = build_parser((verb,) if verb else VERBS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="mlprod: %(message)s", stream=sys.stderr)
    for noisy in ("papermill", "traitlets", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        with _stop_on_sigterm():
            return int(args.func(args) or 0)
    except MlprodError as exc:
        print(f"mlprod {args.verb}: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Python's own Ctrl-C carries no text; the CLI's StopRequested says which signal
        print(f"mlprod {args.verb}: {str(exc) or 'interrupted by Ctrl-C (SIGINT)'}", file=sys.stderr)
        return 128 + getattr(exc, "signum", signal.SIGINT)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into :class:`StopRequested` (a KeyboardInterrupt) while a command runs, so it
    cleans up as after Ctrl-C instead of dying mid-write. Only the main thread can set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:  # noqa: ARG001
        raise StopRequested(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
