"""What the benchmark scripts (chaos, scale) share: a free port, calls to a flowcore server's API,
and every flow run of the record, page by page."""

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request


def free_port():
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(api, method, path, body=None, timeout=30):
    """Calls `{api}{path}` with a JSON body; returns the decoded JSON answer (raises on an error)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(api + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def all_flow_runs(get):
    """Every flow run, oldest first, through `get(path)` (1,000 per page)."""
    runs, offset = [], 0
    while True:
        page = get(f"/flow_runs?limit=1000&offset={offset}&sort=oldest")
        runs += page["results"]
        offset += len(page["results"])
        if not page["results"] or offset >= page["count"]:
            return runs


def percentile(values, p):
    """The p-th percentile (nearest rank) of values, None when there are none."""
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def stop_and_clean(procs, tmp, keep, db_name=None):
    """Terminates procs (SIGTERM, then SIGKILL after 20 s), drops db_name if any, removes tmp
    unless keep."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    if db_name:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", db_name],
                       check=False)
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        print(f"logs kept in {tmp}", file=sys.stderr)


def executions_by_run(ran_file):
    """How many times each run id was noted in ran_file (one id per line; missing file: none)."""
    counts = {}
    if os.path.exists(ran_file):
        with open(ran_file) as f:
            for run_id in (line.strip() for line in f):
                if run_id:
                    counts[run_id] = counts.get(run_id, 0) + 1
    return counts
