#!/usr/bin/env python3
"""Chaos test: a flowcore server and two agents, flows and deployment runs, and kill -9 at random.

Each round starts flow processes of its own (the `chaos` flow of `flowcore/examples/deployed_flows.rs`,
run directly and reporting to the server) and asks for deployment runs (the same flow, started by the
two agents), then, at random moments, kill -9s the server (restarted after a moment, same database),
an agent (restarted), a deployment run's process and one of its own flow processes. When the rounds are over and the dust has
settled (the server's heartbeat timeout), it checks the invariants:

  1. every task run of every direct flow process that exited 0 is stored, with its flow run Completed
     (what a process kept in its outbox while the server was down arrives through the next process);
  2. no flow run or task run is left non-final (a killed process's run ends Crashed once its
     heartbeats stop — the agent's for a deployment run, the process's own for a direct one);
  3. no final state is ever followed by another, in any run's history;
  4. every deployment run's flow executed at most once (one line per execution in `ran` files).

Usage (from the repository root, after `cargo build -p flowcore --all-features --bin flowcore
--example deployed_flows`):

  benches/chaos/chaos.py --store sqlite --rounds 3
  benches/chaos/chaos.py --store postgres --rounds 20 --seed 7

Exits 0 when every invariant holds, 1 otherwise (naming what broke); prints what it did and the counts.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
sys.path.insert(0, os.path.join(ROOT, "benches", "common"))
from flowcore_api import all_flow_runs, free_port, request  # noqa: E402


class Chaos:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.tmp = tempfile.mkdtemp(prefix="flowcore-chaos-")
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.bin = os.path.join(ROOT, args.target, "flowcore")
        self.flows = os.path.join(ROOT, args.target, "examples", "deployed_flows")
        for path in (self.bin, self.flows):
            if not os.path.exists(path):
                sys.exit(f"{path} is missing: cargo build -p flowcore --all-features --bin flowcore "
                         "--example deployed_flows")
        self.database = self.make_database()
        self.server = None
        self.agents = {}
        self.direct = []  # (process, ran file)
        self.kills = {"server": 0, "agent": 0, "run process": 0, "flow process": 0}
        self.ran_files = []

    # --- processes -------------------------------------------------------------------------

    def env(self, home):
        env = dict(os.environ)
        env.update({"FLOWCORE_HOME": os.path.join(self.tmp, home), "FLOWCORE_API_URL": self.api,
                    "FLOWCORE_LOGGING_LEVEL": "warning"})
        env.pop("FLOWCORE_RECORD", None)
        env.pop("FLOWCORE_DATABASE_URL", None)
        return env

    def log(self, name):
        return open(os.path.join(self.tmp, f"{name}.log"), "ab")

    def make_database(self):
        if self.args.store == "sqlite":
            return f"sqlite://{self.tmp}/chaos.db?mode=rwc"
        name = f"chaos_{os.getpid()}_{int(time.time())}"
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
        self.pg_name = name
        return f"postgres://postgres@127.0.0.1:5432/{name}"

    def start_server(self):
        self.server = subprocess.Popen(
            [self.bin, "server", "start", "--port", str(self.port), "--database-url", self.database,
             "--heartbeat-timeout", f"{self.args.heartbeat_timeout}s", "--log-level", "warning"],
            env=self.env("server-home"), stdout=self.log("server"), stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                self.get("/health")
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("the server did not start: see " + os.path.join(self.tmp, "server.log"))

    def start_agent(self, name):
        self.agents[name] = subprocess.Popen(
            [self.bin, "agent", "start", "default", "--poll-interval", "0.3"],
            env=self.env(f"{name}-home"), stdout=self.log(name), stderr=subprocess.STDOUT)

    def kill(self, process):
        try:
            process.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def run_processes(self):
        """The deployment runs' processes (children of the agents) alive now."""
        agents = {str(p.pid) for p in self.agents.values()}
        found = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
                parent = stat.rsplit(")", 1)[1].split()[1]
                if parent in agents and os.readlink(f"/proc/{pid}/exe").endswith("deployed_flows"):
                    found.append(int(pid))
            except (OSError, IndexError):
                continue
        return found

    # --- the API -----------------------------------------------------------------------------

    def request(self, method, path, body=None):
        return request(self.api, method, path, body)

    def get(self, path):
        return self.request("GET", path)

    def all_flow_runs(self):
        return all_flow_runs(self.get)

    # --- the rounds ----------------------------------------------------------------------------

    def deploy(self):
        ran = os.path.join(self.tmp, "ran-deployed")
        self.ran_files.append(ran)
        deployment = self.request("POST", "/deployments", {
            "flow_name": "chaos", "name": "chaos", "entrypoint": {"exe": self.flows, "args": []},
            "parameters": {"tasks": self.args.tasks, "step_ms": self.args.step_ms, "ran_file": ran}})
        return deployment["id"]

    def round(self, n, deployment):
        # Work: direct flow processes and deployment runs.
        for i in range(self.args.direct):
            ran = os.path.join(self.tmp, f"ran-direct-{n}-{i}")
            process = subprocess.Popen(
                [self.flows, "chaos", str(self.args.tasks), str(self.args.step_ms), ran],
                env=self.env("direct-home"), stdout=subprocess.PIPE, stderr=self.log("direct"))
            self.direct.append((process, ran))
        for _ in range(self.args.deployed):
            self.call(lambda: self.request("POST", f"/deployments/{deployment}/runs", {}))
        # Chaos, at random moments of the round.
        events = sorted((self.rng.uniform(0, self.args.round_seconds), what)
                        for what in ("server", "agent", "run process", "flow process"))
        started = time.time()
        for at, what in events:
            time.sleep(max(0.0, started + at - time.time()))
            if what == "server":
                self.kill(self.server)
                time.sleep(self.rng.uniform(0.2, 2.0))
                self.start_server()
            elif what == "agent":
                name = self.rng.choice(sorted(self.agents))
                self.kill(self.agents[name])
                self.start_agent(name)
            elif what == "run process":
                pids = self.run_processes()
                if not pids:
                    continue
                os.kill(self.rng.choice(pids), signal.SIGKILL)
            else:
                alive = [p for p, _ in self.direct if p.poll() is None]
                if not alive:
                    continue
                self.kill(self.rng.choice(alive))
            self.kills[what] += 1
        time.sleep(max(0.0, started + self.args.round_seconds - time.time()))

    def call(self, f):
        """Calls the API, waiting out a server restart."""
        deadline = time.time() + 30
        while True:
            try:
                return f()
            except (OSError, urllib.error.URLError):
                if time.time() > deadline:
                    raise
                time.sleep(0.2)

    # --- the invariants ------------------------------------------------------------------------

    def check(self):
        broken = []
        # Direct processes end; then one more sends what the others kept in their outbox.
        finished = []
        for process, ran in self.direct:
            out, _ = process.communicate(timeout=300)
            if process.returncode == 0:
                run_id, tasks = out.decode().split()
                finished.append((run_id, int(tasks)))
            self.ran_files.append(ran)
        last = os.path.join(self.tmp, "ran-last")
        out = subprocess.run([self.flows, "chaos", "1", "0", last], env=self.env("direct-home"),
                             stdout=subprocess.PIPE, stderr=self.log("direct"), check=True).stdout
        finished.append((out.decode().split()[0], 1))
        self.ran_files.append(last)

        # The dust settles: every run ends (its process, its agent, or the heartbeat timeout).
        deadline = time.time() + self.args.heartbeat_timeout + 30
        while True:
            runs = self.all_flow_runs()
            open_runs = [r for r in runs if r["state"]["type"] not in FINAL]
            if not open_runs or time.time() > deadline:
                break
            time.sleep(1)
        for r in runs:
            if r["state"]["type"] not in FINAL:
                broken.append(f"flow run {r['id']} ({r['name']}) left {r['state']['name']}")

        # 1. Every task run of a finished direct process is stored, its flow run Completed.
        by_id = {r["id"]: r for r in runs}
        for run_id, tasks in finished:
            run = by_id.get(run_id)
            if run is None:
                broken.append(f"direct flow run {run_id} is not stored")
                continue
            if run["state"]["type"] != "COMPLETED":
                broken.append(f"direct flow run {run_id} is {run['state']['name']}, not Completed")
            stored = self.get(f"/flow_runs/{run_id}/task_runs")["count"]
            if stored != tasks:
                broken.append(f"direct flow run {run_id}: {stored} of {tasks} task runs stored")

        # 2 and 3. Histories: nothing after a final state; task runs final too.
        task_runs = 0
        for r in runs:
            history = self.get(f"/flow_runs/{r['id']}/states")
            broken += after_final(f"flow run {r['id']}", history)
            for t in self.get(f"/flow_runs/{r['id']}/task_runs")["results"]:
                task_runs += 1
                if t["state"]["type"] not in FINAL:
                    broken.append(f"task run {t['id']} ({t['name']}) left {t['state']['name']}")
                broken += after_final(f"task run {t['id']}",
                                      self.get(f"/task_runs/{t['id']}/states"))

        # 4. Each flow run executed at most once.
        executions = {}
        for path in self.ran_files:
            if os.path.exists(path):
                for line in open(path).read().split():
                    executions[line] = executions.get(line, 0) + 1
        for run_id, count in executions.items():
            if count > 1:
                broken.append(f"flow run {run_id} executed {count} times")
        deployed = [r for r in runs if r.get("deployment_id")]
        return broken, {
            "flow runs": len(runs), "deployment runs": len(deployed),
            "direct runs finished": len(finished), "task runs": task_runs,
            "final states": count_by(runs), "kills": self.kills}

    def run(self):
        print(f"chaos: {self.args.store}, {self.args.rounds} rounds, seed {self.args.seed}, "
              f"logs in {self.tmp}", flush=True)
        started = time.time()
        self.start_server()
        deployment = self.deploy()
        for name in ("agent-a", "agent-b"):
            self.start_agent(name)
        for n in range(self.args.rounds):
            self.round(n, deployment)
            print(f"  round {n + 1}: kills so far {self.kills}", flush=True)
        broken, counts = self.check()
        print(f"  {json.dumps(counts)}")
        print(f"  {time.time() - started:.0f} s")
        return broken

    def close(self):
        for process in [*self.agents.values(), self.server]:
            if process is not None:
                self.kill(process)
        if self.args.store == "postgres":
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists",
                            self.pg_name], check=False)
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def after_final(what, history):
    for i, state in enumerate(history[:-1]):
        if state["type"] in FINAL:
            later = [s["name"] for s in history[i + 1:]]
            return [f"{what}: {state['name']} followed by {', '.join(later)}"]
    return []


def count_by(runs):
    counts = {}
    for r in runs:
        counts[r["state"]["name"]] = counts.get(r["state"]["name"], 0) + 1
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--direct", type=int, default=2, help="direct flow processes per round")
    parser.add_argument("--deployed", type=int, default=3, help="deployment runs per round")
    parser.add_argument("--tasks", type=int, default=100, help="tasks per flow run")
    parser.add_argument("--step-ms", type=int, default=20, help="each task's sleep")
    parser.add_argument("--round-seconds", type=float, default=4.0)
    parser.add_argument("--heartbeat-timeout", type=int, default=5)
    parser.add_argument("--target", default="target/debug")
    parser.add_argument("--keep", action="store_true", help="keep the logs and databases")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = random.randrange(1 << 30)
    chaos = Chaos(args)
    try:
        broken = chaos.run()
    finally:
        chaos.close()
    if broken:
        print(f"chaos: {len(broken)} invariant(s) broken (seed {args.seed}):")
        for b in broken[:50]:
            print("  " + b)
        sys.exit(1)
    print("chaos: every invariant holds")


if __name__ == "__main__":
    main()
