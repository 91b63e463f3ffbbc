"""The README's quickstart entry point: its usage text, without creating an environment."""

from __future__ import annotations

import subprocess
import sys


def quickstart(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlprod.quickstart", *args], capture_output=True, text=True,
                          timeout=60, check=False)


def test_help_prints_the_two_commands_and_exits_0() -> None:
    for flag in ("--help", "-h"):
        done = quickstart(flag)
        assert done.returncode == 0
        assert "python3 -m mlprod.quickstart repro" in done.stdout
        assert "python3 -m mlprod.quickstart test" in done.stdout


def test_an_unknown_command_shows_the_usage_and_exits_2() -> None:
    for args in ((), ("reproduce",)):
        done = quickstart(*args)
        assert done.returncode == 2
        assert "python3 -m mlprod.quickstart repro" in done.stderr
