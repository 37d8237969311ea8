#!/usr/bin/env python3
"""Prefect 3's task workers in the shape of benches/scale/task_workers.py: WORKERS processes
serving a no-op task (`prefect.task_worker.serve`), one sender calling `noop.delay(i)` RUNS times at
once and waiting for every value. Starts its own `prefect server start` (SQLite, a throwaway
PREFECT_HOME). Prints one JSON line: runs/s and send → value latency p50/p99.

  benches/peers/.venv/bin/python benches/peers/prefect_task_workers.py --runs 1000 --workers 4
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


def worker(limit):
    from prefect.task_worker import serve
    from prefect_noop_task import noop
    serve(noop, limit=limit)


def send(n):
    from prefect.futures import as_completed
    from prefect_noop_task import noop
    start = time.perf_counter()
    sent = {}
    futures = []
    for i in range(n):
        t = time.perf_counter()
        f = noop.delay(i)
        sent[f.task_run_id] = (i, t)
        futures.append(f)
    latencies = []
    for f in as_completed(futures):
        i, t = sent[f.task_run_id]
        if f.result() != i:
            raise SystemExit(f"run {i} gave another value")
        latencies.append((time.perf_counter() - t) * 1000)
    seconds = time.perf_counter() - start
    latencies.sort()
    at = lambda q: latencies[round((len(latencies) - 1) * q)]
    print(json.dumps({"runs": n, "seconds": round(seconds, 2), "runs_per_s": round(n / seconds),
                      "p50_ms": round(at(0.5)), "p99_ms": round(at(0.99))}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve", "send"])
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--port", type=int, default=4299)
    args = ap.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    if args.mode == "serve":
        return worker(args.limit)
    if args.mode == "send":
        return send(args.runs)
    home = tempfile.mkdtemp(prefix="prefect-tw-")
    env = dict(os.environ, PREFECT_HOME=home,
               PREFECT_API_URL=f"http://127.0.0.1:{args.port}/api",
               PREFECT_LOGGING_LEVEL="WARNING", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--port",
                               str(args.port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    workers = []
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{args.port}/api/health", timeout=1)
                break
            except Exception:
                time.sleep(0.2)
        for _ in range(args.workers):
            workers.append(subprocess.Popen([sys.executable, __file__, "serve", "--limit",
                                             str(args.limit)], env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(5)
        out = subprocess.run([sys.executable, __file__, "send", "--runs", str(args.runs)],
                             env=env, check=True, capture_output=True, text=True).stdout
        result = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
        result["workers"] = args.workers
        result["peer"] = "prefect"
        print(json.dumps(result))
    finally:
        for p in workers + [server]:
            p.terminate()
        for p in workers + [server]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
