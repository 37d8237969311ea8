#!/usr/bin/env python3
"""Task-worker benchmark: WORKERS task-worker processes and one sender on one PostgreSQL database.

Creates a fresh database, starts WORKERS `task_workers serve LIMIT` processes (the example in
`flowcore/examples/task_workers/`), all reaching the database directly (`FLOWCORE_DATABASE_URL`)
and sharing one result storage (`FLOWCORE_RESULTS_DIR`), then runs `task_workers bench RUNS`: RUNS
`noop::delay(i)` at once, each awaited for its value. Reports the sender's JSON line (runs/s, and
send → value latency p50/p99), then checks the queue: every run `done`, each claimed exactly once
(a run executed twice would have been claimed twice), and the values were each run's own (the
sender checks).

Usage (from the repository root, after `cargo build --release -p flowcore --example task_workers`):

  benches/scale/task_workers.py --runs 100000 --workers 4

Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and `createdb`/`dropdb`/`psql`. Exits 0 when every
run ran exactly once.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "examples", "task_workers")
sys.path.insert(0, os.path.join(ROOT, "benches", "common"))
from flowcore_api import stop_and_clean  # noqa: E402


def psql(db, sql):
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-At", "-c", sql],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100000)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--limit", type=int, default=50, help="runs at once per worker")
    args = ap.parse_args()
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: cargo build --release -p flowcore --example task_workers")
    db = f"flowcore_tw_{uuid.uuid4().hex[:12]}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db], check=True)
    tmp = tempfile.mkdtemp(prefix="flowcore-tw-")
    env = dict(os.environ)
    env.pop("FLOWCORE_API_URL", None)
    env.update({
        "FLOWCORE_DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db}",
        "FLOWCORE_RESULTS_DIR": os.path.join(tmp, "results"),
        "FLOWCORE_HOME": os.path.join(tmp, "home"),
        "FLOWCORE_LOGGING_LEVEL": "WARNING",
    })
    workers = []
    try:
        for w in range(args.workers):
            workers.append(subprocess.Popen(
                [BIN, "serve", str(args.limit)], env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if w == 0:
                time.sleep(1.5)  # the first one creates the schema: one migration, not four
        time.sleep(1.0)
        out = subprocess.run([BIN, "bench", str(args.runs)], env=env, check=True,
                             capture_output=True, text=True).stdout
        line = [l for l in out.splitlines() if l.startswith("{")][-1]
        result = json.loads(line)
        rows = psql(db, "SELECT status, claims, COUNT(*) FROM task_queue GROUP BY status, claims")
        counts = {}
        for row in rows.splitlines():
            status, claims, n = row.split("|")
            counts[f"{status}/claims={claims}"] = int(n)
        result["workers"] = args.workers
        result["queue"] = counts
        expected = {"done/claims=1": args.runs}
        result["each_exactly_once"] = counts == expected
        print(json.dumps(result))
        return 0 if result["each_exactly_once"] else 1
    finally:
        stop_and_clean(workers, tmp, keep=False, db_name=db)


if __name__ == "__main__":
    sys.exit(main())
