"""``mlprod serve`` against ``mlflow models serve`` on the same model: 1-row requests over loopback.

    python benchmarks/serve_throughput.py [--workers 1] [--duration 10] [--rounds 5] [--connections 8] [--rows 20000]
                                          [--max-iter N]

Trains the demo's primary model as the train stage does (params.yaml train: section) on ``--rows`` demo leads in
a temporary folder, registers it the way ``mlprod register`` does (an MLflow model, sklearn flavor, in a
throwaway SQLite registry there) and promotes it to ``champion``. Then it starts both servers with the same
worker count: ``mlprod serve bench@champion`` (the repository's serving: settings, the prediction log written
into the temporary folder) and ``mlflow models serve -m models:/bench/1 --env-manager local``. Each round
loads each server for ``--duration`` seconds with ``--connections`` keep-alive connections sending the same
1-row ``dataframe_split`` request; the order alternates round by round. The load generator is ``wrk`` when it
is on PATH (``--latency``: requests/s and p99), else a Python one (threads + http.client keep-alive; it costs
CPU on the same machine, so its absolute figures are lower). The figures: each round's ratio
mlprod/mlflow of requests/s and of p99 latency, and their medians over rounds.
Goals (issue 15): at least 2x MLflow's requests/s, at most half its p99.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LUA = 'wrk.method = "POST"\nwrk.body = {body}\nwrk.headers["Content-Type"] = "application/json"\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(root: Path, rows: int, max_iter: int | None) -> dict:
    from mlprod.data import make_leads
    from mlprod.registry.register import register_model
    from mlprod.registry.store import Registry
    from mlprod.stages.params import load_params_file
    from mlprod.training import ModelSettings, build_pipeline, fit_and_save

    params = load_params_file(REPO / "params.yaml")
    project = params["project"]
    features = project["categorical_features"] + project["numeric_features"]
    leads = make_leads(n_rows=rows, seed=7)
    data = root / "train.csv"
    leads.to_csv(data, index=False)
    train = dict(params["train"], **({"max_iter": max_iter} if max_iter else {}))
    pipeline = build_pipeline(ModelSettings.from_mapping(train), project["categorical_features"],
                              project["numeric_features"])
    fit_and_save(pipeline, leads, target=project["target"], features=features, model_dir=root / "model",
                 name="bench", training_data=data, version="1.0.0")
    registry = Registry.open(root)
    version = register_model(root / "model", registry=registry)
    registry.client.set_registered_model_alias("bench", "champion", version.version)
    row = make_leads(n_rows=100, seed=8)[features].iloc[0]
    body = {"dataframe_split": {"columns": features, "data": [[_plain(v) for v in row.tolist()]]}}
    (root / "params.yaml").write_text(
        (REPO / "params.yaml").read_text() + "\n")  # the repository's serving: and prediction_log: settings
    return {"uri": version.uri, "body": json.dumps(body), "tracking": registry.location.tracking_uri}


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def start(cmd: list[str], cwd: Path, env: dict, port: int, body: str, log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{cmd[:3]} exited:\n{log.read_text()[-3000:]}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            conn.close()
            if response.status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.5)
    process.kill()
    raise SystemExit(f"{cmd[:3]} never answered:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def load_wrk(port: int, duration: float, connections: int, script: Path) -> tuple[float, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{int(duration)}s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}/invocations"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99[2]]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"port {port}: {errors[1]} failed responses:\n{out}")
    return rps, float(p99[1]) * scale


def load_python(port: int, duration: float, connections: int, body: str) -> tuple[float, float]:
    latencies: list[float] = []
    failed: list[int] = []
    stop_at = time.monotonic() + duration
    lock = threading.Lock()

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine = []
        while time.monotonic() < stop_at:
            began = time.perf_counter()
            conn.request("POST", "/invocations", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            if response.status != 200:
                failed.append(response.status)
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise SystemExit(f"port {port}: {len(failed)} failed responses")
    latencies.sort()
    return len(latencies) / duration, latencies[int(0.99 * (len(latencies) - 1))] * 1000


def tiers(port: int) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mlprod_serving_rows_total":
                tier = sample.labels["tier"]
                counts[tier] = counts.get(tier, 0) + sample.value
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--max-iter", type=int, default=None,
                        help="boosting rounds (default: params.yaml's train.max_iter); fewer = a cheaper model, so "
                             "the servers' own cost weighs more")
    parser.add_argument("--pin-peer", action="store_true",
                        help="run mlflow models serve under taskset on as many CPUs as workers: the peer tuned the way "
                             "mlprod serve pins its workers (--cpu-affinity auto), to see what is left of the ratio")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    print(f"load generator: {'wrk' if use_wrk else 'Python threads + http.client keep-alive (wrk not on PATH)'}; "
          f"{args.workers} worker(s) each, {args.connections} connections, {args.duration:g} s x {args.rounds} "
          "rounds, 1-row requests, loopback")
    with tempfile.TemporaryDirectory(prefix="mlprod-serve-bench-") as tmp:
        root = Path(tmp)
        made = build(root, args.rows, args.max_iter)
        script = root / "post.lua"
        script.write_text(LUA.format(body=json.dumps(made["body"])))
        # mlflow models serve runs `uvicorn` from PATH: this interpreter's scripts folder first
        env = {**os.environ, "MLFLOW_TRACKING_URI": made["tracking"],
               "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        ports = {"mlprod": free_port(), "mlflow": free_port()}
        pin = []
        if args.pin_peer:
            cpus = sorted(os.sched_getaffinity(0))[:args.workers]
            pin = ["taskset", "-c", ",".join(map(str, cpus))]
            print(f"mlflow models serve pinned: {' '.join(pin)}")
        commands = {
            "mlprod": [sys.executable, "-m", "mlprod", "serve", "bench@champion", "--workers", str(args.workers),
                       "--port", str(ports["mlprod"])],
            "mlflow": pin + [sys.executable, "-m", "mlflow", "models", "serve", "-m", made["uri"], "--env-manager",
                       "local", "--workers", str(args.workers), "--host", "127.0.0.1", "--port", str(ports["mlflow"])],
        }
        servers = {}
        try:
            for name, cmd in commands.items():
                servers[name] = start(cmd, root, env, ports[name], made["body"], root / f"{name}.log")
            results: dict[str, list[tuple[float, float]]] = {"mlprod": [], "mlflow": []}
            for r in range(args.rounds):
                order = ("mlprod", "mlflow") if r % 2 == 0 else ("mlflow", "mlprod")
                for name in order:
                    if use_wrk:
                        results[name].append(load_wrk(ports[name], args.duration, args.connections, script))
                    else:
                        results[name].append(load_python(ports[name], args.duration, args.connections, made["body"]))
                (a_rps, a_p99), (b_rps, b_p99) = results["mlprod"][-1], results["mlflow"][-1]
                print(f"round {r + 1}: mlprod {a_rps:8.0f} req/s p99 {a_p99:7.2f} ms | mlflow {b_rps:8.0f} req/s "
                      f"p99 {b_p99:7.2f} ms | throughput x{a_rps / b_rps:.2f}, p99 x{a_p99 / b_p99:.2f}")
            print(f"mlprod rows by tier: {tiers(ports['mlprod'])} (anything but primary would flatter its figures)")
        finally:
            for process in servers.values():
                stop(process)
    rps_ratio = statistics.median(a[0] / b[0] for a, b in zip(results["mlprod"], results["mlflow"]))
    p99_ratio = statistics.median(a[1] / b[1] for a, b in zip(results["mlprod"], results["mlflow"]))
    med = {n: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for n, v in results.items()}
    print(f"median: mlprod {med['mlprod'][0]:.0f} req/s p99 {med['mlprod'][1]:.2f} ms; mlflow {med['mlflow'][0]:.0f} "
          f"req/s p99 {med['mlflow'][1]:.2f} ms")
    print(f"median ratio mlprod/mlflow: throughput x{rps_ratio:.2f} (goal >= 2), p99 x{p99_ratio:.2f} (goal <= 0.5)")


if __name__ == "__main__":
    main()
