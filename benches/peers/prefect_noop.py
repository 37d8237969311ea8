#!/usr/bin/env python3
"""Per-task orchestration overhead of Prefect: one flow running N no-op tasks.

The peer of flowcore's `overhead` example (see compare.sh):
  --mode seq     calls the task N times, one after the other (each call waits for its result);
  --mode submit  submits all N with .submit() to the flow's default task runner, then waits for all.

Runs against a local, ephemeral Prefect setup with no server to configure: PREFECT_API_URL is
removed from the environment and PREFECT_HOME points at a fresh temporary folder (both before
prefect is imported), so Prefect starts its own temporary API with a throw-away database.
--quiet sets PREFECT_LOGGING_LEVEL=WARNING, so neither side pays for per-task INFO log lines.

A warm-up flow with one task runs first (it starts the ephemeral API, creates the database and
imports the lazy modules); wall_s times only the measured flow call, flow-run creation included.

Prints one JSON object {"tasks","mode","wall_s","us_per_task", ...} and writes it to --json OUT.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=1000, help="number of no-op tasks (default 1000)")
    ap.add_argument("--mode", choices=("seq", "submit"), default="seq")
    ap.add_argument("--quiet", action="store_true", help="PREFECT_LOGGING_LEVEL=WARNING (fair against a quiet peer)")
    ap.add_argument("--no-warmup", action="store_true", help="time the first flow call too (ephemeral API start-up)")
    ap.add_argument("--keep-home", action="store_true", help="keep the temporary PREFECT_HOME (printed on stderr)")
    ap.add_argument("--json", metavar="OUT", help="also write the JSON result to this file")
    args = ap.parse_args(argv)
    if args.tasks < 1:
        ap.error("--tasks must be >= 1")
    return args


def isolate_prefect(quiet: bool) -> str:
    """Point Prefect at a throw-away home with no API server; must run before `import prefect`."""
    for var in ("PREFECT_API_URL", "PREFECT_API_KEY", "PREFECT_PROFILE", "PREFECT_PROFILES_PATH"):
        os.environ.pop(var, None)
    home = tempfile.mkdtemp(prefix="prefect-noop-")
    os.environ["PREFECT_HOME"] = home
    os.environ["PREFECT_PROFILES_PATH"] = str(Path(home) / "profiles.toml")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
    # The default 20 s is too short for a first start (database migrations) on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")
    if quiet:
        os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    return home


def main(argv=None) -> int:
    args = parse_args(argv)
    home = isolate_prefect(args.quiet)
    # Remove the temporary home at exit. Registered before prefect is imported, so it runs after
    # prefect's own atexit hook has stopped the ephemeral API subprocess that uses the database there.
    if args.keep_home:
        atexit.register(print, f"prefect_noop: PREFECT_HOME kept at {home}", file=sys.stderr)
    else:
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    t_import = time.perf_counter()
    import prefect
    from prefect import flow, task
    from prefect.futures import wait

    import_s = time.perf_counter() - t_import

    @task
    def noop(i: int) -> int:
        return i

    @flow
    def noop_flow(n: int, mode: str) -> None:
        if mode == "seq":
            for i in range(n):
                noop(i)
        else:
            futures = [noop.submit(i) for i in range(n)]
            wait(futures)
            for fut in futures:
                fut.result()  # raise if any task failed


    warmup_s = 0.0
    if not args.no_warmup:
        t0 = time.perf_counter()
        noop_flow(1, args.mode)
        warmup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    state = noop_flow(args.tasks, args.mode, return_state=True)
    wall_s = time.perf_counter() - t0
    if not state.is_completed():
        print(f"prefect_noop: flow ended in state {state.type}: {state.message}", file=sys.stderr)
        return 1

    result = {
        "tasks": args.tasks,
        "mode": args.mode,
        "wall_s": wall_s,
        "us_per_task": wall_s / args.tasks * 1e6,
        "state": "Completed",
        "warmup_s": warmup_s,
        "import_s": import_s,
        "quiet": args.quiet,
        "prefect": prefect.__version__,
    }
    text = json.dumps(result)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
