#!/usr/bin/env python3
"""Prefect 3's deployments and workers in the shape of benches/scale/scale.py.

Starts one `prefect server start` (its default SQLite database in a throwaway PREFECT_HOME, or with
--postgres a fresh PostgreSQL database through asyncpg, dropped afterwards), creates a `process`
work pool and a deployment of a no-op flow (each execution appends its flow run id to a `ran` file,
like scale.py's `chaos` flow with one 0 ms step), starts WORKERS `prefect worker start --pool NAME`
processes (the peers of scale.py's agents, each with --limit WORKER_LIMIT runs at once, default 8
like the agents' --limit), waits until they all polled once, then creates RUNS flow runs through the
API (`create_flow_run_from_deployment`, 8 at a time, as fast as the server takes them, or paced at
--rate R per second). It waits until every run is final (or --timeout) and reports, like scale.py:

  * runs executed exactly once (the ids in the `ran` file against the runs' final states);
  * throughput: runs Completed per second, from the first run's creation to the last one's end;
  * scheduled (expected start) -> Running latency (start_time - expected_start_time) p50 / p99.

The workers run with PREFECT_WORKER_QUERY_SECONDS=1 (Prefect's default is 10 s), so they poll the
server every second like flowcore's agents fall back to (their --poll-interval 1): the latency is
not Prefect's default one. The process worker starts one Python process per flow run
(`python -m prefect.engine`), so on a small machine the flow-run processes dominate.

Usage (with the peers' venv, see README.md):

  benches/peers/.venv/bin/python benches/peers/prefect_deployments.py --runs 200 --workers 6
  benches/peers/.venv/bin/python benches/peers/prefect_deployments.py --runs 60 --rate 2
  benches/peers/.venv/bin/python benches/peers/prefect_deployments.py --runs 200 --postgres

--postgres needs PostgreSQL on 127.0.0.1:5432 (trust auth), `createdb`/`dropdb` and asyncpg (a
dependency of prefect). Exits 0 when every run executed at most once and none is left non-final,
1 otherwise. Prints one JSON line with "peer": "prefect".
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from flowcore_api import executions_by_run, free_port, percentile, stop_and_clean  # noqa: E402

FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
POOL = "bench"

FLOW = '''
from prefect import flow
from prefect.runtime import flow_run


@flow
def noop(ran_file: str):
    with open(ran_file, "a") as f:
        f.write(f"{flow_run.id}\\n")
'''


class Bench:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="prefect-deployments-")
        self.port = args.port or free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.ran = os.path.join(self.tmp, "ran")
        self.db_name = None
        self.procs = []
        self.env = dict(os.environ)
        for var in list(self.env):
            if var.startswith("PREFECT_"):
                del self.env[var]
        self.env.update({
            "PREFECT_HOME": os.path.join(self.tmp, "home"), "PREFECT_API_URL": self.api,
            "PREFECT_LOGGING_LEVEL": "WARNING", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false", "PREFECT_WORKER_QUERY_SECONDS": "1",
        })
        if args.postgres:
            self.db_name = f"prefect_deployments_{os.getpid()}_{int(time.time())}"
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", self.db_name],
                           check=True)
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
                f"postgresql+asyncpg://postgres@127.0.0.1:5432/{self.db_name}")
        # The client in this process reads the same settings; set them before importing prefect.
        os.environ.clear()
        os.environ.update(self.env)

    def log(self, name):
        return open(os.path.join(self.tmp, f"{name}.log"), "ab")

    def spawn(self, name, argv):
        p = subprocess.Popen([sys.executable, "-m", "prefect"] + argv, env=self.env,
                             cwd=self.tmp, stdout=self.log(name), stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def start_server(self):
        server = self.spawn("server", ["server", "start", "--host", "127.0.0.1", "--port",
                                       str(self.port)])
        deadline = time.time() + 180
        while time.time() < deadline:
            if server.poll() is not None:
                sys.exit(f"the server exited: see {self.tmp}/server.log")
            try:
                urllib.request.urlopen(f"{self.api}/health", timeout=2)
                return
            except Exception:
                time.sleep(0.2)
        sys.exit(f"the server did not start: see {self.tmp}/server.log")

    async def setup(self):
        from prefect.client.orchestration import get_client
        subprocess.run([sys.executable, "-m", "prefect", "work-pool", "create", POOL, "--type",
                        "process"], env=self.env, cwd=self.tmp, check=True,
                       stdout=self.log("setup"), stderr=subprocess.STDOUT)
        flow_dir = os.path.join(self.tmp, "flows")
        os.makedirs(flow_dir)
        with open(os.path.join(flow_dir, "noop_flow.py"), "w") as f:
            f.write(FLOW)
        async with get_client() as client:
            flow_id = await client.create_flow_from_name("noop")
            return await client.create_deployment(
                flow_id=flow_id, name="scale", work_pool_name=POOL,
                entrypoint="noop_flow.py:noop", path=flow_dir,
                pull_steps=[{"prefect.deployments.steps.set_working_directory":
                             {"directory": flow_dir}}],
                parameters={"ran_file": self.ran})

    async def wait_for_workers(self):
        from prefect.client.orchestration import get_client
        deadline = time.time() + 180
        async with get_client() as client:
            while time.time() < deadline:
                workers = await client.read_workers_for_work_pool(POOL)
                if len(workers) >= self.args.workers:
                    return
                if any(p.poll() is not None for p in self.procs):
                    sys.exit(f"a worker or the server exited: see {self.tmp}/*.log")
                await asyncio.sleep(0.5)
        sys.exit(f"the workers did not all poll within 180 s: see {self.tmp}/worker-*.log")

    async def create_runs(self, deployment_id):
        from prefect.client.orchestration import get_client
        a = self.args
        gate = asyncio.Semaphore(8)
        failed = []
        async with get_client() as client:
            created_at = time.time()

            async def create(k):
                if a.rate:
                    # Paced: the latency of a run created while the workers keep up.
                    await asyncio.sleep(max(0.0, created_at + k / a.rate - time.time()))
                async with gate:
                    try:
                        await client.create_flow_run_from_deployment(deployment_id)
                    except Exception as e:  # noqa: BLE001 - counted and reported
                        failed.append(repr(e))

            await asyncio.gather(*(create(k) for k in range(a.runs)))
            return created_at, time.time() - created_at, failed

    async def all_runs(self, deployment_id):
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
        runs = []
        async with get_client() as client:
            while True:
                page = await client.read_flow_runs(
                    deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
                    limit=200, offset=len(runs))
                runs.extend(page)
                if len(page) < 200:
                    return runs

    async def run(self):
        a = self.args
        self.start_server()
        deployment_id = await self.setup()
        for i in range(a.workers):
            self.spawn(f"worker-{i}", ["worker", "start", "--pool", POOL, "--type", "process",
                                       "--name", f"worker-{i}", "--limit", str(a.worker_limit)])
        self.load_start = os.getloadavg()[0]
        started = time.time()
        await self.wait_for_workers()
        workers_up_s = time.time() - started
        created_at, created_s, failed = await self.create_runs(deployment_id)
        deadline = time.time() + a.timeout
        while True:
            runs = await self.all_runs(deployment_id)
            waiting = [r for r in runs if r.state is None or r.state.type.value not in FINAL]
            if not waiting or time.time() > deadline:
                break
            await asyncio.sleep(1)
        return self.report(runs, waiting, created_at, created_s, failed, workers_up_s)

    def report(self, runs, waiting, created_at, created_s, failed, workers_up_s):
        counts = executions_by_run(self.ran)
        twice = [r for r, n in counts.items() if n > 1]
        states = {}
        for r in runs:
            name = r.state.name if r.state else "None"
            states[name] = states.get(name, 0) + 1
        completed = [r for r in runs if r.state and r.state.type.value == "COMPLETED"]
        not_run = [r.id for r in completed if str(r.id) not in counts]
        latencies = [r.start_time.timestamp() - r.expected_start_time.timestamp()
                     for r in runs if r.start_time and r.expected_start_time]
        ends = [r.end_time.timestamp() for r in completed if r.end_time]
        span = (max(ends) - created_at) if ends else None
        summary = {
            "peer": "prefect", "database": "postgres" if self.args.postgres else "sqlite",
            "servers": 1, "workers": self.args.workers, "worker_limit": self.args.worker_limit,
            "rate": self.args.rate or None, "runs": len(runs), "creations_failed": len(failed),
            "states": states, "executions": sum(counts.values()), "executed_twice": len(twice),
            "completed_without_execution": len(not_run), "left_non_final": len(waiting),
            "workers_up_s": round(workers_up_s, 2), "created_in_s": round(created_s, 2),
            "span_s": round(span, 2) if span else None,
            "runs_per_s": round(len(completed) / span, 2) if span else None,
            "due_to_running_p50_s": round(percentile(latencies, 50), 3) if latencies else None,
            "due_to_running_p99_s": round(percentile(latencies, 99), 3) if latencies else None,
            # The machine's 1-minute load average when the workers started and at the end.
            "load_start": round(self.load_start, 2), "load_end": round(os.getloadavg()[0], 2),
        }
        if failed:
            summary["first_creation_error"] = failed[0][:300]
        print(json.dumps(summary))
        return not twice and not waiting and not not_run and not failed

    def stop(self):
        stop_and_clean(list(reversed(self.procs)), self.tmp, self.args.keep, self.db_name)

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--workers", type=int, default=6, help="worker processes (scale.py's agents)")
    p.add_argument("--worker-limit", type=int, default=8, help="runs at once per worker")
    p.add_argument("--rate", type=float, default=0,
                   help="runs created per second (default: as fast as the server takes them)")
    p.add_argument("--postgres", action="store_true",
                   help="a fresh PostgreSQL database instead of Prefect's default SQLite")
    p.add_argument("--timeout", type=int, default=900, help="seconds to wait for every run")
    p.add_argument("--port", type=int, default=0, help="server port (default: a free one)")
    p.add_argument("--keep", action="store_true", help="keep the logs (and PREFECT_HOME)")
    args = p.parse_args()
    bench = Bench(args)
    try:
        ok = asyncio.run(bench.run())
    finally:
        bench.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
