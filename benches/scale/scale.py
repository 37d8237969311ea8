#!/usr/bin/env python3
"""Scale-out benchmark: several flowcore servers and agents on one PostgreSQL database.

Starts SERVERS `flowcore server start` processes on one fresh PostgreSQL database and AGENTS
`flowcore agent start` processes (each given every server's URL, in a rotated order: `api-url` as a
comma-separated list), applies a deployment of a no-op flow (the `chaos` flow of
`flowcore/examples/deployed_flows.rs` with one 0 ms step: each execution appends its flow run id
to a file), then creates RUNS due runs through the servers, round-robin, as fast as it can. It
waits until every run is final and reports:

  * runs executed exactly once (the ids in the `ran` file against the runs' final states);
  * throughput: runs Completed per second, from the first run's creation to the last one's end;
  * due → Running latency (start time − expected start time) p50 / p99;
  * with --kill: one server (the one running the background services) and one agent are kill -9'd
    half-way: nothing lost (every run final), nothing stuck, how long until another server ran
    the services (polled on `/api/health`), and how many runs ended Crashed (those the killed
    agent's processes were running: they die with it, as they should).

Usage (from the repository root, after `cargo build --release -p flowcore --all-features --bin
flowcore --example deployed_flows`):

  benches/scale/scale.py --runs 5000
  benches/scale/scale.py --runs 5000 --kill
  benches/scale/scale.py --runs 300 --rate 10      # latency while the agents keep up

Needs PostgreSQL on 127.0.0.1:5432 (trust auth) and `createdb`/`dropdb` (postgresql-client). Exits 0
when every run executed at most once and none is left non-final, 1 otherwise. Prints a JSON summary.
"""

