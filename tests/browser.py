"""Browser helpers for tests: the system Chromium driven by Playwright, and JupyterLab on a project copy.

A missing Chromium fails the test (``.ci/run`` installs Debian's ``chromium`` when it is absent); it never
skips. Pages are loaded with every request outside ``file://`` and loopback recorded, so a test can assert
that a report loads nothing from the network.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("no Chromium on PATH: install Debian's `chromium` package (.ci/run does this when it is missing)")


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A headless Playwright ``Browser`` on the system Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageCheck:
    """What loading one page at one width showed."""

    url: str
    width: int
    scroll_width: int
    client_width: int
    external_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)

    @property
    def overflows(self) -> bool:
        return self.scroll_width > self.client_width

    def problems(self) -> list[str]:
        found = []
        if self.overflows:
            found.append(f"{self.url} at {self.width}px scrolls sideways ({self.scroll_width} > {self.client_width})")
        found += [f"{self.url}: network request {r}" for r in self.external_requests]
        found += [f"{self.url}: console error {e}" for e in self.console_errors]
        return found


def _local(url: str) -> bool:
    return url.startswith(("file:", "data:", "blob:", "about:")) or "//127.0.0.1" in url or "//localhost" in url


def check_page(browser: object, url: str, width: int, height: int = 900) -> PageCheck:
    """Load ``url`` at ``width`` px; record horizontal overflow, non-local requests and console errors."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    external: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: None if _local(r.url) else external.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.route("**/*", lambda route: route.continue_() if _local(route.request.url) else route.abort())
    page.goto(url, wait_until="load")
    page.wait_for_timeout(200)  # scripts that lay out after load (vega) finish
    scroll, client = page.evaluate(
        "() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    context.close()
    return PageCheck(url=url, width=width, scroll_width=scroll, client_width=client,
                     external_requests=external, console_errors=errors)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JupyterLab:
    url: str
    token: str
    root: Path
    process: subprocess.Popen

    def lab_url(self, path: str = "") -> str:
        return f"{self.url}lab/tree/{path}?token={self.token}"


@contextlib.contextmanager
def jupyterlab(root: Path, timeout: float = 90.0) -> Iterator[JupyterLab]:
    """JupyterLab serving ``root`` on loopback with a random token; stopped (and its kernels) afterwards."""
    port, token = free_port(), secrets.token_hex(16)
    bindir = Path(sys.executable).parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLPROD_", "DVC_"))}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", DVC_NO_ANALYTICS="1")
    for name, folder in (("JUPYTERLAB_WORKSPACES_DIR", "workspaces"), ("JUPYTERLAB_SETTINGS_DIR", "settings")):
        if name not in os.environ:  # never restore the user's last workspace (tabs of another project)
            (root.parent / f"jupyterlab-{folder}").mkdir(exist_ok=True)
            env[name] = str(root.parent / f"jupyterlab-{folder}")
    log = open(root.parent / f"jupyterlab-{port}.log", "wb")
    process = subprocess.Popen(
        [str(bindir / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}",
         "--ServerApp.disable_check_xsrf=False", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate", *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}api/status?token={token}", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"JupyterLab did not start; see {log.name}")
                time.sleep(0.3)
        yield JupyterLab(url=url, token=token, root=root, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
