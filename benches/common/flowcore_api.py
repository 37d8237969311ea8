"""What the benchmark scripts (chaos, scale) share: a free port, calls to a flowcore server's API,
and every flow run of the record, page by page."""

import json
import socket
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