import argparse
import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
from datetime import datetime

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
sys.path.insert(0, os.path.join(ROOT, "benches", "common"))
from flowcore_api import all_flow_runs, executions_by_run, free_port, percentile, request, stop_and_clean  # noqa: E402


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Scale:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="flowcore-scale-")
        self.bin = os.path.join(ROOT, args.target, "flowcore")
        self.flows = os.path.join(ROOT, args.target, "examples", "deployed_flows")
        for path in (self.bin, self.flows):
            if not os.path.exists(path):
                sys.exit(f"{path} is missing: cargo build --release -p flowcore --all-features "
                         "--bin flowcore --example deployed_flows")
        self.db_name = f"scale_{os.getpid()}_{int(time.time())}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", self.db_name], check=True)
        self.database = f"postgres://postgres@127.0.0.1:5432/{self.db_name}"
        self.ports = [free_port() for _ in range(args.servers)]
        self.apis = [f"http://127.0.0.1:{p}/api" for p in self.ports]
        self.servers = {}
        self.agents = {}
        self.ran = os.path.join(self.tmp, "ran")

    def env(self, home, api):
        env = dict(os.environ)
        env.update({"FLOWCORE_HOME": os.path.join(self.tmp, home), "FLOWCORE_API_URL": api,
                    "FLOWCORE_LOGGING_LEVEL": "warning"})
        for var in ("FLOWCORE_RECORD", "FLOWCORE_DATABASE_URL"):
            env.pop(var, None)
        return env

    def log(self, name):
        return open(os.path.join(self.tmp, f"{name}.log"), "ab")

    def start_server(self, i):
        self.servers[i] = subprocess.Popen(
            [self.bin, "server", "start", "--port", str(self.ports[i]), "--database-url",
             self.database, "--heartbeat-timeout", f"{self.args.heartbeat_timeout}s",
             "--log-level", "warning"],
            env=self.env(f"server-{i}", self.apis[i]), stdout=self.log(f"server-{i}"),
            stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                return self.request(i, "GET", "/health")
            except OSError:
                time.sleep(0.05)
        sys.exit(f"server {i} did not start: see {self.tmp}/server-{i}.log")

    def start_agent(self, i):
        n = len(self.apis)
        urls = ",".join(self.apis[(i + k) % n] for k in range(n))
        self.agents[i] = subprocess.Popen(
            [self.bin, "agent", "start", "default", "--poll-interval", "1", "--limit",
             str(self.args.agent_limit)],
            env=self.env(f"agent-{i}", urls), stdout=self.log(f"agent-{i}"),
            stderr=subprocess.STDOUT)

    def request(self, i, method, path, body=None):
        return request(self.apis[i], method, path, body, timeout=60)

    def live_servers(self):
        return [i for i, p in self.servers.items() if p.poll() is None]

    def call(self, path, method="GET", body=None, prefer=0):
        """Calls any live server, `prefer` first. A write goes to the next server only when the
        connection was refused (as flowcore's clients do): one whose answer was lost may have been
        applied, and is not sent twice."""
        live = self.live_servers()
        order = sorted(live, key=lambda i: (i - prefer) % len(self.apis))
        error = None
        for i in order:
            try:
                return self.request(i, method, path, body)
            except (OSError, urllib.error.URLError) as e:
                refused = isinstance(e, ConnectionRefusedError) or isinstance(
                    getattr(e, "reason", None), ConnectionRefusedError)
                if method != "GET" and not refused:
                    raise
                error = e
        raise error

    def leader(self):
        for i in self.live_servers():
            try:
                if self.request(i, "GET", "/health").get("services"):
                    return i
            except (OSError, urllib.error.URLError):
                continue
        return None

    def watch_failover(self, killed):
        """Polls the live servers' health from the kill on; notes when one runs the services."""
        while time.time() - killed["at"] < 120:
            if self.leader() is not None:
                killed["failover_s"] = round(time.time() - killed["at"], 2)
                return
            time.sleep(0.1)

    def all_runs(self):
        return all_flow_runs(self.call)

    def run(self):
        a = self.args
        for i in range(a.servers):
            self.start_server(i)
        deployment = self.call("/deployments", "POST", {
            "flow_name": "chaos", "name": "scale", "entrypoint": {"exe": self.flows, "args": []},
            "parameters": {"tasks": 1, "step_ms": 0, "ran_file": self.ran}})["id"]
        for i in range(a.agents):
            self.start_agent(i)
        time.sleep(1)
        created_at = time.time()
        killed = {}
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            futures = []
            for k in range(a.runs):
                if a.rate:
                    # Paced: the latency of a run created while the agents keep up.
                    time.sleep(max(0.0, created_at + k / a.rate - time.time()))
                futures.append(
                    pool.submit(self.call, f"/deployments/{deployment}/runs", "POST", {}, k))
            lost = 0
            for k, f in enumerate(futures):
                try:
                    f.result()
                except (OSError, urllib.error.URLError):
                    lost += 1  # sent to the server killed mid-request: may or may not exist
                if a.kill and k == a.runs // 2 and not killed:
                    leader = self.leader()
                    victim = leader if leader is not None else 0
                    self.servers[victim].send_signal(signal.SIGKILL)
                    self.servers[victim].wait()
                    self.agents[0].send_signal(signal.SIGKILL)
                    self.agents[0].wait()
                    killed = {"server": victim, "at": time.time(), "was_leader": leader == victim}
                    watcher = threading.Thread(target=self.watch_failover, args=(killed,))
                    watcher.start()
        created_s = time.time() - created_at
        if killed:
            killed["creations_cut_off"] = lost
        if killed:
            watcher.join()
        # Every run final (a killed agent's runs end Crashed after the heartbeat timeout).
        deadline = time.time() + a.timeout
        while True:
            runs = self.all_runs()
            waiting = [r for r in runs if r["state"]["type"] not in FINAL]
            if not waiting or time.time() > deadline:
                break
            time.sleep(1)
        return self.report(runs, waiting, created_at, created_s, killed)

    def report(self, runs, waiting, created_at, created_s, killed):
        counts = executions_by_run(self.ran)
        twice = [r for r, n in counts.items() if n > 1]
        states = {}
        for r in runs:
            states[r["state"]["name"]] = states.get(r["state"]["name"], 0) + 1
        completed = [r for r in runs if r["state"]["type"] == "COMPLETED"]
        not_run = [r["id"] for r in completed if r["id"] not in counts]
        latencies = [parse_time(r["start_time"]) - parse_time(r["expected_start_time"])
                     for r in runs if r.get("start_time") and r.get("expected_start_time")]
        ends = [parse_time(r["end_time"]) for r in completed if r.get("end_time")]
        span = (max(ends) - created_at) if ends else None
        summary = {
            "servers": self.args.servers, "agents": self.args.agents, "runs": len(runs),
            "states": states, "executions": sum(counts.values()), "executed_twice": len(twice),
            "completed_without_execution": len(not_run), "left_non_final": len(waiting),
            "created_in_s": round(created_s, 2),
            "runs_per_s": round(len(completed) / span, 1) if span else None,
            "due_to_running_p50_s": round(percentile(latencies, 50), 3) if latencies else None,
            "due_to_running_p99_s": round(percentile(latencies, 99), 3) if latencies else None,
        }
        if killed:
            summary["killed"] = killed
        print(json.dumps(summary, indent=2))
        return not twice and not waiting and not not_run

    def stop(self):
        stop_and_clean(list(self.agents.values()) + list(self.servers.values()), self.tmp,
                       self.args.keep, self.db_name)

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--servers", type=int, default=3)
    p.add_argument("--agents", type=int, default=6)
    p.add_argument("--runs", type=int, default=5000)
    p.add_argument("--agent-limit", type=int, default=8, help="runs at once per agent")
    p.add_argument("--rate", type=float, default=0,
                   help="runs created per second (default: as fast as the servers take them)")
    p.add_argument("--kill", action="store_true", help="kill -9 a server and an agent half-way")
    p.add_argument("--heartbeat-timeout", type=int, default=10)
    p.add_argument("--timeout", type=int, default=1800, help="seconds to wait for every run")
    p.add_argument("--target", default="target/release")
    p.add_argument("--keep", action="store_true", help="keep the logs")
    args = p.parse_args()
    scale = Scale(args)
    try:
        ok = scale.run()
    finally:
        scale.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
