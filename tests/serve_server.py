"""Start ``mlprod serve`` as a real subprocess on a free loopback port, talk to it with http.client, stop it."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROW = {"lead_id": "L1", "region": "north", "channel": "web", "age": 35, "income": 52000.0,
       "days_since_last_activity": 4, "activity_trend": 0.2, "n_interactions": 5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    cwd: Path
    log: Path
    stopped: bool = field(default=False)

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | str | None = None,
                content_type: str | None = "application/json", headers: dict | None = None):
        conn = self.connection()
        try:
            sent = dict(headers or {})
            if content_type is not None:
                sent["Content-Type"] = content_type
            conn.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=sent)
            response = conn.getresponse()
            data = response.read()
            return response.status, data, response
        finally:
            conn.close()

    def invoke(self, payload, content_type: str = "application/json"):
        body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
        status, data, _ = self.request("POST", "/invocations", body, content_type)
        return status, json.loads(data)

    def metrics(self) -> dict[tuple[str, tuple], float]:
        from prometheus_client.parser import text_string_to_metric_families

        status, data, _ = self.request("GET", "/metrics", content_type=None)
        assert status == 200
        samples = {}
        for family in text_string_to_metric_families(data.decode()):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    def wait_ready(self, timeout: float = 60.0, status: int = 200) -> dict:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                code, data, _ = self.request("GET", "/ready", content_type=None)
                last = (code, data)
                if code == status:
                    return json.loads(data)
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"/ready never answered {status} (last: {last}):\n{self.output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"server did not stop within {timeout} s:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start(cwd: Path, *args: str, env: dict | None = None, ready: bool = True) -> Server:
    port = free_port()
    log = cwd / f"serve-{port}.log"
    environ = {**os.environ, **(env or {})}
    environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "mlprod", "serve", *args, "--port", str(port)], cwd=cwd,
                                   stdout=out, stderr=subprocess.STDOUT, env=environ)
    server = Server(process, port, cwd, log)
    if ready:
        server.wait_ready()
    return server
